// /agent-groups: a tenant's named groups of agents (issue #18, docs/deployment.md "Agent
// groups"). An agent is in at most one group (PATCH /agents/{id} {"group_id"}); a group's
// policy is handed to every member when it is set and to every agent that joins.
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

json GroupJson(const AgentGroup& g) {
  return {{"id", g.id},
          {"name", g.name},
          {"description", g.description},
          {"policy_id", g.policy_id ? json(*g.policy_id) : json(nullptr)},
          {"members", g.members},
          {"created_at", TimeJson(g.created_at)},
          {"updated_at", TimeJson(g.updated_at)}};
}

// The body's policy_id (checked by CheckFields) must be a policy of the tenant.
std::optional<ApiError> CheckPolicy(Store& store, const std::string& tenant,
                                    const std::optional<std::string>& policy_id) {
  if (!policy_id) return std::nullopt;
  auto pol = store.GetPolicy(tenant, *policy_id);
  if (pol) return std::nullopt;
  if (pol.error().code() != StatusCode::kNotFound) return FromStatus(pol.error());
  return ApiError{404, "not_found", "policy_id: no such policy", "policy_id"};
}

HttpResponse StoreError(const Status& s) {
  if (s.code() == StatusCode::kAlreadyExists) {
    return Err(ApiError{409, "conflict", "name: an agent group of this name exists", "name"});
  }
  if (s.code() == StatusCode::kNotFound && s.message().find("policy") != std::string::npos) {
    return Err(ApiError{404, "not_found", "policy_id: no such policy", "policy_id"});
  }
  return LookupError(s, "agent group");
}

std::optional<std::string> OptString(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::nullopt;
  return body[key].get<std::string>();
}

}  // namespace

void AddAgentGroupRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/agent-groups", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListAgentGroups(p.tenant.id);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& g : *list) items.push_back(GroupJson(g));
              return JsonResponse(200, {{"items", items}});
            });
  table.Add(
      "POST", "/api/v1/agent-groups", Access::kWrite,
      [deps](const HttpRequest& req, const PathParams&, Principal& p) {
        if (auto e = CheckQuery(req, {})) return Err(*e);
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"name", JsonType::kString, true, false, 1, 255},
                                         {"description", JsonType::kString, false, false, 0, 1024},
                                         {"policy_id", JsonType::kString, false, true, 1, 128}})) {
          return Err(*e);
        }
        AgentGroup g;
        g.id = NewId();
        g.tenant_id = p.tenant.id;
        g.name = (*body)["name"];
        g.description = body->value("description", "");
        g.policy_id = OptString(*body, "policy_id");
        if (auto e = CheckPolicy(deps.store, p.tenant.id, g.policy_id)) return Err(*e);
        g.created_at = g.updated_at = deps.clock.Now();
        if (Status s = deps.store.CreateAgentGroup(g); !s.ok()) return StoreError(s);
        p.audit["object_id"] = g.id;
        return JsonResponse(201, GroupJson(g));
      });
  table.Add("GET", "/api/v1/agent-groups/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto g = deps.store.GetAgentGroup(p.tenant.id, path.at("id"));
              if (!g) return LookupError(g.error(), "agent group");
              return JsonResponse(200, GroupJson(*g));
            });
  // Changes name, description and policy; a new policy is assigned to every member at once.
  table.Add(
      "PATCH", "/api/v1/agent-groups/{id}", Access::kWrite,
      [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
        if (auto e = CheckQuery(req, {})) return Err(*e);
        auto g = deps.store.GetAgentGroup(p.tenant.id, path.at("id"));
        if (!g) return LookupError(g.error(), "agent group");
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"name", JsonType::kString, false, false, 1, 255},
                                         {"description", JsonType::kString, false, false, 0, 1024},
                                         {"policy_id", JsonType::kString, false, true, 1, 128}})) {
          return Err(*e);
        }
        if (body->contains("name")) g->name = (*body)["name"];
        if (body->contains("description")) g->description = (*body)["description"];
        if (body->contains("policy_id")) g->policy_id = OptString(*body, "policy_id");
        if (auto e = CheckPolicy(deps.store, p.tenant.id, g->policy_id)) return Err(*e);
        g->updated_at = deps.clock.Now();
        auto changed = deps.store.UpdateAgentGroup(*g, body->contains("policy_id"));
        if (!changed) return StoreError(changed.error());
        p.audit["object_id"] = g->id;
        if (body->contains("policy_id")) {
          p.audit["policy_id"] = g->policy_id ? json(*g->policy_id) : json(nullptr);
          p.audit["members_reassigned"] = *changed;
        }
        json out = GroupJson(*g);
        out["members_reassigned"] = *changed;
        return JsonResponse(200, out);
      });
  // Members leave the group and keep their policy.
  table.Add("DELETE", "/api/v1/agent-groups/{id}", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              if (Status s = deps.store.DeleteAgentGroup(p.tenant.id, path.at("id")); !s.ok()) {
                return LookupError(s, "agent group");
              }
              p.audit["object_id"] = path.at("id");
              return EmptyResponse();
            });
}

}  // namespace ward::manager
