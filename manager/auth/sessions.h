// Console sessions on the wire: the cookie that carries the session secret and the CSRF token
// derived from it (docs/console.md, "Sign-in and sessions").
//   cookie  __Host-ward_session=wss_<43 chars base64url: 256 bits>; Path=/; Secure; HttpOnly;
//           SameSite=Strict  (the __Host- prefix makes browsers refuse it without Secure and
//           Path=/ and with a Domain)
//   CSRF    X-Ward-CSRF: <64 hex> = SHA-256("ward-csrf:" + secret): a page script can read it
//           from GET /api/v1/session, another site cannot (it has neither the cookie's value nor
//           the response); required on every mutating request made with the cookie.
// Only SHA-256 of the secret is stored (Store::CreateSession).
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ward::manager {

inline constexpr std::string_view kSessionCookie = "__Host-ward_session";
inline constexpr std::string_view kCsrfHeader = "X-Ward-CSRF";

std::string NewSessionSecret();

// The session secret from a Cookie header ("a=b; __Host-ward_session=wss_…"), or nullopt.
std::optional<std::string> SessionFromCookieHeader(std::string_view cookie_header);

// The CSRF token of a session secret.
std::string CsrfTokenFor(std::string_view session_secret);

// Set-Cookie values: the session (expires with the browser unless max_age_s > 0), and one that
// removes it.
std::string SessionSetCookie(std::string_view secret, long long max_age_s);
std::string SessionClearCookie();

}  // namespace ward::manager
