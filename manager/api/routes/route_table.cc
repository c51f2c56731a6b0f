#include "manager/api/routes/route_table.h"

#include <fmt/format.h>

namespace ward::manager {

void RouteTable::Add(std::string method, std::string pattern, Access access, RestHandler handler) {
  router_.Add(std::move(method), std::move(pattern), static_cast<int>(routes_.size()));
  routes_.push_back({access, std::move(handler)});
}

HttpResponse NotFoundResponse(std::string_view what) {
  return ErrorResponse({404, "not_found", fmt::format("no such {}", what), ""});
}

HttpResponse LookupError(const Status& s, std::string_view what) {
  return s.code() == StatusCode::kNotFound ? NotFoundResponse(what) : Err(s);
}

std::optional<TimePoint> OptTime(const nlohmann::json& obj, const char* key) {
  if (!obj.contains(key) || obj[key].is_null()) return std::nullopt;
  return ParseTimestamp(obj[key].get_ref<const std::string&>());
}

}  // namespace ward::manager
