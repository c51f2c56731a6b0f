#include "common/event.h"

#include <fmt/format.h>

#include "common/hash.h"
#include "common/text.h"

namespace ward {

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kLow:
      return "low";
    case Severity::kMedium:
      return "medium";
    case Severity::kHigh:
      return "high";
    case Severity::kCritical:
      return "critical";
  }
  return "info";
}

std::string NewEventId(std::chrono::system_clock::time_point now) {
  uint8_t b[16];
  WARD_CHECK(RandomBytes(b).ok());
  uint64_t ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  b[6] = static_cast<uint8_t>(0x70 | (b[6] & 0x0F));
  b[8] = static_cast<uint8_t>(0x80 | (b[8] & 0x3F));
  std::string hex = ToHex(b);
  return fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4),
                     hex.substr(16, 4), hex.substr(20));
}

Event Event::Make(const Clock& clock, std::string_view module, std::string_view type,
                  std::string_view action, Severity severity) {
  Event e;
  auto now = clock.Now();
  e.doc_["@timestamp"] = FormatTimestamp(now);
  e.Set("event.id", NewEventId(now));
  e.Set("event.kind", "event");
  e.Set("event.module", module);
  e.Set("event.type", type);
  e.Set("event.action", action);
  e.Set("event.severity", static_cast<int>(severity));
  return e;
}

Event& Event::Set(std::string_view dotted, nlohmann::json value) {
  nlohmann::json* node = &doc_;
  size_t start = 0;
  for (;;) {
    size_t dot = dotted.find('.', start);
    std::string key(
        dotted.substr(start, dot == std::string_view::npos ? dotted.npos : dot - start));
    if (dot == std::string_view::npos || key == "@timestamp") {
      (*node)[key] = std::move(value);
      return *this;
    }
    nlohmann::json& child = (*node)[key];
    if (!child.is_object()) child = nlohmann::json::object();
    node = &child;
    start = dot + 1;
  }
}

Event& Event::SetBytes(std::string_view dotted, std::string_view bytes) {
  if (IsValidUtf8(bytes)) return Set(dotted, std::string(bytes));
  Set(dotted, LossyUtf8(bytes));
  return Set(std::string(dotted) + "_base64", Base64Encode(bytes));
}

const nlohmann::json& Event::Get(std::string_view dotted) const {
  static const nlohmann::json kNull;
  const nlohmann::json* node = &doc_;
  if (dotted == "@timestamp") {
    auto it = doc_.find("@timestamp");
    return it == doc_.end() ? kNull : *it;
  }
  size_t start = 0;
  for (;;) {
    size_t dot = dotted.find('.', start);
    std::string key(
        dotted.substr(start, dot == std::string_view::npos ? dotted.npos : dot - start));
    if (!node->is_object()) return kNull;
    auto it = node->find(key);
    if (it == node->end()) return kNull;
    if (dot == std::string_view::npos) return *it;
    node = &*it;
    start = dot + 1;
  }
}

std::string Event::GetString(std::string_view dotted) const {
  const auto& v = Get(dotted);
  return v.is_string() ? v.get<std::string>() : std::string();
}

Severity Event::severity() const {
  const auto& v = Get("event.severity");
  if (!v.is_number_integer()) return Severity::kInfo;
  int s = v.get<int>();
  if (s < 0) s = 0;
  if (s > 4) s = 4;
  return static_cast<Severity>(s);
}

std::string Event::ToJson() const {
  // Strings are valid UTF-8 by construction; replace defensively rather than throw.
  return doc_.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<Event> Event::FromJson(std::string_view text) {
  Event e;
  try {
    e.doc_ = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& ex) {
    return InvalidArgument(fmt::format("event JSON: {}", ex.what()));
  }
  if (!e.doc_.is_object()) return InvalidArgument("event JSON: not an object");
  if (!e.Get("event.id").is_string()) return InvalidArgument("event JSON: event.id missing");
  return e;
}

}  // namespace ward
