#include "manager/store/soci/values.h"

#include <fmt/format.h>

namespace ward::manager::soci_backend {

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
Status TooLong(std::string_view field, size_t max) {
  return InvalidArgument(fmt::format("{} longer than {} bytes", field, max));
}
Status EmptyId(std::string_view field) {
  return InvalidArgument(fmt::format("{} is empty", field));
}
std::string WithoutNul(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c != '\0') out.push_back(c);
  }
  return out;
}

}  // namespace ward::manager::soci_backend
