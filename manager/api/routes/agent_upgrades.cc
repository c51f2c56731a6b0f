// Agent upgrades from the manager (issue #18, docs/updates.md "Agent upgrades"): a target
// ward-agent version per agent group or policy, rolled out in two waves.
//   GET    /api/v1/agent-upgrades                    every rollout of the tenant
//   PUT    /api/v1/agent-groups/{id}/upgrade          {"version", "first_wave_percent",
//   "timeout_s"} GET    /api/v1/agent-groups/{id}/upgrade          the rollout and each member's
//   state DELETE /api/v1/agent-groups/{id}/upgrade          stops offering it (installed agents
//   stay)
// and the same three on /api/v1/policies/{id}/upgrade.
#include "manager/services/agent_upgrades.h"

#include "agent/updates/package.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

json RolloutJson(const UpgradeRollout& r) {
  return {{"scope", r.scope},
          {"scope_id", r.scope_id},
          {"version", r.target_version},
          {"first_wave_percent", r.first_wave_percent},
          {"timeout_s", r.timeout_s},
          {"created_at", TimeJson(r.created_at)},
          {"second_wave_at", TimeJson(r.second_wave_at)},
          {"stopped", r.stopped_reason.has_value()},
          {"stopped_reason", r.stopped_reason ? json(*r.stopped_reason) : json(nullptr)}};
}

json StateJson(const AgentUpgradeState& s) {
  return {{"agent_id", s.agent_id},
          {"state", s.state},
          {"wave", s.wave},
          {"offered_at", TimeJson(s.offered_at)},
          {"updated_at", TimeJson(s.updated_at)},
          {"error", s.error ? json(*s.error) : json(nullptr)}};
}

// 404 naming the scope's object when it is not the tenant's.
std::optional<HttpResponse> RequireScope(Store& store, const std::string& tenant,
                                         const std::string& scope, const std::string& id) {
  if (scope == "group") {
    auto g = store.GetAgentGroup(tenant, id);
    if (!g) return LookupError(g.error(), "agent group");
  } else {
    auto p = store.GetPolicy(tenant, id);
    if (!p) return LookupError(p.error(), "policy");
  }
  return std::nullopt;
}

void AddScopeRoutes(RouteTable& table, RouteDeps deps, const std::string& scope,
                    const std::string& base) {
  table.Add("PUT", base + "/{id}/upgrade", Access::kWrite,
            [deps, scope](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              const std::string& id = path.at("id");
              if (auto r = RequireScope(deps.store, p.tenant.id, scope, id)) return *r;
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              if (auto e = CheckFields(
                      *body, {{"version", JsonType::kString, true, false, 1, 64},
                              {"first_wave_percent", JsonType::kInt, false, false, 1, 100},
                              {"timeout_s", JsonType::kInt, false, false, 30, 7 * 24 * 3600}})) {
                return Err(*e);
              }
              UpgradeRollout r;
              r.tenant_id = p.tenant.id;
              r.scope = scope;
              r.scope_id = id;
              r.target_version = (*body)["version"];
              if (Status s = updates::CheckPackageVersion(r.target_version); !s.ok()) {
                return Err(ApiError{400, "invalid", "version: " + s.message(), "version"});
              }
              r.first_wave_percent = body->value("first_wave_percent", 100);
              r.timeout_s = body->value("timeout_s", int64_t{1800});
              r.created_at = deps.clock.Now();
              if (Status s = deps.store.PutUpgradeRollout(r); !s.ok()) {
                return LookupError(s, scope == "group" ? "agent group" : "policy");
              }
              p.audit["object_id"] = id;
              p.audit["version"] = r.target_version;
              return JsonResponse(200, RolloutJson(r));
            });
  table.Add("GET", base + "/{id}/upgrade", Access::kAny,
            [deps, scope](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              const std::string& id = path.at("id");
              if (auto r = RequireScope(deps.store, p.tenant.id, scope, id)) return *r;
              auto r = deps.store.GetUpgradeRollout(p.tenant.id, scope, id);
              if (!r) return LookupError(r.error(), "upgrade rollout");
              auto plan = PreviewRollout(deps.store, *r, deps.clock.Now());
              if (!plan) return Err(plan.error());
              json out = RolloutJson(plan->rollout);
              json agents = json::array();
              json counts = json::object();
              for (const auto& s : plan->states) {
                agents.push_back(StateJson(s));
                counts[s.state] = counts.value(s.state, 0) + 1;
              }
              out["agents"] = agents;
              out["counts"] = counts;
              return JsonResponse(200, out);
            });
  table.Add("DELETE", base + "/{id}/upgrade", Access::kWrite,
            [deps, scope](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              const std::string& id = path.at("id");
              if (auto r = RequireScope(deps.store, p.tenant.id, scope, id)) return *r;
              if (Status s = deps.store.DeleteUpgradeRollout(p.tenant.id, scope, id); !s.ok()) {
                return LookupError(s, "upgrade rollout");
              }
              p.audit["object_id"] = id;
              return EmptyResponse();
            });
}

}  // namespace

void AddAgentUpgradeRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/agent-upgrades", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListUpgradeRollouts(p.tenant.id);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& r : *list) items.push_back(RolloutJson(r));
              return JsonResponse(200, {{"items", items}});
            });
  AddScopeRoutes(table, deps, "group", "/api/v1/agent-groups");
  AddScopeRoutes(table, deps, "policy", "/api/v1/policies");
}

}  // namespace ward::manager
