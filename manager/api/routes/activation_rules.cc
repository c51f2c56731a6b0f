// /activation-rules: the tenant's ordered rules that assign a policy at activation from the facts
// an agent reports (docs/deployment.md, "Activation rules").
#include "manager/services/activation_rules.h"

#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"

namespace ward::manager {

using json = nlohmann::json;

void AddActivationRuleRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/activation-rules", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto rules = deps.store.GetActivationRules(p.tenant.id);
              if (!rules) return Err(rules.error());
              return JsonResponse(200, {{"rules", *rules}});
            });
  // Replaces the whole ordered list (order is meaning: the first match wins).
  table.Add(
      "PUT", "/api/v1/activation-rules", Access::kWrite,
      [deps](const HttpRequest& req, const PathParams&, Principal& p) {
        if (auto e = CheckQuery(req, {})) return Err(*e);
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (!body->contains("rules") || body->size() != 1) {
          return Err(BadRequest("invalid_field", "rules", "rules: required (and nothing else)"));
        }
        auto rules = ParseActivationRules((*body)["rules"]);
        if (!rules) {
          std::string msg = rules.error().message();
          return Err(BadRequest("invalid_field", msg.substr(0, msg.find(':')), msg));
        }
        for (size_t i = 0; i < rules->size(); ++i) {
          if (const auto& pid = (*rules)[i].policy_id) {
            auto pol = deps.store.GetPolicy(p.tenant.id, *pid);
            if (!pol) {
              if (pol.error().code() != StatusCode::kNotFound) return Err(pol.error());
              std::string f = "rules[" + std::to_string(i) + "].policy_id";
              return Err(ApiError{404, "not_found", f + ": no such policy", f});
            }
          }
          if (const auto& gid = (*rules)[i].group_id) {
            auto g = deps.store.GetAgentGroup(p.tenant.id, *gid);
            if (!g) {
              if (g.error().code() != StatusCode::kNotFound) return Err(g.error());
              std::string f = "rules[" + std::to_string(i) + "].group_id";
              return Err(ApiError{404, "not_found", f + ": no such agent group", f});
            }
          }
        }
        if (Status s =
                deps.store.SetActivationRules(p.tenant.id, (*body)["rules"], deps.clock.Now());
            !s.ok()) {
          return Err(s);
        }
        p.audit["rules"] = rules->size();
        return JsonResponse(200, {{"rules", (*body)["rules"]}});
      });
}

}  // namespace ward::manager
