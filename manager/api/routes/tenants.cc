// The tenants: created, read, renamed, disabled and deleted by admins of the primary tenant.
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/passwords.h"
#include "manager/services/bootstrap.h"
#include "manager/services/users.h"

namespace ward::manager {

using json = nlohmann::json;

bool ValidUsername(std::string_view s);                // routes/users.cc
std::optional<ApiError> CheckPassword(const json& v);  // routes/users.cc

namespace {

// The optional "admin_user" of POST /tenants: {"username", "password"?}. Returns the error, or
// fills username/password (a generated one when none is given).
std::optional<ApiError> ReadAdminUser(const json& obj, std::string& username, std::string& password,
                                      bool& generated) {
  if (auto e = CheckFields(
          obj,
          {{"username", JsonType::kString, true, false, 1, 128}, {"password", JsonType::kString}},
          "admin_user.")) {
    return e;
  }
  username = obj["username"];
  if (!ValidUsername(username)) {
    return BadRequest("invalid_field", "admin_user.username",
                      "admin_user.username: expected 1..128 of [A-Za-z0-9._@-]");
  }
  generated = !obj.contains("password");
  if (generated) {
    password = NewPassword();
  } else {
    if (auto e = CheckPassword(obj["password"])) {
      e->field = "admin_user.password";
      e->message = "admin_user." + e->message;
      return e;
    }
    password = obj["password"];
  }
  return std::nullopt;
}

}  // namespace

void AddTenantRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/tenants", Access::kPrimaryAdmin,
            [deps](const HttpRequest& req, const PathParams&, Principal&) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListTenants();
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& t : *list) items.push_back(TenantJson(t));
              return JsonResponse(200, {{"items", items}});
            });
  table.Add("POST", "/api/v1/tenants", Access::kPrimaryAdmin,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              if (auto e = CheckFields(*body, {{"name", JsonType::kString, true, false, 1, 200},
                                               {"settings", JsonType::kObject},
                                               {"admin_user", JsonType::kObject}})) {
                return Err(*e);
              }
              std::string username, password;
              bool generated = false;
              const bool with_user = body->contains("admin_user");
              if (with_user) {
                if (auto e = ReadAdminUser((*body)["admin_user"], username, password, generated)) {
                  return Err(*e);
                }
                auto taken = deps.store.FindUserByName(username);
                if (taken) {
                  return Err(ApiError{409, "conflict", "admin_user.username: taken",
                                      "admin_user.username"});
                }
                if (taken.error().code() != StatusCode::kNotFound) return Err(taken.error());
              }
              Tenant t;
              t.name = (*body)["name"];
              if (body->contains("settings")) {
                if (auto e = ApplySettings((*body)["settings"], "settings.", t.settings)) {
                  return Err(*e);
                }
              }
              // The tenant and its first admin key: one transaction.
              auto created = CreateTenantWithAdminKey(deps.store, deps.clock, std::move(t));
              if (!created) return Err(created.error());
              p.audit["object_id"] = created->tenant.id;
              json out = TenantJson(created->tenant);
              out["admin_key"] = {{"id", created->admin_key.id},
                                  {"role", "admin"},
                                  {"secret", created->admin_secret}};
              if (with_user) {
                // The tenant's first console user; if it cannot be stored (the name was taken
                // meanwhile), the tenant is removed again so nothing is left half made.
                auto user = CreateUserWithPassword(deps.store, deps.clock, created->tenant.id,
                                                   username, Role::kAdmin, password);
                if (!user) {
                  (void)deps.store.DeleteTenant(created->tenant.id);
                  if (user.error().code() == StatusCode::kAlreadyExists) {
                    return Err(ApiError{409, "conflict", "admin_user.username: taken",
                                        "admin_user.username"});
                  }
                  return Err(user.error());
                }
                p.audit["admin_user"] = user->username;
                out["admin_user"] = UserJson(*user);
                if (generated) out["admin_user"]["password"] = password;
              }
              return JsonResponse(201, out);
            });
  table.Add("GET", "/api/v1/tenants/{id}", Access::kPrimaryAdmin,
            [deps](const HttpRequest& req, const PathParams& path, Principal&) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto t = deps.store.GetTenant(path.at("id"));
              if (!t) return LookupError(t.error(), "tenant");
              return JsonResponse(200, TenantJson(*t));
            });
  table.Add("PATCH", "/api/v1/tenants/{id}", Access::kPrimaryAdmin,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              auto t = deps.store.GetTenant(path.at("id"));
              if (!t) return LookupError(t.error(), "tenant");
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              if (auto e = CheckFields(*body, {{"name", JsonType::kString, false, false, 1, 200},
                                               {"disabled", JsonType::kBool},
                                               {"settings", JsonType::kObject}})) {
                return Err(*e);
              }
              if (body->contains("name")) t->name = (*body)["name"];
              if (body->contains("disabled")) {
                bool d = (*body)["disabled"];
                if (d && t->primary) {
                  return Err(BadRequest("invalid_field", "disabled",
                                        "disabled: the primary tenant cannot be disabled"));
                }
                t->disabled = d;
              }
              if (body->contains("settings")) {
                if (auto e = ApplySettings((*body)["settings"], "settings.", t->settings)) {
                  return Err(*e);
                }
              }
              if (Status s = deps.store.UpdateTenant(*t); !s.ok()) return LookupError(s, "tenant");
              p.audit["object_id"] = t->id;
              p.audit["change"] = *body;
              return JsonResponse(200, TenantJson(*t));
            });
  table.Add("DELETE", "/api/v1/tenants/{id}", Access::kPrimaryAdmin,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto t = deps.store.GetTenant(path.at("id"));
              if (!t) return LookupError(t.error(), "tenant");
              if (t->primary) {
                return Err(ApiError{409, "conflict", "the primary tenant cannot be deleted", ""});
              }
              if (Status s = deps.store.DeleteTenant(t->id); !s.ok())
                return LookupError(s, "tenant");
              p.audit["object_id"] = t->id;
              return EmptyResponse();
            });
}

}  // namespace ward::manager
