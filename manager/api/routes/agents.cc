// Agents of the tenant: listed, read, assigned a policy, deleted.
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"

namespace ward::manager {

using json = nlohmann::json;

void AddAgentRoutes(RouteTable& table, RouteDeps deps) {
  table.Add(
      "GET", "/api/v1/agents", Access::kAny,
      [deps](const HttpRequest& req, const PathParams&, Principal& p) {
        if (auto e = CheckQuery(req, {"status", "hostname", "policy"})) return Err(*e);
        AgentFilter f;
        if (auto s = QueryParam(req, "status")) {
          if (*s == "online")
            f.online = true;
          else if (*s == "offline")
            f.online = false;
          else
            return Err(BadRequest("invalid_query", "status", "status: expected online or offline"));
        }
        if (auto h = QueryParam(req, "hostname")) f.hostname = *h;
        if (auto pol = QueryParam(req, "policy")) f.policy_id = *pol;
        auto list = deps.store.ListAgents(p.tenant.id, f);
        if (!list) return Err(list.error());
        json items = json::array();
        for (const auto& a : *list) items.push_back(AgentJson(a));
        return JsonResponse(200, {{"items", items}});
      });
  table.Add("GET", "/api/v1/agents/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto a = deps.store.GetAgent(p.tenant.id, path.at("id"));
              if (!a) return LookupError(a.error(), "agent");
              return JsonResponse(200, AgentJson(*a));
            });
  table.Add(
      "PATCH", "/api/v1/agents/{id}", Access::kWrite,
      [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
        auto a = deps.store.GetAgent(p.tenant.id, path.at("id"));
        if (!a) return LookupError(a.error(), "agent");
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"policy_id", JsonType::kString, true, true, 1, 128}})) {
          return Err(*e);
        }
        std::optional<std::string> pid;
        if (!(*body)["policy_id"].is_null()) {
          pid = (*body)["policy_id"].get<std::string>();
          auto pol = deps.store.GetPolicy(p.tenant.id, *pid);
          if (!pol) {
            if (pol.error().code() != StatusCode::kNotFound) return Err(pol.error());
            return Err(ApiError{404, "not_found", "policy_id: no such policy", "policy_id"});
          }
        }
        if (Status s = deps.store.AssignPolicy(p.tenant.id, a->id, pid); !s.ok()) {
          return LookupError(s, "agent");
        }
        a->policy_id = pid;
        p.audit["object_id"] = a->id;
        p.audit["policy_id"] = pid ? json(*pid) : json(nullptr);
        return JsonResponse(200, AgentJson(*a));
      });
  table.Add("DELETE", "/api/v1/agents/{id}", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              if (Status s = deps.store.DeleteAgent(p.tenant.id, path.at("id")); !s.ok()) {
                return LookupError(s, "agent");
              }
              p.audit["object_id"] = path.at("id");
              return EmptyResponse();
            });
}

}  // namespace ward::manager
