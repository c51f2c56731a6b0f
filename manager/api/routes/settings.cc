// The settings of the caller's own tenant.
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

const std::initializer_list<FieldSpec> kSettingsFields = {
    {"event_retention_days", JsonType::kInt, false, false, 1, 3650},
    {"heartbeat_interval_s", JsonType::kInt, false, false, 10, 86400},
    {"inactive_agent_cleanup_days", JsonType::kInt, false, false, 0, 3650},
};

}  // namespace

std::optional<ApiError> ApplySettings(const json& obj, std::string_view prefix, TenantSettings& s) {
  if (auto e = CheckFields(obj, kSettingsFields, prefix)) return e;
  if (obj.contains("event_retention_days")) {
    s.event_retention_days = obj["event_retention_days"].get<int>();
  }
  if (obj.contains("heartbeat_interval_s")) {
    s.heartbeat_interval_s = obj["heartbeat_interval_s"].get<int>();
  }
  if (obj.contains("inactive_agent_cleanup_days")) {
    s.inactive_agent_cleanup_days = obj["inactive_agent_cleanup_days"].get<int>();
  }
  return std::nullopt;
}

void AddSettingsRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/settings", Access::kAny,
            [](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              return JsonResponse(200, SettingsJson(p.tenant.settings));
            });
  table.Add("PATCH", "/api/v1/settings", Access::kAdmin,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              Tenant t = p.tenant;
              if (auto e = ApplySettings(*body, "", t.settings)) return Err(*e);
              if (Status s = deps.store.UpdateTenant(t); !s.ok()) return Err(s);
              p.audit["change"] = *body;
              return JsonResponse(200, SettingsJson(t.settings));
            });
}

}  // namespace ward::manager
