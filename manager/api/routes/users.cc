// Console users of the caller's tenant (docs/api.md, "Users"): created by admins (a generated
// password is shown once unless one is given), listed by admins and auditors, changed (role,
// language, password) and deleted by admins. Deleting a user ends their sessions.
#include <fmt/format.h>

#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/passwords.h"
#include "manager/auth/secrets.h"

namespace ward::manager {

using json = nlohmann::json;

bool ValidUsername(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '@';
    if (!ok) return false;
  }
  return true;
}

std::optional<ApiError> CheckPassword(const json& v) {
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() < kMinPasswordLength || s.size() > kMaxPasswordLength) {
    return BadRequest(
        "invalid_field", "password",
        fmt::format("password: expected {}..{} bytes", kMinPasswordLength, kMaxPasswordLength));
  }
  return std::nullopt;
}

std::optional<ApiError> CheckLanguage(const json& v) {
  const auto& s = v.get_ref<const std::string&>();
  if (s != "en" && s != "ja") {
    return BadRequest("invalid_field", "language", "language: expected en or ja");
  }
  return std::nullopt;
}

void AddUserRoutes(RouteTable& table, RouteDeps deps) {
  table.Add("GET", "/api/v1/users", Access::kAudit,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto list = deps.store.ListUsers(p.tenant.id);
              if (!list) return Err(list.error());
              json items = json::array();
              for (const auto& u : *list) items.push_back(UserJson(u));
              return JsonResponse(200, {{"items", items}});
            });
  table.Add("POST", "/api/v1/users", Access::kKeys,
            [deps](const HttpRequest& req, const PathParams&, Principal& p) {
              auto body = ParseObjectBody(req.body);
              if (!body) return Err(body.error());
              if (auto e = CheckFields(*body, {{"username", JsonType::kString, true, false, 1, 128},
                                               {"role", JsonType::kString, true},
                                               {"language", JsonType::kString},
                                               {"password", JsonType::kString}})) {
                return Err(*e);
              }
              User u;
              u.username = (*body)["username"];
              if (!ValidUsername(u.username)) {
                return Err(BadRequest("invalid_field", "username",
                                      "username: expected 1..128 of [A-Za-z0-9._@-]"));
              }
              if (!ParseRole((*body)["role"].get<std::string>(), u.role)) {
                return Err(BadRequest("invalid_field", "role",
                                      "role: expected one of admin, operator, auditor"));
              }
              if (body->contains("language")) {
                if (auto e = CheckLanguage((*body)["language"])) return Err(*e);
                u.language = (*body)["language"];
              }
              std::string password;
              const bool generated = !body->contains("password");
              if (generated) {
                password = NewPassword();
              } else {
                if (auto e = CheckPassword((*body)["password"])) return Err(*e);
                password = (*body)["password"];
              }
              auto hash = HashPassword(password);
              if (!hash) return Err(hash.error());
              u.password_hash = std::move(*hash);
              u.id = NewId();
              u.tenant_id = p.tenant.id;
              u.created_at = deps.clock.Now();
              if (Status s = deps.store.CreateUser(u); !s.ok()) {
                if (s.code() == StatusCode::kAlreadyExists) {
                  return Err(ApiError{409, "conflict", "username: taken", "username"});
                }
                return Err(s);
              }
              p.audit["object_id"] = u.id;
              p.audit["username"] = u.username;
              p.audit["role"] = RoleName(u.role);
              json out = UserJson(u);
              if (generated) out["password"] = password;
              return JsonResponse(201, out);
            });
  table.Add("GET", "/api/v1/users/{id}", Access::kAudit,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              auto u = deps.store.GetUser(p.tenant.id, path.at("id"));
              if (!u) return LookupError(u.error(), "user");
              return JsonResponse(200, UserJson(*u));
            });
  table.Add(
      "PATCH", "/api/v1/users/{id}", Access::kKeys,
      [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
        auto u = deps.store.GetUser(p.tenant.id, path.at("id"));
        if (!u) return LookupError(u.error(), "user");
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"role", JsonType::kString},
                                         {"language", JsonType::kString},
                                         {"password", JsonType::kString},
                                         {"totp_enabled", JsonType::kBool}})) {
          return Err(*e);
        }
        // An admin can turn a user's second factor off (a lost phone), never on: only the user
        // can enrol (POST /session/totp).
        if (body->contains("totp_enabled") && (*body)["totp_enabled"].get<bool>()) {
          return Err(BadRequest("invalid_field", "totp_enabled",
                                "totp_enabled: only false; users enrol themselves"));
        }
        if (body->contains("role") && !ParseRole((*body)["role"].get<std::string>(), u->role)) {
          return Err(BadRequest("invalid_field", "role",
                                "role: expected one of admin, operator, auditor"));
        }
        if (body->contains("language")) {
          if (auto e = CheckLanguage((*body)["language"])) return Err(*e);
          u->language = (*body)["language"];
        }
        if (body->contains("password")) {
          if (auto e = CheckPassword((*body)["password"])) return Err(*e);
          auto hash = HashPassword((*body)["password"].get<std::string>());
          if (!hash) return Err(hash.error());
          u->password_hash = std::move(*hash);
          p.audit["password_changed"] = true;
        }
        if (body->contains("totp_enabled")) {
          u->totp_enabled = false;
          u->totp_secret.clear();
          p.audit["totp_disabled"] = true;
        }
        if (Status s = deps.store.UpdateUser(*u); !s.ok()) return LookupError(s, "user");
        p.audit["object_id"] = u->id;
        p.audit["role"] = RoleName(u->role);
        return JsonResponse(200, UserJson(*u));
      });
  table.Add("DELETE", "/api/v1/users/{id}", Access::kKeys,
            [deps](const HttpRequest& req, const PathParams& path, Principal& p) {
              if (auto e = CheckQuery(req, {})) return Err(*e);
              if (p.user && p.user->id == path.at("id")) {
                return Err(ApiError{409, "conflict", "a user cannot delete themselves", ""});
              }
              if (Status s = deps.store.DeleteUser(p.tenant.id, path.at("id")); !s.ok()) {
                return LookupError(s, "user");
              }
              p.audit["object_id"] = path.at("id");
              return EmptyResponse();
            });
}

}  // namespace ward::manager
