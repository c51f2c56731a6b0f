// Commands queued for an agent (taken by its next heartbeat) and their results.
#include <fmt/format.h>

#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"

namespace ward::manager {

using json = nlohmann::json;

void AddCommandRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/agents/{id}/commands", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto a = deps.store.GetAgent(p.tenant.id, path.at("id"));
              if (!a) return LookupError(a.error(), "agent");
              auto list = deps.store.ListCommands(p.tenant.id, a->id);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& c : *list) items.push_back(CommandJson(c));
              return JsonResponse(200, {{"items", items}});
            });
  table.Add("POST", "/api/v1/agents/{id}/commands", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              auto a = deps.store.GetAgent(p.tenant.id, path.at("id"));
              if (!a) return LookupError(a.error(), "agent");
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              if (auto e = CheckFields(
                      *body, {{"name", JsonType::kString, true}, {"args", JsonType::kObject}})) {
                return Err(*e);
              }
              Command c;
              c.name = (*body)["name"];
              if (body->contains("args")) c.args = (*body)["args"];
              if (c.name == "integrity.check" || c.name == "policy.reload") {
                if (auto e = CheckFields(c.args, {}, "args.")) return Err(*e);
              } else if (c.name == "antimalware.scan") {
                if (auto e = CheckFields(c.args, {{"paths", JsonType::kArray, true}}, "args.")) {
                  return Err(*e);
                }
                const auto& paths = c.args["paths"];
                if (paths.empty() || paths.size() > 1000) {
                  return Err(BadRequest("invalid_field", "args.paths",
                                        "args.paths: expected 1..1000 absolute paths"));
                }
                for (size_t i = 0; i < paths.size(); ++i) {
                  if (!paths[i].is_string() || paths[i].get<std::string>().empty() ||
                      paths[i].get<std::string>()[0] != '/' ||
                      paths[i].get<std::string>().size() > 4096) {
                    std::string f = fmt::format("args.paths[{}]", i);
                    return Err(BadRequest("invalid_field", f, f + ": expected an absolute path"));
                  }
                }
              } else {
                return Err(BadRequest(
                    "invalid_field", "name",
                    "name: unknown command (expected integrity.check, antimalware.scan or "
                    "policy.reload)"));
              }
              c.id = NewId();
              c.tenant_id = p.tenant.id;
              c.agent_id = a->id;
              c.created_at = deps.clock.Now();
              if (Status s = deps.store.QueueCommand(c); !s.ok()) return LookupError(s, "agent");
              p.audit["object_id"] = c.id;
              p.audit["agent_id"] = a->id;
              p.audit["command"] = c.name;
              return JsonResponse(201, CommandJson(c));
            });
}

}  // namespace ward::manager
