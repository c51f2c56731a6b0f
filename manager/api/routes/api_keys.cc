// API keys of the caller's tenant: created (the secret is shown once), listed, revoked.
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"

namespace ward::manager {

using json = nlohmann::json;

void AddApiKeyRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/apikeys", Access::kAudit,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListApiKeys(p.tenant.id);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& k : *list) items.push_back(ApiKeyJson(k));
              return JsonResponse(200, {{"items", items}});
            });
  table.Add(
      "POST", "/api/v1/apikeys", Access::kKeys,
      [deps](const HttpRequest& req, const PathParams&, Principal& p) {
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"name", JsonType::kString, true, false, 1, 200},
                                         {"role", JsonType::kString, true},
                                         {"expires_at", JsonType::kTimestamp, false, true}})) {
          return Err(*e);
        }
        ApiKey k;
        if (!ParseRole((*body)["role"].get<std::string>(), k.role)) {
          return Err(BadRequest("invalid_field", "role",
                                "role: expected one of admin, operator, auditor"));
        }
        k.expires_at = OptTime(*body, "expires_at");
        if (k.expires_at && *k.expires_at <= deps.clock.Now()) {
          return Err(BadRequest("invalid_field", "expires_at", "expires_at: in the past"));
        }
        k.id = NewId();
        k.tenant_id = p.tenant.id;
        k.name = (*body)["name"];
        std::string secret = NewApiKeySecret();
        k.secret_hash = HashSecret(secret);
        k.created_at = deps.clock.Now();
        if (Status s = deps.store.CreateApiKey(k); !s.ok()) return Err(s);
        p.audit["object_id"] = k.id;
        p.audit["role"] = RoleName(k.role);
        json out = ApiKeyJson(k);
        out["secret"] = secret;
        return JsonResponse(201, out);
      });
  table.Add("GET", "/api/v1/apikeys/{id}", Access::kAudit,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto k = deps.store.GetApiKey(p.tenant.id, path.at("id"));
              if (!k) return LookupError(k.error(), "API key");
              return JsonResponse(200, ApiKeyJson(*k));
            });
  table.Add("DELETE", "/api/v1/apikeys/{id}", Access::kKeys,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              if (Status s = deps.store.RevokeApiKey(p.tenant.id, path.at("id")); !s.ok()) {
                return LookupError(s, "API key");
              }
              p.audit["object_id"] = path.at("id");
              return EmptyResponse();
            });
}

}  // namespace ward::manager
