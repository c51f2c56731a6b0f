// POST /api/v1/deployment-scripts: the script (and cloud-init user data) that installs, activates
// and starts ward-agent on a host of the caller's tenant (docs/deployment.md).
#include <fmt/format.h>

#include "agent/version.h"
#include "manager/api/json_body.h"
#include "manager/api/routes/route_table.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"
#include "manager/services/deployment_script.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

// The token given in the body, checked as activation will check it: this tenant's, not
// revoked, not expired, not used up.
std::optional<ApiError> CheckExistingToken(Store& store, const Tenant& tenant,
                                           const std::string& secret, TimePoint now,
                                           ActivationToken& out) {
  auto list = store.ListActivationTokens(tenant.id);
  if (!list) return FromStatus(list.error());
  const std::string hash = HashSecret(secret);
  for (const auto& t : *list) {
    if (t.token_hash != hash) continue;
    if (t.revoked || (t.expires_at && *t.expires_at <= now) ||
        (t.max_uses && t.uses >= *t.max_uses)) {
      break;
    }
    out = t;
    return std::nullopt;
  }
  return BadRequest("invalid_field", "token",
                    "token: not an activation token of this tenant that can still be used");
}

}  // namespace

void AddDeploymentRoutes(RouteTable& table, RouteDeps deps, DeploymentDeps deployment) {
  table.Add(
      "POST", "/api/v1/deployment-scripts", Access::kWrite,
      [deps, deployment](const HttpRequest& req, const PathParams&, Principal& p) {
        if (auto e = CheckQuery(req, {})) return Err(*e);
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"token", JsonType::kString, false, false, 1, 200},
                                         {"name", JsonType::kString, false, false, 0, 200},
                                         {"policy_id", JsonType::kString, false, true, 1, 128},
                                         {"expires_at", JsonType::kTimestamp, false, true},
                                         {"max_uses", JsonType::kInt, false, true, 1, 1000000000},
                                         {"manager_url", JsonType::kString, false, false, 1, 300},
                                         {"proxy", JsonType::kString, false, true, 0, 1024}})) {
          return Err(*e);
        }
        const bool given = body->contains("token");
        for (const char* f : {"name", "policy_id", "expires_at", "max_uses"}) {
          if (given && body->contains(f)) {
            return Err(BadRequest("invalid_field", f,
                                  fmt::format("{}: only for a new token (without \"token\")", f)));
          }
        }
        if (deployment.packages == nullptr) {
          return Err(ApiError{409, "failed_precondition",
                              "this manager serves no agent packages (start it with "
                              "--packages-dir, docs/deployment.md)",
                              ""});
        }
        auto packages = deployment.packages->AgentPackages(agent::kVersion);
        if (packages.empty()) {
          return Err(ApiError{409, "failed_precondition",
                              "the manager's --packages-dir holds no ward-agent package", ""});
        }
        if (deployment.fingerprint.empty() || deployment.pubkey_pin.empty()) {
          return Err(ApiError{409, "failed_precondition",
                              "the manager's certificate fingerprint is unknown", ""});
        }
        DeploymentScriptInput in;
        in.tenant_name = p.tenant.name;
        in.fingerprint = deployment.fingerprint;
        in.pubkey_pin = deployment.pubkey_pin;
        in.manager_version = std::string(agent::kVersion);
        in.agent_version = packages.front()->version;
        for (const auto* pkg : packages) in.packages.push_back({pkg->arch, pkg->file, pkg->sha256});
        if (body->contains("manager_url")) {
          in.manager_url = (*body)["manager_url"];
        } else {
          std::string_view host = req.headers.Value("Host");
          if (host.empty()) {
            return Err(BadRequest("invalid_field", "manager_url",
                                  "manager_url: required (the request has no Host header)"));
          }
          in.manager_url = fmt::format("https://{}", host);
        }
        if (body->contains("proxy") && !(*body)["proxy"].is_null()) in.proxy = (*body)["proxy"];
        const TimePoint now = deps.clock.Now();
        in.generated_at = FormatTimestamp(now);
        ActivationToken token;
        std::string secret;
        if (given) {
          secret = (*body)["token"];
          if (auto e = CheckExistingToken(deps.store, p.tenant, secret, now, token)) return Err(*e);
        } else {
          token.id = NewId();
          token.tenant_id = p.tenant.id;
          token.name = body->value("name", std::string("deployment script"));
          if (body->contains("policy_id") && !(*body)["policy_id"].is_null()) {
            std::string pid = (*body)["policy_id"];
            auto pol = deps.store.GetPolicy(p.tenant.id, pid);
            if (!pol) {
              if (pol.error().code() != StatusCode::kNotFound) return Err(pol.error());
              return Err(ApiError{404, "not_found", "policy_id: no such policy", "policy_id"});
            }
            token.policy_id = pid;
          }
          token.expires_at = OptTime(*body, "expires_at");
          if (token.expires_at && *token.expires_at <= now) {
            return Err(BadRequest("invalid_field", "expires_at", "expires_at: in the past"));
          }
          if (body->contains("max_uses") && !(*body)["max_uses"].is_null()) {
            token.max_uses = (*body)["max_uses"].get<int>();
          }
          secret = NewActivationToken();
          token.token_hash = HashSecret(secret);
          token.created_at = now;
        }
        in.token = secret;
        // Everything is checked before the token is stored: a refused request stores nothing.
        auto script = DeploymentScript(in);
        if (!script) {
          std::string msg = script.error().message();
          std::string field = msg.substr(0, msg.find(':'));
          return Err(BadRequest("invalid_field", field, msg));
        }
        if (!given) {
          if (Status s = deps.store.CreateActivationToken(token); !s.ok()) return Err(s);
        }
        p.audit["object_id"] = token.id;
        p.audit["token_created"] = !given;
        p.audit["manager_url"] = in.manager_url;
        json pkgs = json::array();
        for (const auto* pkg : packages) {
          pkgs.push_back({{"file", pkg->file},
                          {"version", pkg->version},
                          {"arch", pkg->arch},
                          {"sha256", pkg->sha256},
                          {"size", pkg->bytes->size()}});
        }
        return JsonResponse(given ? 200 : 201,
                            {{"script", *script},
                             {"cloud_init", CloudInitUserData(*script, p.tenant.name)},
                             {"activation_token", ActivationTokenJson(token)},
                             {"token_created", !given},
                             {"manager_url", in.manager_url},
                             {"proxy", in.proxy.empty() ? json(nullptr) : json(in.proxy)},
                             {"packages", pkgs}});
      });
}

}  // namespace ward::manager
