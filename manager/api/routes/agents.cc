// Agents of the tenant: listed, read, assigned a policy and a group, deleted.
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

json AgentWithGroupJson(const Agent& a, const std::optional<std::string>& group) {
  json j = AgentJson(a);
  j["group_id"] = group ? json(*group) : json(nullptr);
  return j;
}

}  // namespace

void AddAgentRoutes(RouteTable& table, RouteDeps deps) {
  table.Add(
      "GET", "/api/v1/agents", Access::kAny,
      [deps](const HttpRequest& req, const PathParams&, Principal& p) {
        if (auto e = CheckQuery(req, {"status", "hostname", "policy", "group"})) return Err(*e);
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
        auto groups = deps.store.ListAgentGroupMembers(p.tenant.id);
        if (!groups) return Err(groups.error());
        auto group_filter = QueryParam(req, "group");
        json items = json::array();
        for (const auto& a : *list) {
          auto g = groups->find(a.id);
          if (group_filter && (g == groups->end() || g->second != *group_filter)) continue;
          json j = AgentJson(a);
          j["group_id"] = g == groups->end() ? json(nullptr) : json(g->second);
          items.push_back(std::move(j));
        }
        return JsonResponse(200, {{"items", items}});
      });
  table.Add("GET", "/api/v1/agents/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto a = deps.store.GetAgent(p.tenant.id, path.at("id"));
              if (!a) return LookupError(a.error(), "agent");
              auto group = deps.store.AgentGroupOf(p.tenant.id, a->id);
              if (!group) return LookupError(group.error(), "agent");
              return JsonResponse(200, AgentWithGroupJson(*a, *group));
            });
  table.Add(
      "PATCH", "/api/v1/agents/{id}", Access::kWrite,
      [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
        auto a = deps.store.GetAgent(p.tenant.id, path.at("id"));
        if (!a) return LookupError(a.error(), "agent");
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"policy_id", JsonType::kString, false, true, 1, 128},
                                         {"group_id", JsonType::kString, false, true, 1, 128}})) {
          return Err(*e);
        }
        const bool set_policy = body->contains("policy_id");
        const bool set_group = body->contains("group_id");
        if (!set_policy && !set_group) {
          return Err(BadRequest("invalid_field", "policy_id",
                                "policy_id: required unless group_id is given"));
        }
        std::optional<std::string> pid;
        if (set_policy && !(*body)["policy_id"].is_null()) {
          pid = (*body)["policy_id"].get<std::string>();
          auto pol = deps.store.GetPolicy(p.tenant.id, *pid);
          if (!pol) {
            if (pol.error().code() != StatusCode::kNotFound) return Err(pol.error());
            return Err(ApiError{404, "not_found", "policy_id: no such policy", "policy_id"});
          }
        }
        std::optional<std::string> gid;
        if (set_group && !(*body)["group_id"].is_null()) {
          gid = (*body)["group_id"].get<std::string>();
          auto g = deps.store.GetAgentGroup(p.tenant.id, *gid);
          if (!g) {
            if (g.error().code() != StatusCode::kNotFound) return Err(g.error());
            return Err(ApiError{404, "not_found", "group_id: no such agent group", "group_id"});
          }
        }
        // Joining a group gives the agent the group's policy unless the body names one.
        if (set_group) {
          if (Status s =
                  deps.store.SetAgentGroup(p.tenant.id, a->id, gid, !set_policy, deps.clock.Now());
              !s.ok()) {
            return LookupError(s, "agent");
          }
          p.audit["group_id"] = gid ? json(*gid) : json(nullptr);
        }
        if (set_policy) {
          if (Status s = deps.store.AssignPolicy(p.tenant.id, a->id, pid); !s.ok()) {
            return LookupError(s, "agent");
          }
          p.audit["policy_id"] = pid ? json(*pid) : json(nullptr);
        }
        p.audit["object_id"] = a->id;
        auto now = deps.store.GetAgent(p.tenant.id, a->id);
        if (!now) return LookupError(now.error(), "agent");
        auto group = deps.store.AgentGroupOf(p.tenant.id, a->id);
        if (!group) return LookupError(group.error(), "agent");
        return JsonResponse(200, AgentWithGroupJson(*now, *group));
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
