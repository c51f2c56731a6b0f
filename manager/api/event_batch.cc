#include "manager/api/event_batch.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <unordered_set>

#include "common/text.h"
#include "manager/api/http_types.h"

namespace ward::manager {

Result<std::string> GunzipBounded(std::string_view data, size_t max_out) {
  z_stream zs{};
  // 15 window bits + 32: detect gzip or zlib headers automatically.
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return Internal("inflateInit2 failed");
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  if (data.size() > UINT32_MAX) {
    inflateEnd(&zs);
    return FailedPrecondition("compressed body too large");
  }
  char buf[65536];
  int rc = Z_OK;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    size_t got = sizeof buf - zs.avail_out;
    if (out.size() + got > max_out) {
      inflateEnd(&zs);
      return FailedPrecondition(
          fmt::format("body larger than {} bytes after decompression", max_out));
    }
    out.append(buf, got);
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members (RFC 1952 allows them): continue with the next member.
      if (zs.avail_in > 0) {
        if (inflateReset(&zs) != Z_OK) break;
        continue;
      }
      break;
    }
    if (zs.avail_in == 0 && got == 0) {
      rc = Z_BUF_ERROR;
      break;
    }
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    return InvalidArgument(rc == Z_BUF_ERROR ? "gzip stream truncated" : "not valid gzip data");
  }
  return out;
}

namespace {

const nlohmann::json* Path(const nlohmann::json& doc, std::initializer_list<const char*> keys) {
  const nlohmann::json* n = &doc;
  for (const char* k : keys) {
    if (!n->is_object()) return nullptr;
    auto it = n->find(k);
    if (it == n->end()) return nullptr;
    n = &*it;
  }
  return n;
}

std::string StringAt(const nlohmann::json& doc, std::initializer_list<const char*> keys) {
  const nlohmann::json* n = Path(doc, keys);
  return n != nullptr && n->is_string() ? n->get<std::string>() : std::string();
}

bool ValidEventId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
    if (!ok) return false;
  }
  return true;
}

// The validated line as the stored document, with the manager's agent block appended: the
// agent's own bytes are kept (no second serialisation). Only for a line that is a JSON object
// without an "agent" key (one with its own is re-serialised from the parsed document instead).
std::string WithAgent(std::string_view line, const BatchOwner& owner) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!line.empty() && ws(line.front())) line.remove_prefix(1);
  while (!line.empty() && ws(line.back())) line.remove_suffix(1);
  // A parsed object ends with '}' and is not empty (event.id is required).
  line.remove_suffix(1);
  std::string out;
  out.reserve(line.size() + owner.agent_id.size() + owner.agent_name.size() + 32);
  out.append(line);
  out += ",\"agent\":";
  out += nlohmann::json{{"id", owner.agent_id}, {"name", owner.agent_name}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += '}';
  return out;
}

}  // namespace

Result<StoredEvent> ToStoredEvent(nlohmann::json doc, const BatchOwner& owner) {
  if (!doc.is_object()) return InvalidArgument("expected a JSON object");
  const nlohmann::json* id = Path(doc, {"event", "id"});
  if (id == nullptr || id->is_null()) return InvalidArgument("event.id: missing");
  if (!id->is_string() || !ValidEventId(id->get<std::string>())) {
    return InvalidArgument("event.id: expected 1..64 characters of [0-9A-Za-z-]");
  }
  const nlohmann::json* ts = doc.contains("@timestamp") ? &doc["@timestamp"] : nullptr;
  if (ts == nullptr || ts->is_null()) return InvalidArgument("@timestamp: missing");
  std::optional<TimePoint> when;
  if (ts->is_string()) when = ParseTimestamp(ts->get<std::string>());
  if (!when) return InvalidArgument("@timestamp: expected an RFC 3339 timestamp");
  const nlohmann::json* module = Path(doc, {"event", "module"});
  if (module == nullptr || module->is_null()) return InvalidArgument("event.module: missing");
  if (!module->is_string() || module->get<std::string>().empty() ||
      module->get<std::string>().size() > 64 ||
      module->get<std::string>().find('\0') != std::string::npos) {
    return InvalidArgument("event.module: expected a string of 1..64 bytes");
  }
  const nlohmann::json* action = Path(doc, {"event", "action"});
  if (action != nullptr && !action->is_null() &&
      (!action->is_string() || action->get<std::string>().size() > 128 ||
       action->get<std::string>().find('\0') != std::string::npos)) {
    return InvalidArgument("event.action: expected a string of at most 128 bytes");
  }
  int severity = 0;
  const nlohmann::json* sev = Path(doc, {"event", "severity"});
  if (sev != nullptr && !sev->is_null()) {
    if (!sev->is_number_integer() || sev->get<int64_t>() < 0 || sev->get<int64_t>() > 4) {
      return InvalidArgument("event.severity: expected an integer 0..4");
    }
    severity = static_cast<int>(sev->get<int64_t>());
  }
  StoredEvent e;
  e.id = id->get<std::string>();
  e.tenant_id = owner.tenant_id;
  e.agent_id = owner.agent_id;
  e.timestamp = *when;
  e.module = module->get<std::string>();
  e.action = StringAt(doc, {"event", "action"});
  e.severity = severity;
  e.path = StringAt(doc, {"file", "path"});
  if (e.path.empty()) e.path = StringAt(doc, {"url", "original"});
  std::string rule_id = StringAt(doc, {"rule", "id"});
  std::string rule_name = StringAt(doc, {"rule", "name"});
  e.rule = rule_id.empty()     ? rule_name
           : rule_name.empty() ? rule_id
                               : fmt::format("{} {}", rule_id, rule_name);
  // The search columns hold text only (a NUL byte cannot be stored in PostgreSQL TEXT); the
  // document keeps the exact value (JSON escapes it).
  for (std::string* col : {&e.path, &e.rule}) {
    col->erase(std::remove(col->begin(), col->end(), '\0'), col->end());
    if (col->size() > 4096) col->resize(4096);
    if (!IsValidUtf8(*col)) *col = LossyUtf8(*col);
  }
  // The manager, not the body, says which agent this is.
  if (!doc.contains("agent") || !doc["agent"].is_object()) doc["agent"] = nlohmann::json::object();
  doc["agent"]["id"] = owner.agent_id;
  doc["agent"]["name"] = owner.agent_name;
  e.doc = std::move(doc);
  return e;
}

ParsedBatch ParseEventBatch(std::string_view ndjson, const BatchOwner& owner) {
  ParsedBatch out;
  std::unordered_set<std::string> seen;
  size_t pos = 0;
  int line_no = 0;
  while (pos < ndjson.size()) {
    size_t nl = ndjson.find('\n', pos);
    if (nl == std::string_view::npos) nl = ndjson.size();
    std::string_view line = ndjson.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool blank = true;
    for (char c : line) blank &= (c == ' ' || c == '\t');
    if (blank) continue;
    ++out.lines;
    if (!IsValidUtf8(line)) {
      out.rejected.push_back({line_no, "not valid UTF-8"});
      continue;
    }
    bool too_deep = false;
    auto cb = [&](int d, nlohmann::json::parse_event_t, nlohmann::json&) {
      if (d > 64) too_deep = true;
      return !too_deep;
    };
    nlohmann::json doc = nlohmann::json::parse(line, cb, /*allow_exceptions=*/false);
    if (too_deep) {
      out.rejected.push_back({line_no, "nested deeper than 64 levels"});
      continue;
    }
    if (doc.is_discarded()) {
      out.rejected.push_back({line_no, "not JSON"});
      continue;
    }
    const bool has_agent = doc.is_object() && doc.contains("agent");
    auto e = ToStoredEvent(std::move(doc), owner);
    if (e && !has_agent) e->doc_text = WithAgent(line, owner);
    if (!e) {
      out.rejected.push_back({line_no, e.error().message()});
      continue;
    }
    if (!seen.insert(e->id).second) {
      ++out.duplicates_in_batch;
      continue;
    }
    out.events.push_back(std::move(*e));
  }
  return out;
}

}  // namespace ward::manager
