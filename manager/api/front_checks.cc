// The part of ManagerApi the network front calls before it reads a body (CheckBeforeBody) and
// for its aggregated audit rows (AuditAuthFailures). See manager/api/server.h.
#include <fmt/format.h>

#include "common/log.h"
#include "manager/api/manager_api.h"
#include "manager/auth/secrets.h"

namespace ward::manager {
namespace {

std::string BearerSecret(std::string_view header) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (header.size() <= kPrefix.size() || header.compare(0, kPrefix.size(), kPrefix) != 0) {
    return "";
  }
  return std::string(header.substr(kPrefix.size()));
}

HttpResponse Unauthenticated(std::string message) {
  return ErrorResponse({401, "unauthenticated", std::move(message), ""});
}

HttpResponse StoreFailure(const Status& s) {
  if (s.code() == StatusCode::kUnavailable) {
    spdlog::warn("authentication: store unavailable: {}", s.message());
    return ErrorResponse({503, "unavailable", "the database cannot be reached; retry later", ""});
  }
  spdlog::error("authentication: {}", s.ToString());
  return ErrorResponse({500, "internal", "internal error", ""});
}

}  // namespace

std::optional<HttpResponse> ManagerApi::CheckBeforeBody(const HttpRequest& head) {
  const bool agent = head.path.starts_with("/agent/v1/") || head.path == "/agent/v1";
  const bool rest = head.path.starts_with("/api/v1/") || head.path == "/api/v1";
  if (agent) {
    // The packages take no body and no credential.
    if (head.path == "/agent/v1/packages" || head.path.starts_with("/agent/v1/packages/")) {
      return Handle(head);
    }
    const bool activate = head.path == "/agent/v1/activate";
    const bool known =
        activate || head.path == "/agent/v1/heartbeat" || head.path == "/agent/v1/events" ||
        head.path == "/agent/v1/updates/manifest" || head.path == "/agent/v1/updates/file" ||
        head.path == "/agent/v1/upgrade/package";
    // 404 and 405 do not depend on the body.
    if (!known || head.method != "POST") return Handle(head);
    if (activate) return std::nullopt;  // the token is in the (small) body
    std::string secret = BearerSecret(head.Authorization());
    if (secret.empty()) return Unauthenticated("missing agent credential");
    if (!secret.starts_with("wac_")) {
      return Unauthenticated("API keys are not accepted on /agent/v1; use the agent credential");
    }
    auto found = store_.FindAgentByCredentialHash(HashSecret(secret));
    if (!found) {
      if (found.error().code() == StatusCode::kNotFound) {
        return Unauthenticated("unknown credential");
      }
      return StoreFailure(found.error());
    }
    auto tenant = store_.GetTenant(found->tenant_id);
    if (!tenant) {
      if (tenant.error().code() == StatusCode::kNotFound) {
        return Unauthenticated("unknown credential");
      }
      return StoreFailure(tenant.error());
    }
    if (tenant->disabled) return Unauthenticated("tenant disabled");
    return std::nullopt;
  }
  if (!rest) return Handle(head);  // 404
  // Console sign-in: the credentials are in the (small) body, as activation's token is.
  if (ConsoleSessions::IsSessionPath(head.path)) return std::nullopt;
  // Without an Authorization header, a console session cookie (and its CSRF header) may
  // authenticate the request, exactly as HandleRest will.
  if (!head.headers.Has("Authorization")) {
    ConsoleSessions::Auth auth = sessions_->Authenticate(head);
    if (auth.denied) return *auth.denied;
    if (auth.caller) return std::nullopt;
  }
  std::string secret = BearerSecret(head.Authorization());
  if (secret.empty()) return Unauthenticated("missing API key (Authorization: Bearer <key>)");
  if (secret.starts_with("wac_")) {
    return Unauthenticated("agent credentials are not accepted on /api/v1; use an API key");
  }
  auto key = store_.FindApiKeyByHash(HashSecret(secret));
  if (!key) {
    if (key.error().code() == StatusCode::kNotFound) return Unauthenticated("invalid API key");
    return StoreFailure(key.error());
  }
  if (key->revoked) return Unauthenticated("API key revoked");
  if (key->expires_at && *key->expires_at <= clock_.Now()) {
    return Unauthenticated("API key expired");
  }
  auto tenant = store_.GetTenant(key->tenant_id);
  if (!tenant) {
    if (tenant.error().code() == StatusCode::kNotFound) return Unauthenticated("invalid API key");
    return StoreFailure(tenant.error());
  }
  if (tenant->disabled) return Unauthenticated("tenant disabled");
  return std::nullopt;
}

void ManagerApi::AuditAuthFailures(const std::vector<AuthFailureSummary>& summaries) {
  if (summaries.empty()) return;
  auto tenants = store_.ListTenants();
  if (!tenants) {
    spdlog::error("audit of {} authentication failure rows not stored: {}", summaries.size(),
                  tenants.error().ToString());
    return;
  }
  std::string primary;
  for (const auto& t : *tenants) {
    if (t.primary) primary = t.id;
  }
  if (primary.empty()) {
    spdlog::error("audit of authentication failures: no primary tenant");
    return;
  }
  for (const auto& s : summaries) {
    spdlog::warn("authentication failures from {}: {} failed, {} throttled", s.address, s.failures,
                 s.throttled);
    AuditEntry e;
    e.id = NewId();
    e.tenant_id = primary;
    e.actor = fmt::format("address:{}", s.address);
    e.method = "AUTH";
    e.path = "*";
    e.status = s.failures > 0 ? 401 : 429;
    e.detail = {{"event", "authentication_failures"},
                {"source_address", s.address},
                {"failures", s.failures},
                {"throttled", s.throttled},
                {"first", FormatTimestamp(s.first)},
                {"last", FormatTimestamp(s.last)}};
    e.at = clock_.Now();
    Status st = store_.AppendAudit(e);
    if (!st.ok()) {
      spdlog::error("audit of authentication failures from {} not stored: {}", s.address,
                    st.ToString());
    }
  }
}

}  // namespace ward::manager
