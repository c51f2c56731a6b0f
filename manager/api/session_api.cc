#include "manager/api/session_api.h"

#include <fmt/format.h>

#include "common/log.h"
#include "common/text.h"
#include "manager/api/json_body.h"
#include "manager/api/views.h"
#include "manager/auth/passwords.h"
#include "manager/auth/secrets.h"
#include "manager/auth/sessions.h"
#include "manager/auth/time_zones.h"
#include "manager/auth/totp.h"

namespace ward::manager {

using json = nlohmann::json;

std::optional<ApiError> CheckLanguage(const json& v);  // routes/users.cc

namespace {

HttpResponse Unauthenticated(std::string message) {
  HttpResponse r = ErrorResponse(ApiError{401, "unauthenticated", std::move(message), ""});
  return r;
}

// A 401 for a session cookie that names no live session (expired, signed out, its user or
// tenant gone): not a failed authentication for the per-address throttle. The cookie's secret
// is 256 random bits, so it cannot be guessed by trying; it is a tab left open after its
// session ended, and an office behind one address must not be throttled by its idle tabs.
HttpResponse SessionEnded(std::string message) {
  HttpResponse r = Unauthenticated(std::move(message));
  r.counts_as_auth_failure = false;
  return r;
}

json SessionJson(const ConsoleSessions::Caller& c, const std::string& csrf,
                 std::chrono::seconds idle) {
  TimePoint idle_end = c.session.last_seen + idle;
  return {{"user", UserJson(c.user)},
          {"tenant", {{"id", c.tenant.id}, {"name", c.tenant.name}, {"primary", c.tenant.primary}}},
          {"csrf_token", csrf},
          {"idle_expires_at", TimeJson(std::min(idle_end, c.session.expires_at))},
          {"expires_at", TimeJson(c.session.expires_at)}};
}

bool IsJson(const HttpRequest& req) {
  std::string_view ct = req.headers.Value("Content-Type");
  return ct.starts_with("application/json");
}

}  // namespace

ConsoleSessions::ConsoleSessions(Store& store, const Clock& clock, SessionOptions options)
    : store_(store),
      clock_(clock),
      options_(options),
      user_limiter_(options.signin_per_user_per_minute, clock),
      address_limiter_(options.signin_per_address_per_minute, clock) {
  if (!options_.secret_box) {
    options_.secret_box = std::make_shared<const SecretBox>(SecretBox::Ephemeral());
  }
}

void ConsoleSessions::AuditSignIn(const User& u, const HttpRequest& req, int status,
                                  std::string_view what) {
  AuditEntry e;
  e.id = NewId();
  e.tenant_id = u.tenant_id;
  e.actor = fmt::format("user:{}", u.id);
  e.method = req.method;
  e.path = "/api/v1/session";
  e.status = status;
  e.detail = {{"username", u.username},
              {"event", std::string(what)},
              {"address", LossyUtf8(req.remote_addr.substr(0, 64))}};
  e.at = clock_.Now();
  if (Status s = store_.AppendAudit(e); !s.ok()) {
    spdlog::error("audit entry for sign-in of {} not stored: {}", u.username, s.ToString());
  }
}

HttpResponse ConsoleSessions::SignIn(const HttpRequest& req) {
  // A cross-site form cannot send application/json without a preflight the manager never allows.
  if (!IsJson(req)) {
    return ErrorResponse(
        BadRequest("invalid_body", "body", "expected Content-Type: application/json"));
  }
  if (req.body_error) return ErrorResponse(*req.body_error);
  auto body = ParseObjectBody(req.body);
  if (!body) return ErrorResponse(body.error());
  if (auto e = CheckFields(*body, {{"username", JsonType::kString, true, false, 1, 128},
                                   {"password", JsonType::kString, true, false, 1, 1024},
                                   {"totp_code", JsonType::kString, false, false, 0, 16}})) {
    return ErrorResponse(*e);
  }
  const std::string username = (*body)["username"];
  const std::string password = (*body)["password"];
  auto user = store_.FindUserByName(username);
  if (!user && user.error().code() != StatusCode::kNotFound) {
    return ErrorResponse(FromStatus(user.error()));
  }
  // Throttle per address and per user name (known or not, so that guessing names costs too).
  int wait = address_limiter_.Take("addr:" + req.remote_addr);
  if (int w = user_limiter_.Take("user:" + username); w > wait) wait = w;
  if (wait > 0) {
    spdlog::warn("sign-in throttled: user {} from {}", LossyUtf8(username.substr(0, 128)),
                 req.remote_addr);
    if (user) AuditSignIn(*user, req, 429, "sign-in throttled");
    HttpResponse r = ErrorResponse(ApiError{
        429, "rate_limited", fmt::format("too many sign-in attempts; retry in {} s", wait), ""});
    r.headers.Add("Retry-After", std::to_string(wait));
    return r;
  }
  if (!user) {
    VerifyPasswordDummy(password);
    return Unauthenticated("wrong user name or password");
  }
  if (!VerifyPassword(user->password_hash, password)) {
    AuditSignIn(*user, req, 401, "wrong password");
    return Unauthenticated("wrong user name or password");
  }
  auto tenant = store_.GetTenant(user->tenant_id);
  if (!tenant) return Unauthenticated("wrong user name or password");
  if (tenant->disabled) return Unauthenticated("tenant disabled");
  if (user->totp_enabled) {
    // The second step: the same request again with the authenticator's code. Each attempt
    // took a token from the same buckets above, so guessing codes is throttled like passwords.
    if (!body->contains("totp_code") ||
        (*body)["totp_code"].get_ref<const std::string&>().empty()) {
      return ErrorResponse(ApiError{
          401, "totp_required", "enter the 6-digit code from your authenticator app", "totp_code"});
    }
    if (auto e = CheckTotp(*user, (*body)["totp_code"].get<std::string>(), req))
      return ErrorResponse(*e);
  }
  const std::string secret = NewSessionSecret();
  Caller c{std::move(*user), std::move(*tenant), {}};
  c.session.id = NewId();
  c.session.token_hash = HashSecret(secret);
  c.session.tenant_id = c.user.tenant_id;
  c.session.user_id = c.user.id;
  c.session.created_at = c.session.last_seen = clock_.Now();
  c.session.expires_at = c.session.created_at + options_.absolute;
  if (Status s = store_.CreateSession(c.session); !s.ok()) return ErrorResponse(FromStatus(s));
  AuditSignIn(c.user, req, 200, "signed in");
  HttpResponse r = JsonResponse(200, SessionJson(c, CsrfTokenFor(secret), options_.idle));
  r.headers.Add("Set-Cookie", SessionSetCookie(secret, 0));
  r.headers.Add("Cache-Control", "no-store");
  return r;
}

std::optional<ApiError> ConsoleSessions::CheckTotp(const User& u, const std::string& code,
                                                   const HttpRequest& req) {
  std::string secret = u.totp_secret;
  if (SecretBox::IsSealed(secret)) {
    auto open = options_.secret_box->Open(secret);
    if (!open) {
      spdlog::error("user {}: the TOTP secret does not open with this manager's key file: {}", u.id,
                    open.error().ToString());
      AuditSignIn(u, req, 401, "TOTP secret unreadable (manager key)");
      return ApiError{401, "totp_invalid",
                      "this second factor cannot be checked by this manager (its key file "
                      "differs); an admin can turn it off",
                      "totp_code"};
    }
    secret = std::move(*open);
  }
  auto step = VerifyTotp(secret, code, clock_.Now());
  if (!step) {
    AuditSignIn(u, req, 401, "wrong TOTP code");
    return ApiError{401, "totp_invalid", "wrong code", "totp_code"};
  }
  if (Status s = store_.UseTotpStep(u.tenant_id, u.id, *step); !s.ok()) {
    if (s.code() != StatusCode::kFailedPrecondition) return FromStatus(s);
    AuditSignIn(u, req, 401, "TOTP code reused");
    return ApiError{401, "totp_invalid", "code already used; wait for the next one", "totp_code"};
  }
  if (!SecretBox::IsSealed(u.totp_secret)) {
    // Stored in clear by an older manager: sealed now (the code proved it is the right one).
    auto fresh = store_.GetUser(u.tenant_id, u.id);
    if (fresh && fresh->totp_secret == u.totp_secret) {
      fresh->totp_secret = options_.secret_box->Seal(secret);
      if (Status s = store_.UpdateUser(*fresh); !s.ok()) {
        spdlog::warn("user {}: sealing the TOTP secret: {}", u.id, s.ToString());
      }
    }
  }
  return std::nullopt;
}

HttpResponse ConsoleSessions::HandleTotp(const HttpRequest& req, Caller& c) {
  auto answer = [&](int status) {
    HttpResponse r = JsonResponse(
        status, SessionJson(c, CsrfTokenFor(*SessionFromCookieHeader(req.headers.Value("Cookie"))),
                            options_.idle));
    r.headers.Add("Cache-Control", "no-store");
    return r;
  };
  if (req.method != "POST") {
    HttpResponse r =
        ErrorResponse(ApiError{405, "method_not_allowed", "method not allowed on " + req.path, ""});
    r.headers.Add("Allow", "POST");
    return r;
  }
  if (req.path == "/api/v1/session/totp") {
    // Enrolment: a new secret, shown once; the factor is on after /confirm.
    if (c.user.totp_enabled) {
      return ErrorResponse(
          ApiError{409, "conflict", "the second factor is already on; turn it off first", ""});
    }
    const std::string secret = NewTotpSecret();
    c.user.totp_secret = options_.secret_box->Seal(secret);
    if (Status s = store_.UpdateUser(c.user); !s.ok()) return ErrorResponse(FromStatus(s));
    AuditSignIn(c.user, req, 201, "TOTP enrolment started");
    HttpResponse r = JsonResponse(201, {{"secret", secret},
                                        {"uri", TotpUri("Ward", c.user.username, secret)},
                                        {"digits", kTotpDigits},
                                        {"period", kTotpPeriodSeconds},
                                        {"algorithm", "SHA1"}});
    r.headers.Add("Cache-Control", "no-store");
    return r;
  }
  const bool confirm = req.path == "/api/v1/session/totp/confirm";
  if (!confirm && req.path != "/api/v1/session/totp/disable") {
    return ErrorResponse(ApiError{404, "not_found", "no such resource", ""});
  }
  if (req.body_error) return ErrorResponse(*req.body_error);
  auto body = ParseObjectBody(req.body);
  if (!body) return ErrorResponse(body.error());
  if (auto e = CheckFields(*body, {{"code", JsonType::kString, true, false, 1, 16}})) {
    return ErrorResponse(*e);
  }
  if (confirm && (c.user.totp_enabled || c.user.totp_secret.empty())) {
    return ErrorResponse(ApiError{409, "conflict",
                                  c.user.totp_enabled ? "the second factor is already on"
                                                      : "no enrolment started (POST /session/totp)",
                                  ""});
  }
  if (!confirm && !c.user.totp_enabled) {
    return ErrorResponse(ApiError{409, "conflict", "the second factor is not on", ""});
  }
  // Codes guessed here count in the sign-in throttle of the user name.
  if (int wait = user_limiter_.Take("user:" + c.user.username); wait > 0) {
    AuditSignIn(c.user, req, 429, "TOTP attempts throttled");
    HttpResponse r = ErrorResponse(
        ApiError{429, "rate_limited", fmt::format("too many attempts; retry in {} s", wait), ""});
    r.headers.Add("Retry-After", std::to_string(wait));
    return r;
  }
  if (auto e = CheckTotp(c.user, (*body)["code"].get<std::string>(), req)) {
    e->field = "code";
    if (e->status == 401) e->status = 400;  // the session itself is fine
    return ErrorResponse(*e);
  }
  if (confirm) {
    c.user.totp_enabled = true;
    // A pending secret an older manager stored in clear is sealed as it is turned on.
    if (!SecretBox::IsSealed(c.user.totp_secret)) {
      c.user.totp_secret = options_.secret_box->Seal(c.user.totp_secret);
    }
  } else {
    c.user.totp_enabled = false;
    c.user.totp_secret.clear();
  }
  if (Status s = store_.UpdateUser(c.user); !s.ok()) return ErrorResponse(FromStatus(s));
  AuditSignIn(c.user, req, 200, confirm ? "TOTP enabled" : "TOTP disabled");
  return answer(200);
}

ConsoleSessions::Auth ConsoleSessions::Authenticate(const HttpRequest& req) {
  Auth out;
  auto secret = SessionFromCookieHeader(req.headers.Value("Cookie"));
  if (!secret) return out;
  auto session = store_.FindSessionByHash(HashSecret(*secret));
  if (!session) {
    if (session.error().code() != StatusCode::kNotFound) {
      out.denied = ErrorResponse(FromStatus(session.error()));
    } else {
      out.denied = SessionEnded("not signed in (session ended)");
    }
    return out;
  }
  const TimePoint now = clock_.Now();
  if (now >= session->expires_at || now - session->last_seen >= options_.idle) {
    (void)store_.DeleteSession(session->id);
    out.denied = SessionEnded("session expired; sign in again");
    return out;
  }
  auto user = store_.GetUser(session->tenant_id, session->user_id);
  auto tenant = store_.GetTenant(session->tenant_id);
  if (!user || !tenant) {
    out.denied = SessionEnded("not signed in (session ended)");
    return out;
  }
  if (tenant->disabled) {
    out.denied = SessionEnded("tenant disabled");
    return out;
  }
  if (req.method != "GET" && req.method != "HEAD") {
    std::string_view csrf = req.headers.Value(kCsrfHeader);
    if (csrf.empty() || !ConstantTimeEquals(csrf, CsrfTokenFor(*secret))) {
      out.denied = ErrorResponse(ApiError{403, "csrf", "missing or wrong X-Ward-CSRF header", ""});
      return out;
    }
  }
  // The idle clock restarts with each request; written at most once a minute.
  if (now - session->last_seen >= std::chrono::minutes(1)) {
    if (Status s = store_.TouchSession(session->id, now); s.ok()) session->last_seen = now;
  }
  out.caller = Caller{std::move(*user), std::move(*tenant), std::move(*session)};
  return out;
}

HttpResponse ConsoleSessions::Handle(const HttpRequest& req) {
  if (req.method == "POST" && req.path == "/api/v1/session") return SignIn(req);
  if (req.path != "/api/v1/session") {
    Auth auth = Authenticate(req);
    if (auth.denied) return *auth.denied;
    if (!auth.caller) return Unauthenticated("not signed in");
    return HandleTotp(req, *auth.caller);
  }
  if (req.method != "GET" && req.method != "PATCH" && req.method != "DELETE") {
    HttpResponse r = ErrorResponse(
        ApiError{405, "method_not_allowed", "method not allowed on /api/v1/session", ""});
    r.headers.Add("Allow", "GET, POST, PATCH, DELETE");
    return r;
  }
  Auth auth = Authenticate(req);
  if (auth.denied) return *auth.denied;
  if (!auth.caller) return Unauthenticated("not signed in");
  Caller& c = *auth.caller;
  auto secret = SessionFromCookieHeader(req.headers.Value("Cookie"));
  if (req.method == "DELETE") {
    if (Status s = store_.DeleteSession(c.session.id); !s.ok()) {
      return ErrorResponse(FromStatus(s));
    }
    AuditSignIn(c.user, req, 204, "signed out");
    HttpResponse r = EmptyResponse();
    r.headers.Add("Set-Cookie", SessionClearCookie());
    return r;
  }
  if (req.method == "PATCH") {
    if (req.body_error) return ErrorResponse(*req.body_error);
    auto body = ParseObjectBody(req.body);
    if (!body) return ErrorResponse(body.error());
    if (auto e = CheckFields(*body, {{"language", JsonType::kString},
                                     {"time_zone", JsonType::kString, false, false, 0, 64}})) {
      return ErrorResponse(*e);
    }
    if (!body->contains("language") && !body->contains("time_zone")) {
      return ErrorResponse(BadRequest("invalid_body", "body", "expected language or time_zone"));
    }
    if (body->contains("language")) {
      if (auto e = CheckLanguage((*body)["language"])) return ErrorResponse(*e);
      c.user.language = (*body)["language"];
    }
    if (body->contains("time_zone")) {
      const std::string& tz = (*body)["time_zone"].get_ref<const std::string&>();
      if (!tz.empty() && !ValidTimeZone(tz)) {
        return ErrorResponse(BadRequest(
            "invalid_field", "time_zone",
            "time_zone: expected an IANA time zone name such as Asia/Tokyo or UTC (or \"\")"));
      }
      c.user.time_zone = tz;
    }
    if (Status s = store_.UpdateUser(c.user); !s.ok()) return ErrorResponse(FromStatus(s));
  }
  HttpResponse r = JsonResponse(200, SessionJson(c, CsrfTokenFor(*secret), options_.idle));
  r.headers.Add("Cache-Control", "no-store");
  return r;
}

}  // namespace ward::manager
