// ConsoleSessions: sign-in, sessions and sign-out for the web console (docs/console.md,
// docs/api.md "Sessions"), and the authentication of /api/v1 requests that carry the session
// cookie instead of an API key.
//
//   POST   /api/v1/session  {"username", "password"}  → 200 the session + Set-Cookie (no
//          credential needed; throttled per user name and per client address: 429 + Retry-After,
//          written to the audit log of the user's tenant when the user exists)
//   GET    /api/v1/session  → the signed-in user, tenant, CSRF token and expiries
//   PATCH  /api/v1/session  {"language": "en"|"ja", "time_zone": "Asia/Tokyo"}  → the user's own
//          language and time zone (an IANA name, "" = the browser's)
//   POST   /api/v1/session/totp          → 201 {"secret", "uri"}: TOTP enrolment, shown once
//   POST   /api/v1/session/totp/confirm  {"code"} → the factor is on (the first valid code)
//   POST   /api/v1/session/totp/disable  {"code"} → the factor is off (admins: PATCH /users/{id})
// With the factor on, sign-in needs "totp_code" as well: without it the answer is 401
// "totp_required" (the password was right), a wrong or reused code is 401 "totp_invalid" (in the
// audit log, counted in the same throttle). A code is accepted once (Store::UseTotpStep). The
// secret is stored sealed with the manager's key (SessionOptions::secret_box); a secret stored in
// clear by an older manager is still read, and sealed at its next successful use.
//   DELETE /api/v1/session  → 204, the session row is deleted (the cookie no longer works)
//
// A session ends after `idle` without requests or `absolute` after sign-in, whichever is first.
// Every mutating request made with the cookie must carry X-Ward-CSRF (manager/auth/sessions.h);
// a request with an Authorization header is an API-key request and the cookie is ignored.
// Thread-safety: Handle/Authenticate may be called from many threads.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "manager/api/http_types.h"
#include "manager/auth/rate_limiter.h"
#include "manager/auth/secret_box.h"
#include "manager/store/store.h"

namespace ward::manager {

struct SessionOptions {
  std::chrono::seconds idle{30 * 60};
  std::chrono::seconds absolute{12 * 3600};
  int signin_per_user_per_minute = 10;     // attempts per user name; 0 = unlimited
  int signin_per_address_per_minute = 30;  // attempts per client address; 0 = unlimited
  // Seals the users' TOTP secrets in the database (manager/auth/secret_box.h); null: a key kept
  // in memory only (tests), so secrets do not survive a restart.
  std::shared_ptr<const SecretBox> secret_box;
};

class ConsoleSessions {
 public:
  ConsoleSessions(Store& store, const Clock& clock, SessionOptions options);

  // True for /api/v1/session and /api/v1/session/totp[/...].
  static bool IsSessionPath(std::string_view path) {
    return path == "/api/v1/session" || path == "/api/v1/session/totp" ||
           path.starts_with("/api/v1/session/totp/");
  }

  HttpResponse Handle(const HttpRequest& req);

  struct Caller {
    User user;
    Tenant tenant;
    UserSession session;
  };
  struct Auth {
    std::optional<Caller> caller;        // set when the cookie names a live session
    std::optional<HttpResponse> denied;  // set when it does not (401) or CSRF fails (403)
  };
  // For a request without Authorization header: {nullopt, nullopt} when it carries no session
  // cookie either.
  Auth Authenticate(const HttpRequest& req);

 private:
  HttpResponse SignIn(const HttpRequest& req);
  HttpResponse HandleTotp(const HttpRequest& req, Caller& c);
  // Verifies a TOTP code of `u` and records its step (refusing a replay); audits failures.
  std::optional<ApiError> CheckTotp(const User& u, const std::string& code, const HttpRequest& req);
  void AuditSignIn(const User& u, const HttpRequest& req, int status, std::string_view what);

  Store& store_;
  const Clock& clock_;
  SessionOptions options_;
  RateLimiter user_limiter_;
  RateLimiter address_limiter_;
};

}  // namespace ward::manager
