// Activation tokens: what a new agent presents to join the tenant (docs/agent-protocol.md).
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"

namespace ward::manager {

using json = nlohmann::json;

void AddActivationTokenRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/activation-tokens", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListActivationTokens(p.tenant.id);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& t : *list) items.push_back(ActivationTokenJson(t));
              return JsonResponse(200, {{"items", items}});
            });
  table.Add("POST", "/api/v1/activation-tokens", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              if (auto e = CheckFields(
                      *body, {{"name", JsonType::kString, false, false, 0, 200},
                              {"policy_id", JsonType::kString, false, true, 1, 128},
                              {"expires_at", JsonType::kTimestamp, false, true},
                              {"max_uses", JsonType::kInt, false, true, 1, 1000000000}})) {
                return Err(*e);
              }
              ActivationToken t;
              t.id = NewId();
              t.tenant_id = p.tenant.id;
              if (body->contains("name")) t.name = (*body)["name"];
              if (body->contains("policy_id") && !(*body)["policy_id"].is_null()) {
                std::string pid = (*body)["policy_id"];
                auto pol = deps.store.GetPolicy(p.tenant.id, pid);
                if (!pol) {
                  if (pol.error().code() != StatusCode::kNotFound) return Err(pol.error());
                  return Err(ApiError{404, "not_found", "policy_id: no such policy", "policy_id"});
                }
                t.policy_id = pid;
              }
              t.expires_at = OptTime(*body, "expires_at");
              if (t.expires_at && *t.expires_at <= deps.clock.Now()) {
                return Err(BadRequest("invalid_field", "expires_at", "expires_at: in the past"));
              }
              if (body->contains("max_uses") && !(*body)["max_uses"].is_null()) {
                t.max_uses = (*body)["max_uses"].get<int>();
              }
              std::string token = NewActivationToken();
              t.token_hash = HashSecret(token);
              t.created_at = deps.clock.Now();
              if (Status s = deps.store.CreateActivationToken(t); !s.ok()) return Err(s);
              p.audit["object_id"] = t.id;
              json out = ActivationTokenJson(t);
              out["token"] = token;
              return JsonResponse(201, out);
            });
  table.Add("GET", "/api/v1/activation-tokens/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto t = deps.store.GetActivationToken(p.tenant.id, path.at("id"));
              if (!t) return LookupError(t.error(), "activation token");
              return JsonResponse(200, ActivationTokenJson(*t));
            });
  // Assigns (or with null, clears) the policy that agents activated with the token get from now
  // on; agents already activated keep theirs.
  table.Add(
      "PATCH", "/api/v1/activation-tokens/{id}", Access::kWrite,
      [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
        if (auto e = CheckQuery(req, {})) return Err(*e);
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"policy_id", JsonType::kString, true, true, 1, 128}})) {
          return Err(*e);
        }
        std::optional<std::string> pid;
        if (!(*body)["policy_id"].is_null()) pid = (*body)["policy_id"].get<std::string>();
        auto before = deps.store.GetActivationToken(p.tenant.id, path.at("id"));
        if (!before) return LookupError(before.error(), "activation token");
        if (Status s = deps.store.SetActivationTokenPolicy(p.tenant.id, path.at("id"), pid);
            !s.ok()) {
          if (s.code() == StatusCode::kNotFound && pid &&
              s.message().find("policy") != std::string::npos) {
            return Err(ApiError{404, "not_found", "policy_id: no such policy", "policy_id"});
          }
          return LookupError(s, "activation token");
        }
        p.audit["object_id"] = path.at("id");
        p.audit["policy_id"] = pid ? json(*pid) : json(nullptr);
        p.audit["previous_policy_id"] =
            before->policy_id ? json(*before->policy_id) : json(nullptr);
        auto t = deps.store.GetActivationToken(p.tenant.id, path.at("id"));
        if (!t) return LookupError(t.error(), "activation token");
        return JsonResponse(200, ActivationTokenJson(*t));
      });
  table.Add("DELETE", "/api/v1/activation-tokens/{id}", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              if (Status s = deps.store.RevokeActivationToken(p.tenant.id, path.at("id"));
                  !s.ok()) {
                return LookupError(s, "activation token");
              }
              p.audit["object_id"] = path.at("id");
              return EmptyResponse();
            });
}

}  // namespace ward::manager
