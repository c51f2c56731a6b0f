// Policies: documents validated with the agent's own parser, versioned on every change.
#include <fmt/format.h>

#include "agent/core/policy.h"
#include "agent/modules/builtin.h"
#include "common/config_node.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

// Validates a policy document with the agent's own parser (so the manager never accepts a
// document an agent would refuse); the error names the key.
std::optional<ApiError> ValidatePolicyDocument(const json& doc) {
  auto node = ConfigNode::FromJson(doc, "document");
  if (!node) return BadRequest("invalid_policy", "document", node.error().message());
  auto p = agent::Policy::FromNode(std::move(*node), agent::BuiltinModules());
  if (!p) {
    // "document: integrity.paths[0].recursive: expected true or false, got ..." — the key path
    // after the location is the field.
    std::string msg = p.error().message();
    std::string field = "document";
    std::string_view rest = msg;
    if (rest.starts_with("document: ")) {
      rest.remove_prefix(10);
      size_t colon = rest.find(": ");
      if (colon != std::string_view::npos)
        field = fmt::format("document.{}", rest.substr(0, colon));
    }
    return BadRequest("invalid_policy", field, msg);
  }
  return std::nullopt;
}

}  // namespace

void AddPolicyRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/policies", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListPolicies(p.tenant.id);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& pol : *list) items.push_back(PolicyJson(pol));
              return JsonResponse(200, {{"items", items}});
            });
  table.Add("POST", "/api/v1/policies", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              if (auto e = CheckFields(*body, {{"name", JsonType::kString, true, false, 1, 200},
                                               {"document", JsonType::kObject, true}})) {
                return Err(*e);
              }
              if (auto e = ValidatePolicyDocument((*body)["document"])) return Err(*e);
              Policy pol;
              pol.id = NewId();
              pol.tenant_id = p.tenant.id;
              pol.name = (*body)["name"];
              pol.version = 1;
              pol.document = (*body)["document"];
              pol.created_at = pol.updated_at = deps.clock.Now();
              if (Status s = deps.store.CreatePolicy(pol); !s.ok()) return Err(s);
              p.audit["object_id"] = pol.id;
              return JsonResponse(201, PolicyJson(pol));
            });
  table.Add("GET", "/api/v1/policies/{id}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto pol = deps.store.GetPolicy(p.tenant.id, path.at("id"));
              if (!pol) return LookupError(pol.error(), "policy");
              return JsonResponse(200, PolicyJson(*pol));
            });
  auto update_policy = [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
    auto pol = deps.store.GetPolicy(p.tenant.id, path.at("id"));
    if (!pol) return LookupError(pol.error(), "policy");
    auto body = ParseObjectBody(req.body);
    if (!body) return Err(body.error());
    const bool put = req.method == "PUT";
    if (auto e = CheckFields(*body, {{"name", JsonType::kString, put, false, 1, 200},
                                     {"document", JsonType::kObject, put}})) {
      return Err(*e);
    }
    std::string name = body->contains("name") ? (*body)["name"].get<std::string>() : pol->name;
    json doc = body->contains("document") ? (*body)["document"] : pol->document;
    if (auto e = ValidatePolicyDocument(doc)) return Err(*e);
    auto updated = deps.store.UpdatePolicy(p.tenant.id, pol->id, name, doc, deps.clock.Now());
    if (!updated) return LookupError(updated.error(), "policy");
    p.audit["object_id"] = pol->id;
    p.audit["version"] = updated->version;
    return JsonResponse(200, PolicyJson(*updated));
  };
  table.Add("PATCH", "/api/v1/policies/{id}", Access::kWrite, update_policy);
  table.Add("PUT", "/api/v1/policies/{id}", Access::kWrite, update_policy);
  table.Add("DELETE", "/api/v1/policies/{id}", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              if (Status s = deps.store.DeletePolicy(p.tenant.id, path.at("id")); !s.ok()) {
                return LookupError(s, "policy");
              }
              p.audit["object_id"] = path.at("id");
              return EmptyResponse();
            });
}

}  // namespace ward::manager
