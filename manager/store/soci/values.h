// Values as the store keeps them: times as int64 microseconds since the epoch, JSON as text,
// roles as names, and the bounds every backend enforces alike (ids, names, document text).
// Thread-safety: constants and pure functions.
#pragma once

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"
#include "manager/store/store.h"

namespace ward::manager::soci_backend {

constexpr long long kMicrosPerDay = 86'400'000'000LL;
// Timestamps the store accepts: 1970-01-01 .. 2200-01-01 (micros since the epoch).
constexpr long long kMaxMicros = 7'258'118'400'000'000LL;
constexpr size_t kIdMax = 64;
constexpr size_t kNameMax = 255;
// StoredEvent::doc_text stored as given: at most this long.
constexpr size_t kMaxDocText = 16u << 20;

inline long long Micros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
inline TimePoint FromMicros(long long us) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(us)));
}

// JSON as stored (invalid UTF-8 replaced, never thrown on) and read back (`fallback` when the
// text is empty or not JSON).
std::string DumpJson(const nlohmann::json& j);
nlohmann::json ParseJson(const std::string& s, nlohmann::json fallback);

// A stored role; least privilege for anything unexpected.
Role StoredRole(const std::string& s);

// kInvalidArgument naming `field` when `v` is longer than `max` bytes (CheckId: or empty, or
// longer than kIdMax).
// (Inline: they run for every field of every event of a batch; the errors are built out of line.)
Status TooLong(std::string_view field, size_t max);
Status EmptyId(std::string_view field);
inline Status CheckLen(std::string_view field, const std::string& v, size_t max) {
  return v.size() > max ? TooLong(field, max) : Status::Ok();
}
inline Status CheckId(std::string_view field, const std::string& v) {
  return v.empty() ? EmptyId(field) : CheckLen(field, v, kIdMax);
}

// Removes NUL bytes (PostgreSQL TEXT cannot hold them) from an extracted search column.
std::string WithoutNul(const std::string& s);
inline std::string NoNul(const std::string& s) {
  return s.find('\0') == std::string::npos ? s : WithoutNul(s);
}

}  // namespace ward::manager::soci_backend
