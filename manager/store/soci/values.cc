#include "manager/store/soci/values.h"

#include <fmt/format.h>

#include <chrono>

namespace ward::manager::soci_backend {

long long Micros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
TimePoint FromMicros(long long us) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(us)));
}

std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
nlohmann::json ParseJson(const std::string& s, nlohmann::json fallback) {
  if (s.empty()) return fallback;
  nlohmann::json j = nlohmann::json::parse(s, nullptr, false);
  return j.is_discarded() ? fallback : j;
}
Role StoredRole(const std::string& s) {
  Role r = Role::kAuditor;
  return ParseRole(s, r) ? r : Role::kAuditor;
}
Status CheckLen(std::string_view field, const std::string& v, size_t max) {
  if (v.size() > max) {
    return InvalidArgument(fmt::format("{} longer than {} bytes", field, max));
  }
  return Status::Ok();
}
Status CheckId(std::string_view field, const std::string& v) {
  if (v.empty()) return InvalidArgument(fmt::format("{} is empty", field));
  return CheckLen(field, v, kIdMax);
}
std::string NoNul(const std::string& s) {
  if (s.find('\0') == std::string::npos) return s;
  std::string out;
  for (char c : s) {
    if (c != '\0') out.push_back(c);
  }
  return out;
}

}  // namespace ward::manager::soci_backend
