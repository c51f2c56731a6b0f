#include "manager/api/json_body.h"

#include <fmt/format.h>

#include <charconv>

#include "common/hash.h"
#include "common/text.h"

namespace ward::manager {
namespace {

std::string_view TypeName(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::number_float:
      return "a fractional number";
    default:
      return "a number";
  }
}

std::string_view Expected(JsonType t) {
  switch (t) {
    case JsonType::kString:
      return "a string";
    case JsonType::kInt:
      return "an integer";
    case JsonType::kBool:
      return "true or false";
    case JsonType::kObject:
      return "an object";
    case JsonType::kArray:
      return "an array";
    case JsonType::kTimestamp:
      return "an RFC 3339 timestamp string";
  }
  return "a value";
}

}  // namespace

ApiResult<nlohmann::json> ParseObjectBody(std::string_view body) {
  if (body.empty()) return BadRequest("invalid_json", "body", "body: expected a JSON object");
  if (!IsValidUtf8(body)) return BadRequest("invalid_json", "body", "body: not valid UTF-8");
  // Depth is limited while parsing (a deeply nested document must not exhaust the stack).
  bool too_deep = false;
  auto cb = [&](int d, nlohmann::json::parse_event_t ev, nlohmann::json&) {
    if (ev == nlohmann::json::parse_event_t::object_start ||
        ev == nlohmann::json::parse_event_t::array_start) {
      if (d > 64) too_deep = true;
    }
    return !too_deep;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body, cb, /*allow_exceptions=*/true);
  } catch (const nlohmann::json::parse_error& e) {
    return BadRequest("invalid_json", "body",
                      fmt::format("body: malformed JSON at byte {}", e.byte));
  } catch (const std::exception& e) {
    return BadRequest("invalid_json", "body", "body: malformed JSON");
  }
  if (too_deep) return BadRequest("invalid_json", "body", "body: nested deeper than 64 levels");
  if (!j.is_object()) {
    return BadRequest("invalid_json", "body",
                      fmt::format("body: expected a JSON object, got {}", TypeName(j)));
  }
  return j;
}

std::optional<ApiError> CheckFields(const nlohmann::json& obj,
                                    std::initializer_list<FieldSpec> fields,
                                    std::string_view prefix) {
  if (!obj.is_object()) {
    std::string name = prefix.empty() ? "body" : std::string(prefix.substr(0, prefix.size() - 1));
    return BadRequest("invalid_field", name,
                      fmt::format("{}: expected an object, got {}", name, TypeName(obj)));
  }
  for (const auto& [key, value] : obj.items()) {
    const FieldSpec* spec = nullptr;
    for (const auto& f : fields) {
      if (f.name == key) spec = &f;
    }
    std::string name = fmt::format("{}{}", prefix, LossyUtf8(key));
    if (spec == nullptr) {
      std::string known;
      for (const auto& f : fields) known += fmt::format("{}{}", known.empty() ? "" : ", ", f.name);
      return BadRequest("unknown_field", name,
                        fmt::format("{}: unknown field (expected one of: {})", name, known));
    }
    if (value.is_null()) {
      if (spec->nullable) continue;
      return BadRequest("invalid_field", name,
                        fmt::format("{}: expected {}, got null", name, Expected(spec->type)));
    }
    bool ok = false;
    switch (spec->type) {
      case JsonType::kString:
      case JsonType::kTimestamp:
        ok = value.is_string();
        break;
      case JsonType::kInt:
        ok = value.is_number_integer();
        break;
      case JsonType::kBool:
        ok = value.is_boolean();
        break;
      case JsonType::kObject:
        ok = value.is_object();
        break;
      case JsonType::kArray:
        ok = value.is_array();
        break;
    }
    if (!ok) {
      return BadRequest(
          "invalid_field", name,
          fmt::format("{}: expected {}, got {}", name, Expected(spec->type), TypeName(value)));
    }
    if (spec->type == JsonType::kString) {
      const auto& s = value.get_ref<const std::string&>();
      if (s.find('\0') != std::string::npos) {
        return BadRequest("invalid_field", name, fmt::format("{}: contains a NUL character", name));
      }
      int64_t max = spec->max > 0 ? spec->max : 1024;
      if (static_cast<int64_t>(s.size()) < spec->min) {
        return BadRequest("invalid_field", name,
                          spec->min == 1 ? fmt::format("{}: must not be empty", name)
                                         : fmt::format("{}: shorter than {}", name, spec->min));
      }
      if (static_cast<int64_t>(s.size()) > max) {
        return BadRequest("invalid_field", name,
                          fmt::format("{}: longer than {} bytes", name, max));
      }
    }
    if (spec->type == JsonType::kTimestamp &&
        !ParseTimestamp(value.get_ref<const std::string&>())) {
      return BadRequest("invalid_field", name,
                        fmt::format("{}: expected an RFC 3339 timestamp like "
                                    "2026-11-25T20:50:51Z",
                                    name));
    }
    if (spec->type == JsonType::kInt && (spec->min != 0 || spec->max != 0)) {
      bool in_range = false;
      if (value.is_number_unsigned()) {
        uint64_t u = value.get<uint64_t>();
        in_range = u <= static_cast<uint64_t>(INT64_MAX) && static_cast<int64_t>(u) >= spec->min &&
                   static_cast<int64_t>(u) <= spec->max;
      } else {
        int64_t i = value.get<int64_t>();
        in_range = i >= spec->min && i <= spec->max;
      }
      if (!in_range) {
        return BadRequest("invalid_field", name,
                          fmt::format("{}: must be between {} and {}", name, spec->min, spec->max));
      }
    }
  }
  for (const auto& f : fields) {
    if (f.required && !obj.contains(f.name)) {
      std::string name = fmt::format("{}{}", prefix, f.name);
      return BadRequest("missing_field", name, fmt::format("{}: required", name));
    }
  }
  return std::nullopt;
}

std::optional<ApiError> CheckQuery(const HttpRequest& req,
                                   std::initializer_list<std::string_view> allowed) {
  for (size_t i = 0; i < req.query.size(); ++i) {
    const auto& key = req.query[i].first;
    bool known = false;
    for (auto a : allowed) known |= a == key;
    std::string name = LossyUtf8(key);
    const std::string& value = req.query[i].second;
    if (!IsValidUtf8(value) || value.find('\0') != std::string::npos) {
      return BadRequest("invalid_query", name, fmt::format("{}: not valid UTF-8 text", name));
    }
    if (!known) {
      std::string list;
      for (auto a : allowed) list += fmt::format("{}{}", list.empty() ? "" : ", ", a);
      return BadRequest(
          "invalid_query", name,
          list.empty() ? fmt::format("{}: this endpoint takes no parameters", name)
                       : fmt::format("{}: unknown parameter (expected one of: {})", name, list));
    }
    for (size_t j = 0; j < i; ++j) {
      if (req.query[j].first == key) {
        return BadRequest("invalid_query", name, fmt::format("{}: given more than once", name));
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> QueryParam(const HttpRequest& req, std::string_view name) {
  for (const auto& [k, v] : req.query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

ApiResult<int> ReadLimit(const HttpRequest& req, int def, int max) {
  auto v = QueryParam(req, "limit");
  if (!v) return def;
  int n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || n < 1 || n > max) {
    return BadRequest("invalid_pagination", "limit",
                      fmt::format("limit: expected an integer between 1 and {}", max));
  }
  return n;
}

std::optional<ApiError> ReadTextParam(const HttpRequest& req, const char* name,
                                      std::optional<std::string>& out) {
  auto v = QueryParam(req, name);
  if (!v) return std::nullopt;
  if (v->empty() || v->size() > 256) {
    return BadRequest("invalid_query", name, fmt::format("{}: expected 1..256 bytes", name));
  }
  out = *v;
  return std::nullopt;
}

std::optional<ApiError> ReadOrder(const HttpRequest& req, bool& descending) {
  auto o = QueryParam(req, "order");
  if (!o) return std::nullopt;
  if (*o == "desc") {
    descending = true;
  } else if (*o != "asc") {
    return BadRequest("invalid_query", "order", "order: expected asc or desc");
  }
  return std::nullopt;
}

namespace {
std::string Checksum(std::string_view payload) {
  auto d = Sha256::Of(fmt::format("ward-cursor:{}", payload));
  return ToHex(std::span<const uint8_t>(d.data(), 4));
}
}  // namespace

std::string EncodeCursor(std::chrono::system_clock::time_point t, const std::string& id) {
  int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  std::string payload = fmt::format("{}|{}", ns, id);
  std::string b64 = Base64Encode(fmt::format("{}|{}", payload, Checksum(payload)));
  for (char& c : b64) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return b64;
}

std::optional<std::pair<std::chrono::system_clock::time_point, std::string>> DecodeCursor(
    std::string_view cursor) {
  if (cursor.empty() || cursor.size() > 512) return std::nullopt;
  std::string b64(cursor);
  for (char& c : b64) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/' || c == '=')
      return std::nullopt;
  }
  while (b64.size() % 4 != 0) b64.push_back('=');
  auto raw = Base64Decode(b64);
  if (!raw) return std::nullopt;
  size_t last = raw->rfind('|');
  if (last == std::string::npos) return std::nullopt;
  std::string payload = raw->substr(0, last);
  if (raw->substr(last + 1) != Checksum(payload)) return std::nullopt;
  size_t bar = payload.find('|');
  if (bar == std::string::npos) return std::nullopt;
  int64_t ns = 0;
  auto [p, ec] = std::from_chars(payload.data(), payload.data() + bar, ns);
  if (ec != std::errc() || p != payload.data() + bar) return std::nullopt;
  return std::make_pair(std::chrono::system_clock::time_point(
                            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                std::chrono::nanoseconds(ns))),
                        payload.substr(bar + 1));
}

std::optional<ApiError> ReadCursor(
    const HttpRequest& req,
    std::optional<std::pair<std::chrono::system_clock::time_point, std::string>>& out) {
  auto c = QueryParam(req, "cursor");
  if (!c) return std::nullopt;
  auto decoded = DecodeCursor(*c);
  if (!decoded) {
    return BadRequest("invalid_pagination", "cursor", "cursor: not a cursor this API returned");
  }
  out = std::move(*decoded);
  return std::nullopt;
}

}  // namespace ward::manager
