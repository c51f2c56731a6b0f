#include "manager/api/manager_api.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/log.h"
#include "common/text.h"
#include "manager/alerting/rules.h"
#include "manager/api/openapi.h"
#include "manager/api/routes/route_table.h"
#include "manager/auth/secrets.h"
#include "manager/console/assets.h"
#include "manager/services/egress_feeds.h"

namespace ward::manager {

using json = nlohmann::json;

namespace {

std::string BearerToken(std::string_view header) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (header.size() <= kPrefix.size() || !header.starts_with(kPrefix)) return "";
  return std::string(header.substr(kPrefix.size()));
}

}  // namespace

// /policies/{id}/egress-proposals (routes/egress_proposals.cc; declared here rather than in
// route_table.h so that adding it rebuilds one file, not every route file).
void AddEgressProposalRoutes(RouteTable& table, RouteDeps deps);

ManagerApi::ManagerApi(Store& store, const Clock& clock, ApiOptions options)
    : store_(store),
      clock_(clock),
      options_(options),
      event_index_(options_.event_schemas),
      key_limiter_(options.key_rate_per_minute, clock),
      tenant_limiter_(options.tenant_rate_per_minute, clock),
      agent_limiter_(options.agent_rate_per_minute, clock) {
  rest_ = std::make_unique<RouteTable>();
  alert_rules_ =
      std::make_unique<alerting::AlertRuleBook>(store_, clock_, options_.alert_rules_ttl);
  if (options_.updates != nullptr) {
    feeds_ = std::make_unique<FeedBundles>(options_.updates->dir() / "tenant-feeds",
                                           options_.updates->key());
  }
  // The order matters where patterns overlap (Router: first match wins).
  const RouteDeps deps{store_, clock_};
  AddTenantRoutes(*rest_, deps);
  AddSettingsRoutes(*rest_, deps);
  AddApiKeyRoutes(*rest_, deps);
  AddActivationTokenRoutes(*rest_, deps);
  AddAgentRoutes(*rest_, deps);
  AddCommandRoutes(*rest_, deps);
  AddPolicyRoutes(*rest_, deps);
  AddEventRoutes(*rest_, deps);
  AddEventExportRoutes(*rest_, deps);
  AddAuditRoutes(*rest_, deps);
  AddUserRoutes(*rest_, deps);
  AddAlertRoutes(*rest_, deps);
  AddIpsTuningRoutes(*rest_, deps);
  AddBlockedAddressRoutes(*rest_, deps);
  AddIpListRoutes(*rest_, deps);
  AddReportRoutes(*rest_, deps);
  AddSiemForwarderRoutes(*rest_, deps);
  AddInfoRoutes(*rest_, deps, options_.tls_fingerprint);
  AddUpdateRoutes(*rest_, deps, options_.updates.get());
  AddAlertingRoutes(*rest_, deps, *alert_rules_, options_.sessions.secret_box);
  AddActivationRuleRoutes(*rest_, deps);
  AddEgressProposalRoutes(*rest_, deps);
  AddAgentGroupRoutes(*rest_, deps);
  AddAgentUpgradeRoutes(*rest_, deps);
  AddEgressFeedRoutes(*rest_, deps);
  AddDeploymentRoutes(*rest_, deps,
                      {options_.packages, options_.tls_fingerprint, options_.tls_pubkey_pin});
  sessions_ = std::make_unique<ConsoleSessions>(store_, clock_, options_.sessions);
}

ManagerApi::~ManagerApi() = default;

size_t ManagerApi::BodyLimitFor(std::string_view path) const {
  if (path.starts_with("/api/v1/updates/")) return options_.update_upload_limit;
  if (path == "/api/v1/feeds" || path.starts_with("/api/v1/feeds/")) {
    return std::max(options_.body_limit, (size_t{32} << 20) + 1);  // a feed file: 32 MiB
  }
  return path.starts_with("/agent/") ? options_.agent_body_limit : options_.body_limit;
}

std::vector<std::pair<std::string, std::string>> ManagerApi::Routes() const {
  auto r = rest_->Routes();
  r.emplace_back("POST", "/agent/v1/activate");
  r.emplace_back("POST", "/agent/v1/heartbeat");
  r.emplace_back("POST", "/agent/v1/events");
  r.emplace_back("POST", "/agent/v1/updates/manifest");
  r.emplace_back("POST", "/agent/v1/updates/file");
  r.emplace_back("POST", "/agent/v1/upgrade/package");
  r.emplace_back("GET", "/agent/v1/packages");
  r.emplace_back("GET", "/agent/v1/packages/{file}");
  return r;
}

HttpResponse ManagerApi::Handle(const HttpRequest& req) {
  // The web console (manager/console/assets.h): GET/HEAD of every path outside /api and /agent.
  if ((req.method == "GET" || req.method == "HEAD") && IsConsolePath(req.path)) {
    if (auto s = ServeConsole(req.path, req.headers.Value("If-None-Match"))) {
      HttpResponse r;
      r.status = s->status;
      for (auto& [k, v] : s->headers) r.headers.Set(k, v);
      if (s->status == 200) {
        r.content_type = std::string(s->content_type);
        r.body = std::string(s->body);
      }
      return r;
    }
  }
  if (req.path.starts_with("/agent/v1/") || req.path == "/agent/v1") return HandleAgent(req);
  if (req.path.starts_with("/api/v1/") || req.path == "/api/v1") return HandleRest(req);
  return Err(ApiError{404, "not_found", "no such resource", ""});
}

void ManagerApi::Audit(const Principal& p, const HttpRequest& req, const HttpResponse& res) {
  AuditEntry e;
  e.id = NewId();
  e.tenant_id = p.key.tenant_id;
  e.actor = p.actor.empty() ? fmt::format("apikey:{}", p.key.id) : p.actor;
  e.method = req.method;
  e.path = LossyUtf8(req.path.substr(0, 512));
  e.status = res.status;
  e.detail = p.audit;
  if (p.user) {
    e.detail["username"] = p.user->username;
  } else {
    e.detail["key_name"] = p.key.name;
  }
  if (res.status >= 400 && res.error) e.detail["error"] = ErrorJson(*res.error);
  e.at = clock_.Now();
  Status s = store_.AppendAudit(e);
  if (!s.ok())
    spdlog::error("audit entry for {} {} not stored: {}", req.method, e.path, s.ToString());
}

HttpResponse ManagerApi::HandleRest(const HttpRequest& req) {
  if (req.method == "GET" && req.path == "/api/v1/openapi.json") {
    return JsonResponse(200, OpenApiDocument());
  }
  if (ConsoleSessions::IsSessionPath(req.path)) return sessions_->Handle(req);
  // Authentication: an API key, or (without an Authorization header) a console session.
  if (!req.headers.Has("Authorization")) {
    ConsoleSessions::Auth auth = sessions_->Authenticate(req);
    if (auth.denied) return *auth.denied;
    if (auth.caller) {
      Principal p;
      p.key.id = auth.caller->user.id;
      p.key.tenant_id = auth.caller->user.tenant_id;
      p.key.name = auth.caller->user.username;
      p.key.role = auth.caller->user.role;
      p.tenant = std::move(auth.caller->tenant);
      p.actor = fmt::format("user:{}", auth.caller->user.id);
      p.user = std::move(auth.caller->user);
      return HandleAuthorized(req, std::move(p));
    }
  }
  std::string secret = BearerToken(req.Authorization());
  if (secret.empty()) {
    return Err(
        ApiError{401, "unauthenticated", "missing API key (Authorization: Bearer <key>)", ""});
  }
  if (secret.starts_with("wac_")) {
    return Err(ApiError{401, "unauthenticated",
                        "agent credentials are not accepted on /api/v1; use an API key", ""});
  }
  auto key = store_.FindApiKeyByHash(HashSecret(secret));
  if (!key) {
    if (key.error().code() != StatusCode::kNotFound) return Err(key.error());
    return Err(ApiError{401, "unauthenticated", "invalid API key", ""});
  }
  if (key->revoked) return Err(ApiError{401, "unauthenticated", "API key revoked", ""});
  if (key->expires_at && *key->expires_at <= clock_.Now()) {
    return Err(ApiError{401, "unauthenticated", "API key expired", ""});
  }
  auto tenant = store_.GetTenant(key->tenant_id);
  if (!tenant) {
    if (tenant.error().code() != StatusCode::kNotFound) return Err(tenant.error());
    return Err(ApiError{401, "unauthenticated", "invalid API key", ""});
  }
  if (tenant->disabled) return Err(ApiError{401, "unauthenticated", "tenant disabled", ""});
  Principal p;
  p.key = std::move(*key);
  p.tenant = std::move(*tenant);
  p.actor = fmt::format("apikey:{}", p.key.id);
  return HandleAuthorized(req, std::move(p));
}

HttpResponse ManagerApi::HandleAuthorized(const HttpRequest& req, Principal p) {
  // Rate limits: per key (or user), then per tenant.
  for (auto [limiter, name] :
       {std::pair{&key_limiter_, p.actor}, std::pair{&tenant_limiter_, "tenant:" + p.tenant.id}}) {
    if (int wait = limiter->Take(name); wait > 0) {
      HttpResponse r = Err(ApiError{429, "rate_limited",
                                    fmt::format("rate limit reached; retry in {} s", wait), ""});
      r.headers.Add("Retry-After", std::to_string(wait));
      return r;
    }
  }
  const bool mutating = req.method != "GET" && req.method != "HEAD";
  auto finish = [&](HttpResponse r) {
    if (mutating) Audit(p, req, r);
    return r;
  };
  auto m = rest_->Match(req.method, req.path);
  if (m.id < 0) {
    HttpResponse r = Err(m.error);
    if (!m.allow.empty()) r.headers.Add("Allow", m.allow);
    return finish(std::move(r));
  }
  const RouteTable::Route& route = rest_->at(m.id);
  bool allowed = false;
  Role role = p.key.role;
  switch (route.access) {
    case Access::kAny:
      allowed = true;
      break;
    case Access::kWrite:
      allowed = role == Role::kAdmin || role == Role::kOperator;
      break;
    case Access::kAdmin:
    case Access::kKeys:
      allowed = role == Role::kAdmin;
      break;
    case Access::kAudit:
      allowed = role == Role::kAdmin || role == Role::kAuditor;
      break;
    case Access::kPrimaryAdmin:
      // Other tenants do not learn that tenant objects exist: a tenant id answers 404.
      if (!p.tenant.primary && m.params.count("id") > 0) {
        return finish(NotFoundResponse("tenant"));
      }
      allowed = role == Role::kAdmin && p.tenant.primary;
      break;
  }
  if (!allowed) {
    return finish(Err(ApiError{
        403, "forbidden",
        fmt::format("the {} role may not {} {}", RoleName(role), req.method, req.path), ""}));
  }
  if (req.body_error) return finish(Err(*req.body_error));
  return finish(route.handler(req, m.params, p));
}

}  // namespace ward::manager
