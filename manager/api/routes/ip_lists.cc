// Tenant-wide IP lists (issue 17, docs/firewall.md "IP lists"): named address lists (e.g. the
// office ranges) that every firewall policy of the tenant can name; a change reaches the hosts
// of every policy that uses the list (its version goes up, so the next heartbeat delivers it).
#include "manager/services/ip_lists.h"

#include <fmt/format.h>

#include "agent/modules/firewall/config.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxEntries = 10000;

json IpListJson(const IpList& l) {
  json entries = json::array();
  for (const auto& e : l.entries) entries.push_back(e);
  return {{"name", l.name},
          {"description", l.description},
          {"entries", entries},
          {"updated_at", TimeJson(l.updated_at)}};
}

// The policies of the tenant that take `name` from the tenant's lists.
Result<std::vector<Policy>> PoliciesUsing(Store& store, const std::string& tenant,
                                          const std::string& name) {
  auto all = store.ListPolicies(tenant);
  if (!all) return all.error();
  std::vector<Policy> out;
  for (auto& p : *all) {
    if (ExternalIpListNames(p.document).count(name) != 0) out.push_back(std::move(p));
  }
  return out;
}

std::optional<ApiError> CheckName(const std::string& name) {
  if (ValidIpListName(name)) return std::nullopt;
  return BadRequest("invalid_path", "name",
                    "name: 1..64 of letters, digits, '_', '-', '.', starting with a letter or "
                    "digit");
}

}  // namespace

void AddIpListRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/ip-lists", Access::kAny,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto lists = deps.store.ListIpLists(p.tenant.id);
              if (!lists) return Err(lists.error());
              json items = json::array();
              for (const auto& l : *lists) items.push_back(IpListJson(l));
              return JsonResponse(200, {{"items", items}});
            });
  table.Add("GET", "/api/v1/ip-lists/{name}", Access::kAny,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto l = deps.store.GetIpList(p.tenant.id, path.at("name"));
              if (!l) return LookupError(l.error(), "ip list");
              return JsonResponse(200, IpListJson(*l));
            });
  table.Add("PUT", "/api/v1/ip-lists/{name}", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              const std::string& name = path.at("name");
              if (auto e = CheckName(name)) return Err(*e);
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              if (auto e = CheckFields(
                      *body, {{"entries", JsonType::kArray, true},
                              {"description", JsonType::kString, false, false, 0, 1024}})) {
                return Err(*e);
              }
              IpList l;
              l.tenant_id = p.tenant.id;
              l.name = name;
              l.description = body->value("description", std::string());
              const json& entries = (*body)["entries"];
              if (entries.size() > kMaxEntries) {
                return Err(BadRequest("invalid_field", "entries",
                                      fmt::format("entries: at most {} addresses", kMaxEntries)));
              }
              for (size_t i = 0; i < entries.size(); ++i) {
                const std::string field = fmt::format("entries[{}]", i);
                if (!entries[i].is_string()) {
                  return Err(BadRequest("invalid_field", field, field + ": expected a string"));
                }
                auto c = agent::firewall::ParseCidr(entries[i].get<std::string>());
                if (!c) {
                  return Err(BadRequest("invalid_field", field,
                                        fmt::format("{}: {}", field, c.error().message())));
                }
                l.entries.push_back(entries[i].get<std::string>());
              }
              l.updated_at = deps.clock.Now();
              auto created = deps.store.PutIpList(l);
              if (!created) return LookupError(created.error(), "tenant");
              // Every policy that takes the list from the tenant gets a new version: its hosts
              // receive the new addresses at their next heartbeat.
              auto using_it = PoliciesUsing(deps.store, p.tenant.id, name);
              if (!using_it) return Err(using_it.error());
              json updated = json::array();
              for (const Policy& pol : *using_it) {
                auto u = deps.store.UpdatePolicy(p.tenant.id, pol.id, pol.name, pol.document,
                                                 l.updated_at);
                if (!u) {
                  if (u.error().code() == StatusCode::kNotFound) continue;  // deleted meanwhile
                  return Err(u.error());
                }
                updated.push_back({{"id", u->id}, {"version", u->version}});
              }
              p.audit["object_id"] = name;
              p.audit["entries"] = l.entries.size();
              json out = IpListJson(l);
              out["policies_updated"] = updated;
              return JsonResponse(*created ? 201 : 200, out);
            });
  table.Add("DELETE", "/api/v1/ip-lists/{name}", Access::kWrite,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              const std::string& name = path.at("name");
              auto using_it = PoliciesUsing(deps.store, p.tenant.id, name);
              if (!using_it) return Err(using_it.error());
              if (!using_it->empty()) {
                std::string names;
                for (const auto& pol : *using_it) names += (names.empty() ? "" : ", ") + pol.name;
                return Err(ApiError{409, "in_use",
                                    fmt::format("ip list {} is used by policies: {}", name, names),
                                    "name"});
              }
              if (Status s = deps.store.DeleteIpList(p.tenant.id, name); !s.ok()) {
                return LookupError(s, "ip list");
              }
              p.audit["object_id"] = name;
              return EmptyResponse();
            });
}

}  // namespace ward::manager
