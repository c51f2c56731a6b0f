// Event: the one thing modules give the world.
//
// An event is a JSON document whose field names follow the Elastic Common Schema where one exists
// (`@timestamp`, `event.id`, `event.module`, ...); dotted names are nested objects in the JSON.
// Every event has a unique, time-ordered id (UUIDv7) so delivery can be at-least-once and storage
// exactly-once. Every field is documented in docs/events.md.
// Thread-safety: a plain value; not synchronised.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace ward {

// ECS `event.severity` as Ward uses it: a small number, higher is worse.
enum class Severity { kInfo = 0, kLow = 1, kMedium = 2, kHigh = 3, kCritical = 4 };
std::string_view SeverityName(Severity s);

// A random, time-ordered UUID (version 7) as 36 lowercase characters.
std::string NewEventId(std::chrono::system_clock::time_point now);

class Event {
 public:
  Event() : doc_(nlohmann::json::object()) {}
  // A new event stamped with a fresh id and the clock's time.
  // `type` is ECS event.type (creation, change, deletion, info, ...); `action` is event.action.
  static Event Make(const Clock& clock, std::string_view module, std::string_view type,
                    std::string_view action, Severity severity);

  // Sets a (dotted) field. REQUIRES: string values are valid UTF-8 (use SetBytes otherwise).
  Event& Set(std::string_view dotted, nlohmann::json value);
  // Sets a field from arbitrary bytes (a file name): the field holds the bytes as UTF-8, with
  // U+FFFD for bytes that are not; when that happened, `<field>_base64` holds the exact bytes.
  Event& SetBytes(std::string_view dotted, std::string_view bytes);
  // The field's value, or null when absent.
  const nlohmann::json& Get(std::string_view dotted) const;
  bool Has(std::string_view dotted) const { return !Get(dotted).is_null(); }
  // A string field, or "" when absent or not a string.
  std::string GetString(std::string_view dotted) const;

  std::string Id() const { return GetString("event.id"); }
  std::string Module() const { return GetString("event.module"); }
  Severity severity() const;

  // One line of JSON, no trailing newline.
  std::string ToJson() const;
  static Result<Event> FromJson(std::string_view text);

  const nlohmann::json& doc() const { return doc_; }

 private:
  nlohmann::json doc_;
};

}  // namespace ward
