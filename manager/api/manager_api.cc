#include "manager/api/manager_api.h"

#include <fmt/format.h>

#include <charconv>

#include "agent/core/policy.h"
#include "agent/modules/schemas.h"
#include "common/config_node.h"
#include "common/log.h"
#include "common/text.h"
#include "manager/api/json_body.h"
#include "manager/api/openapi.h"
#include "manager/api/views.h"
#include "manager/auth/secrets.h"

namespace ward::manager {

using json = nlohmann::json;

struct ManagerApi::Principal {
  ApiKey key;
  Tenant tenant;
  json audit = json::object();  // what the handler did, for the audit entry
};

namespace {

HttpResponse Json(int status, json body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}
HttpResponse NoContent() {
  HttpResponse r;
  r.status = 204;
  return r;
}
HttpResponse Err(const ApiError& e) { return ErrorResponse(e); }
HttpResponse Err(const Status& s) { return ErrorResponse(FromStatus(s)); }
HttpResponse NotFoundResponse(std::string_view what) {
  return ErrorResponse({404, "not_found", fmt::format("no such {}", what), ""});
}
// Store lookups that fail with kNotFound name the object; other errors map as usual.
HttpResponse LookupError(const Status& s, std::string_view what) {
  return s.code() == StatusCode::kNotFound ? NotFoundResponse(what) : Err(s);
}

std::string BearerToken(const std::string& header) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (header.size() <= kPrefix.size() || header.compare(0, kPrefix.size(), kPrefix) != 0) {
    return "";
  }
  return header.substr(kPrefix.size());
}

const std::initializer_list<FieldSpec> kSettingsFields = {
    {"event_retention_days", JsonType::kInt, false, false, 1, 3650},
    {"heartbeat_interval_s", JsonType::kInt, false, false, 10, 86400},
    {"inactive_agent_cleanup_days", JsonType::kInt, false, false, 0, 3650},
};

std::optional<ApiError> ApplySettings(const json& obj, std::string_view prefix, TenantSettings& s) {
  if (auto e = CheckFields(obj, kSettingsFields, prefix)) return e;
  if (obj.contains("event_retention_days")) {
    s.event_retention_days = obj["event_retention_days"].get<int>();
  }
  if (obj.contains("heartbeat_interval_s")) {
    s.heartbeat_interval_s = obj["heartbeat_interval_s"].get<int>();
  }
  if (obj.contains("inactive_agent_cleanup_days")) {
    s.inactive_agent_cleanup_days = obj["inactive_agent_cleanup_days"].get<int>();
  }
  return std::nullopt;
}

// Validates a policy document with the agent's own parser (so the manager never accepts a
// document an agent would refuse); the error names the key.
std::optional<ApiError> ValidatePolicyDocument(const json& doc) {
  auto node = ConfigNode::FromJson(doc, "document");
  if (!node) return BadRequest("invalid_policy", "document", node.error().message());
  auto p = agent::Policy::FromNode(std::move(*node), agent::ModuleSchemas());
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

std::optional<TimePoint> OptTime(const json& obj, const char* key) {
  if (!obj.contains(key) || obj[key].is_null()) return std::nullopt;
  return ParseTimestamp(obj[key].get_ref<const std::string&>());
}

ApiResult<std::optional<TimePoint>> QueryTime(const HttpRequest& req, const char* name) {
  auto v = QueryParam(req, name);
  if (!v) return std::optional<TimePoint>();
  auto t = ParseTimestamp(*v);
  if (!t) {
    return BadRequest(
        "invalid_query", name,
        fmt::format("{}: expected an RFC 3339 timestamp like 2026-11-25T20:50:51Z", name));
  }
  return std::optional<TimePoint>(*t);
}

std::optional<int> ParseSeverity(std::string_view s) {
  static constexpr std::string_view kNames[] = {"info", "low", "medium", "high", "critical"};
  for (int i = 0; i < 5; ++i) {
    if (s == kNames[i] || (s.size() == 1 && s[0] == '0' + i)) return i;
  }
  return std::nullopt;
}

// Event filters shared by /events and /events/counts.
std::optional<ApiError> ReadEventFilters(const HttpRequest& req, EventQuery& q) {
  auto from = QueryTime(req, "from");
  if (!from) return from.error();
  auto to = QueryTime(req, "to");
  if (!to) return to.error();
  q.from = *from;
  q.to = *to;
  if (q.from && q.to && *q.from > *q.to) {
    return BadRequest("invalid_query", "from", "from: later than to");
  }
  auto small = [&](const char* name, std::optional<std::string>& out) -> std::optional<ApiError> {
    auto v = QueryParam(req, name);
    if (!v) return std::nullopt;
    if (v->empty() || v->size() > 256) {
      return BadRequest("invalid_query", name, fmt::format("{}: expected 1..256 bytes", name));
    }
    out = *v;
    return std::nullopt;
  };
  if (auto e = small("agent", q.agent_id)) return e;
  if (auto e = small("module", q.module)) return e;
  if (auto e = small("action", q.action)) return e;
  if (auto e = small("q", q.text)) return e;
  if (auto v = QueryParam(req, "min_severity")) {
    auto s = ParseSeverity(*v);
    if (!s) {
      return BadRequest("invalid_query", "min_severity",
                        "min_severity: expected 0..4 or info, low, medium, high, critical");
    }
    q.min_severity = *s;
  }
  return std::nullopt;
}

}  // namespace

ManagerApi::ManagerApi(Store& store, const Clock& clock, ApiOptions options)
    : store_(store),
      clock_(clock),
      options_(options),
      key_limiter_(options.key_rate_per_minute, clock),
      tenant_limiter_(options.tenant_rate_per_minute, clock),
      agent_limiter_(options.agent_rate_per_minute, clock) {
  AddRestRoutes();
}

ManagerApi::~ManagerApi() = default;

size_t ManagerApi::BodyLimitFor(std::string_view path) const {
  return path.starts_with("/agent/") ? options_.agent_body_limit : options_.body_limit;
}

std::vector<std::pair<std::string, std::string>> ManagerApi::Routes() const {
  auto r = rest_.Routes();
  r.emplace_back("POST", "/agent/v1/activate");
  r.emplace_back("POST", "/agent/v1/heartbeat");
  r.emplace_back("POST", "/agent/v1/events");
  return r;
}

void ManagerApi::AddRoute(std::string method, std::string pattern, Access access, Handler h) {
  rest_.Add(std::move(method), std::move(pattern), static_cast<int>(routes_.size()));
  routes_.push_back({access, std::move(h)});
}

HttpResponse ManagerApi::Handle(const HttpRequest& req) {
  if (req.path.starts_with("/agent/v1/") || req.path == "/agent/v1") return HandleAgent(req);
  if (req.path.starts_with("/api/v1/") || req.path == "/api/v1") return HandleRest(req);
  return Err(ApiError{404, "not_found", "no such resource", ""});
}

void ManagerApi::Audit(const Principal& p, const HttpRequest& req, const HttpResponse& res) {
  AuditEntry e;
  e.id = NewId();
  e.tenant_id = p.key.tenant_id;
  e.actor = fmt::format("apikey:{}", p.key.id);
  e.method = req.method;
  e.path = LossyUtf8(req.path.substr(0, 512));
  e.status = res.status;
  e.detail = p.audit;
  e.detail["key_name"] = p.key.name;
  if (res.status >= 400 && res.body.is_object() && res.body.contains("error")) {
    e.detail["error"] = res.body["error"];
  }
  e.at = clock_.Now();
  Status s = store_.AppendAudit(e);
  if (!s.ok())
    spdlog::error("audit entry for {} {} not stored: {}", req.method, e.path, s.ToString());
}

HttpResponse ManagerApi::HandleRest(const HttpRequest& req) {
  if (req.method == "GET" && req.path == "/api/v1/openapi.json") {
    return Json(200, OpenApiDocument());
  }
  // Authentication.
  std::string secret = BearerToken(req.authorization);
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
  // Rate limits: per key, then per tenant.
  for (auto [limiter, name] : {std::pair{&key_limiter_, "apikey:" + key->id},
                               std::pair{&tenant_limiter_, "tenant:" + key->tenant_id}}) {
    if (int wait = limiter->Take(name); wait > 0) {
      HttpResponse r = Err(ApiError{429, "rate_limited",
                                    fmt::format("rate limit reached; retry in {} s", wait), ""});
      r.headers.emplace_back("Retry-After", std::to_string(wait));
      return r;
    }
  }
  Principal p{std::move(*key), std::move(*tenant)};
  const bool mutating = req.method != "GET" && req.method != "HEAD";
  auto finish = [&](HttpResponse r) {
    if (mutating) Audit(p, req, r);
    return r;
  };
  auto m = rest_.Route(req.method, req.path);
  if (m.id < 0) {
    HttpResponse r = Err(m.error);
    if (!m.allow.empty()) r.headers.emplace_back("Allow", m.allow);
    return finish(std::move(r));
  }
  const Route& route = routes_[static_cast<size_t>(m.id)];
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

void ManagerApi::AddRestRoutes() {
  // ---- tenants (primary-tenant admins) -------------------------------------------------------
  AddRoute("GET", "/api/v1/tenants", Access::kPrimaryAdmin,
           [this](const HttpRequest& req, const PathParams&, Principal&) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             auto list = store_.ListTenants();
             if (!list) return Err(list.error());
             json items = json::array();
             for (const auto& t : *list) items.push_back(TenantJson(t));
             return Json(200, {{"items", items}});
           });
  AddRoute("POST", "/api/v1/tenants", Access::kPrimaryAdmin,
           [this](const HttpRequest& req, const PathParams&, Principal& p) {
             auto body = ParseObjectBody(req.body);
             if (!body) return Err(body.error());
             if (auto e = CheckFields(*body, {{"name", JsonType::kString, true, false, 1, 200},
                                              {"settings", JsonType::kObject}})) {
               return Err(*e);
             }
             Tenant t;
             t.id = NewId();
             t.name = (*body)["name"];
             t.created_at = clock_.Now();
             if (body->contains("settings")) {
               if (auto e = ApplySettings((*body)["settings"], "settings.", t.settings)) {
                 return Err(*e);
               }
             }
             ApiKey k;
             k.id = NewId();
             k.tenant_id = t.id;
             k.name = "initial admin";
             k.role = Role::kAdmin;
             std::string secret = NewApiKeySecret();
             k.secret_hash = HashSecret(secret);
             k.created_at = t.created_at;
             if (Status s = store_.CreateTenant(t); !s.ok()) return Err(s);
             if (Status s = store_.CreateApiKey(k); !s.ok()) {
               // Undo the tenant so a failed create leaves nothing behind.
               Status undo = store_.DeleteTenant(t.id);
               if (!undo.ok())
                 spdlog::error("tenant {} left without a key: {}", t.id, undo.ToString());
               return Err(s);
             }
             p.audit["object_id"] = t.id;
             json out = TenantJson(t);
             out["admin_key"] = {{"id", k.id}, {"role", "admin"}, {"secret", secret}};
             return Json(201, out);
           });
  AddRoute("GET", "/api/v1/tenants/{id}", Access::kPrimaryAdmin,
           [this](const HttpRequest& req, const PathParams& path, Principal&) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             auto t = store_.GetTenant(path.at("id"));
             if (!t) return LookupError(t.error(), "tenant");
             return Json(200, TenantJson(*t));
           });
  AddRoute("PATCH", "/api/v1/tenants/{id}", Access::kPrimaryAdmin,
           [this](const HttpRequest& req, const PathParams& path, Principal& p) {
             auto t = store_.GetTenant(path.at("id"));
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
             if (Status s = store_.UpdateTenant(*t); !s.ok()) return LookupError(s, "tenant");
             p.audit["object_id"] = t->id;
             p.audit["change"] = *body;
             return Json(200, TenantJson(*t));
           });
  AddRoute("DELETE", "/api/v1/tenants/{id}", Access::kPrimaryAdmin,
           [this](const HttpRequest& req, const PathParams& path, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             auto t = store_.GetTenant(path.at("id"));
             if (!t) return LookupError(t.error(), "tenant");
             if (t->primary) {
               return Err(ApiError{409, "conflict", "the primary tenant cannot be deleted", ""});
             }
             if (Status s = store_.DeleteTenant(t->id); !s.ok()) return LookupError(s, "tenant");
             p.audit["object_id"] = t->id;
             return NoContent();
           });

  // ---- settings of one's own tenant ----------------------------------------------------------
  AddRoute("GET", "/api/v1/settings", Access::kAny,
           [](const HttpRequest& req, const PathParams&, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             return Json(200, SettingsJson(p.tenant.settings));
           });
  AddRoute("PATCH", "/api/v1/settings", Access::kAdmin,
           [this](const HttpRequest& req, const PathParams&, Principal& p) {
             auto body = ParseObjectBody(req.body);
             if (!body) return Err(body.error());
             Tenant t = p.tenant;
             if (auto e = ApplySettings(*body, "", t.settings)) return Err(*e);
             if (Status s = store_.UpdateTenant(t); !s.ok()) return Err(s);
             p.audit["change"] = *body;
             return Json(200, SettingsJson(t.settings));
           });

  // ---- API keys --------------------------------------------------------------------------------
  AddRoute("GET", "/api/v1/apikeys", Access::kAudit,
           [this](const HttpRequest& req, const PathParams&, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             auto list = store_.ListApiKeys(p.tenant.id);
             if (!list) return Err(list.error());
             json items = json::array();
             for (const auto& k : *list) items.push_back(ApiKeyJson(k));
             return Json(200, {{"items", items}});
           });
  AddRoute("POST", "/api/v1/apikeys", Access::kKeys,
           [this](const HttpRequest& req, const PathParams&, Principal& p) {
             auto body = ParseObjectBody(req.body);
             if (!body) return Err(body.error());
             if (auto e = CheckFields(*body, {{"name", JsonType::kString, true, false, 1, 200},
                                              {"role", JsonType::kString, true},
                                              {"expires_at", JsonType::kTimestamp, false, true}})) {
               return Err(*e);
             }
             ApiKey k;
             if (!ParseRole((*body)["role"].get<std::string>(), k.role)) {
               return Err(BadRequest("invalid_field", "role",
                                     "role: expected one of admin, operator, auditor"));
             }
             k.expires_at = OptTime(*body, "expires_at");
             if (k.expires_at && *k.expires_at <= clock_.Now()) {
               return Err(BadRequest("invalid_field", "expires_at", "expires_at: in the past"));
             }
             k.id = NewId();
             k.tenant_id = p.tenant.id;
             k.name = (*body)["name"];
             std::string secret = NewApiKeySecret();
             k.secret_hash = HashSecret(secret);
             k.created_at = clock_.Now();
             if (Status s = store_.CreateApiKey(k); !s.ok()) return Err(s);
             p.audit["object_id"] = k.id;
             p.audit["role"] = RoleName(k.role);
             json out = ApiKeyJson(k);
             out["secret"] = secret;
             return Json(201, out);
           });
  AddRoute("GET", "/api/v1/apikeys/{id}", Access::kAudit,
           [this](const HttpRequest& req, const PathParams& path, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             auto k = store_.GetApiKey(p.tenant.id, path.at("id"));
             if (!k) return LookupError(k.error(), "API key");
             return Json(200, ApiKeyJson(*k));
           });
  AddRoute("DELETE", "/api/v1/apikeys/{id}", Access::kKeys,
           [this](const HttpRequest& req, const PathParams& path, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             if (Status s = store_.RevokeApiKey(p.tenant.id, path.at("id")); !s.ok()) {
               return LookupError(s, "API key");
             }
             p.audit["object_id"] = path.at("id");
             return NoContent();
           });

  // ---- activation tokens ------------------------------------------------------------------------
  AddRoute("GET", "/api/v1/activation-tokens", Access::kAny,
           [this](const HttpRequest& req, const PathParams&, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             auto list = store_.ListActivationTokens(p.tenant.id);
             if (!list) return Err(list.error());
             json items = json::array();
             for (const auto& t : *list) items.push_back(ActivationTokenJson(t));
             return Json(200, {{"items", items}});
           });
  AddRoute("POST", "/api/v1/activation-tokens", Access::kWrite,
           [this](const HttpRequest& req, const PathParams&, Principal& p) {
             auto body = ParseObjectBody(req.body);
             if (!body) return Err(body.error());
             if (auto e = CheckFields(*body,
                                      {{"name", JsonType::kString, false, false, 0, 200},
                                       {"policy_id", JsonType::kString, false, true, 1, 128},
                                       {"expires_at", JsonType::kTimestamp, false, true},
                                       {"max_uses", JsonType::kInt, false, true, 1, 1000000000}})) {
               return Err(*e);
             }
             ActivationToken t;
             t.id = NewId();
             t.tenant_id = p.tenant.id;
             if (body->contains("name")) t.name = (*body)["name"];
             if (body->contains("policy_id") && !(*body)["policy_id"].is_null()) {
               std::string pid = (*body)["policy_id"];
               auto pol = store_.GetPolicy(p.tenant.id, pid);
               if (!pol) {
                 if (pol.error().code() != StatusCode::kNotFound) return Err(pol.error());
                 return Err(ApiError{404, "not_found", "policy_id: no such policy", "policy_id"});
               }
               t.policy_id = pid;
             }
             t.expires_at = OptTime(*body, "expires_at");
             if (t.expires_at && *t.expires_at <= clock_.Now()) {
               return Err(BadRequest("invalid_field", "expires_at", "expires_at: in the past"));
             }
             if (body->contains("max_uses") && !(*body)["max_uses"].is_null()) {
               t.max_uses = (*body)["max_uses"].get<int>();
             }
             std::string token = NewActivationToken();
             t.token_hash = HashSecret(token);
             t.created_at = clock_.Now();
             if (Status s = store_.CreateActivationToken(t); !s.ok()) return Err(s);
             p.audit["object_id"] = t.id;
             json out = ActivationTokenJson(t);
             out["token"] = token;
             return Json(201, out);
           });
  AddRoute("GET", "/api/v1/activation-tokens/{id}", Access::kAny,
           [this](const HttpRequest& req, const PathParams& path, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             auto t = store_.GetActivationToken(p.tenant.id, path.at("id"));
             if (!t) return LookupError(t.error(), "activation token");
             return Json(200, ActivationTokenJson(*t));
           });
  AddRoute("DELETE", "/api/v1/activation-tokens/{id}", Access::kWrite,
           [this](const HttpRequest& req, const PathParams& path, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             if (Status s = store_.RevokeActivationToken(p.tenant.id, path.at("id")); !s.ok()) {
               return LookupError(s, "activation token");
             }
             p.audit["object_id"] = path.at("id");
             return NoContent();
           });

  // ---- agents
  // -------------------------------------------------------------------------------------
  AddRoute(
      "GET", "/api/v1/agents", Access::kAny,
      [this](const HttpRequest& req, const PathParams&, Principal& p) {
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
        auto list = store_.ListAgents(p.tenant.id, f);
        if (!list) return Err(list.error());
        json items = json::array();
        for (const auto& a : *list) items.push_back(AgentJson(a));
        return Json(200, {{"items", items}});
      });
  AddRoute("GET", "/api/v1/agents/{id}", Access::kAny,
           [this](const HttpRequest& req, const PathParams& path, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             auto a = store_.GetAgent(p.tenant.id, path.at("id"));
             if (!a) return LookupError(a.error(), "agent");
             return Json(200, AgentJson(*a));
           });
  AddRoute(
      "PATCH", "/api/v1/agents/{id}", Access::kWrite,
      [this](const HttpRequest& req, const PathParams& path, Principal& p) {
        auto a = store_.GetAgent(p.tenant.id, path.at("id"));
        if (!a) return LookupError(a.error(), "agent");
        auto body = ParseObjectBody(req.body);
        if (!body) return Err(body.error());
        if (auto e = CheckFields(*body, {{"policy_id", JsonType::kString, true, true, 1, 128}})) {
          return Err(*e);
        }
        std::optional<std::string> pid;
        if (!(*body)["policy_id"].is_null()) {
          pid = (*body)["policy_id"].get<std::string>();
          auto pol = store_.GetPolicy(p.tenant.id, *pid);
          if (!pol) {
            if (pol.error().code() != StatusCode::kNotFound) return Err(pol.error());
            return Err(ApiError{404, "not_found", "policy_id: no such policy", "policy_id"});
          }
        }
        if (Status s = store_.AssignPolicy(p.tenant.id, a->id, pid); !s.ok()) {
          return LookupError(s, "agent");
        }
        a->policy_id = pid;
        p.audit["object_id"] = a->id;
        p.audit["policy_id"] = pid ? json(*pid) : json(nullptr);
        return Json(200, AgentJson(*a));
      });
  AddRoute("DELETE", "/api/v1/agents/{id}", Access::kWrite,
           [this](const HttpRequest& req, const PathParams& path, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             if (Status s = store_.DeleteAgent(p.tenant.id, path.at("id")); !s.ok()) {
               return LookupError(s, "agent");
             }
             p.audit["object_id"] = path.at("id");
             return NoContent();
           });
  AddRoute("GET", "/api/v1/agents/{id}/commands", Access::kAny,
           [this](const HttpRequest& req, const PathParams& path, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             auto a = store_.GetAgent(p.tenant.id, path.at("id"));
             if (!a) return LookupError(a.error(), "agent");
             auto list = store_.ListCommands(p.tenant.id, a->id);
             if (!list) return Err(list.error());
             json items = json::array();
             for (const auto& c : *list) items.push_back(CommandJson(c));
             return Json(200, {{"items", items}});
           });
  AddRoute("POST", "/api/v1/agents/{id}/commands", Access::kWrite,
           [this](const HttpRequest& req, const PathParams& path, Principal& p) {
             auto a = store_.GetAgent(p.tenant.id, path.at("id"));
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
             c.created_at = clock_.Now();
             if (Status s = store_.QueueCommand(c); !s.ok()) return LookupError(s, "agent");
             p.audit["object_id"] = c.id;
             p.audit["agent_id"] = a->id;
             p.audit["command"] = c.name;
             return Json(201, CommandJson(c));
           });

  // ---- policies
  // -----------------------------------------------------------------------------------
  AddRoute("GET", "/api/v1/policies", Access::kAny,
           [this](const HttpRequest& req, const PathParams&, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             auto list = store_.ListPolicies(p.tenant.id);
             if (!list) return Err(list.error());
             json items = json::array();
             for (const auto& pol : *list) items.push_back(PolicyJson(pol));
             return Json(200, {{"items", items}});
           });
  AddRoute("POST", "/api/v1/policies", Access::kWrite,
           [this](const HttpRequest& req, const PathParams&, Principal& p) {
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
             pol.created_at = pol.updated_at = clock_.Now();
             if (Status s = store_.CreatePolicy(pol); !s.ok()) return Err(s);
             p.audit["object_id"] = pol.id;
             return Json(201, PolicyJson(pol));
           });
  AddRoute("GET", "/api/v1/policies/{id}", Access::kAny,
           [this](const HttpRequest& req, const PathParams& path, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             auto pol = store_.GetPolicy(p.tenant.id, path.at("id"));
             if (!pol) return LookupError(pol.error(), "policy");
             return Json(200, PolicyJson(*pol));
           });
  auto update_policy = [this](const HttpRequest& req, const PathParams& path, Principal& p) {
    auto pol = store_.GetPolicy(p.tenant.id, path.at("id"));
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
    auto updated = store_.UpdatePolicy(p.tenant.id, pol->id, name, doc, clock_.Now());
    if (!updated) return LookupError(updated.error(), "policy");
    p.audit["object_id"] = pol->id;
    p.audit["version"] = updated->version;
    return Json(200, PolicyJson(*updated));
  };
  AddRoute("PATCH", "/api/v1/policies/{id}", Access::kWrite, update_policy);
  AddRoute("PUT", "/api/v1/policies/{id}", Access::kWrite, update_policy);
  AddRoute("DELETE", "/api/v1/policies/{id}", Access::kWrite,
           [this](const HttpRequest& req, const PathParams& path, Principal& p) {
             if (auto e = CheckQuery(req, {})) return Err(*e);
             if (Status s = store_.DeletePolicy(p.tenant.id, path.at("id")); !s.ok()) {
               return LookupError(s, "policy");
             }
             p.audit["object_id"] = path.at("id");
             return NoContent();
           });

  // ---- events
  // -------------------------------------------------------------------------------------
  AddRoute("GET", "/api/v1/events/counts", Access::kAny,
           [this](const HttpRequest& req, const PathParams&, Principal& p) {
             if (auto e = CheckQuery(req, {"from", "to", "agent", "module", "min_severity",
                                           "action", "q", "bucket"})) {
               return Err(*e);
             }
             EventQuery q;
             if (auto e = ReadEventFilters(req, q)) return Err(*e);
             std::chrono::seconds bucket(3600);
             if (auto b = QueryParam(req, "bucket")) {
               auto d = ParseDuration(*b);
               if (!d || *d < std::chrono::seconds(60) || *d > std::chrono::days(366)) {
                 return Err(BadRequest("invalid_query", "bucket",
                                       "bucket: expected a duration from 1m to 366d (e.g. 1h)"));
               }
               bucket = std::chrono::duration_cast<std::chrono::seconds>(*d);
             }
             if (!q.to) q.to = clock_.Now();
             if (!q.from) q.from = *q.to - std::chrono::hours(24);
             if ((*q.to - *q.from) / bucket > 10000) {
               return Err(BadRequest("invalid_query", "bucket",
                                     "bucket: more than 10000 buckets in [from, to)"));
             }
             auto counts = store_.CountEvents(p.tenant.id, q, bucket);
             if (!counts) return Err(counts.error());
             json items = json::array();
             for (const auto& c : *counts) {
               items.push_back({{"bucket", TimeJson(c.bucket)},
                                {"module", c.module},
                                {"severity", c.severity},
                                {"count", c.count}});
             }
             return Json(200, {{"from", TimeJson(*q.from)},
                               {"to", TimeJson(*q.to)},
                               {"bucket_s", bucket.count()},
                               {"items", items}});
           });
  AddRoute("GET", "/api/v1/events", Access::kAny,
           [this](const HttpRequest& req, const PathParams&, Principal& p) {
             if (auto e = CheckQuery(req, {"from", "to", "agent", "module", "min_severity",
                                           "action", "q", "order", "limit", "cursor"})) {
               return Err(*e);
             }
             EventQuery q;
             if (auto e = ReadEventFilters(req, q)) return Err(*e);
             auto limit = ReadLimit(req, 100, 1000);
             if (!limit) return Err(limit.error());
             q.limit = *limit;
             if (auto o = QueryParam(req, "order")) {
               if (*o == "desc")
                 q.descending = true;
               else if (*o != "asc") {
                 return Err(BadRequest("invalid_query", "order", "order: expected asc or desc"));
               }
             }
             if (auto c = QueryParam(req, "cursor")) {
               auto after = DecodeCursor(*c);
               if (!after) {
                 return Err(BadRequest("invalid_pagination", "cursor",
                                       "cursor: not a cursor this API returned"));
               }
               q.after = *after;
             }
             auto events = store_.QueryEvents(p.tenant.id, q);
             if (!events) return Err(events.error());
             json items = json::array();
             for (const auto& e : *events) items.push_back(e.doc);
             json next = nullptr;
             if (static_cast<int>(events->size()) == q.limit && !events->empty()) {
               next = EncodeCursor(events->back().timestamp, events->back().id);
             }
             return Json(200, {{"items", items}, {"next_cursor", next}});
           });

  // ---- audit
  // ----------------------------------------------------------------------------------------
  AddRoute("GET", "/api/v1/audit", Access::kAudit,
           [this](const HttpRequest& req, const PathParams&, Principal& p) {
             if (auto e = CheckQuery(req, {"limit", "cursor"})) return Err(*e);
             auto limit = ReadLimit(req, 100, 1000);
             if (!limit) return Err(limit.error());
             std::optional<std::pair<TimePoint, std::string>> after;
             if (auto c = QueryParam(req, "cursor")) {
               after = DecodeCursor(*c);
               if (!after) {
                 return Err(BadRequest("invalid_pagination", "cursor",
                                       "cursor: not a cursor this API returned"));
               }
             }
             auto entries = store_.QueryAudit(p.tenant.id, after, *limit);
             if (!entries) return Err(entries.error());
             json items = json::array();
             for (const auto& e : *entries) items.push_back(AuditJson(e));
             json next = nullptr;
             if (static_cast<int>(entries->size()) == *limit && !entries->empty()) {
               next = EncodeCursor(entries->back().at, entries->back().id);
             }
             return Json(200, {{"items", items}, {"next_cursor", next}});
           });
}

}  // namespace ward::manager
