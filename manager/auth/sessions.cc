#include "manager/auth/sessions.h"

#include <fmt/format.h>

#include "manager/auth/secrets.h"

namespace ward::manager {

std::string NewSessionSecret() {
  // Same 256-bit base64url body as API keys, another prefix.
  std::string s = NewApiKeySecret();
  return "wss_" + s.substr(4);
}

std::optional<std::string> SessionFromCookieHeader(std::string_view header) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view item = header.substr(0, semi);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    size_t eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == kSessionCookie) {
      std::string_view v = item.substr(eq + 1);
      if (v.starts_with("wss_") && v.size() <= 128) return std::string(v);
      return std::nullopt;
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

std::string CsrfTokenFor(std::string_view session_secret) {
  return HashSecret(fmt::format("ward-csrf:{}", session_secret));
}

std::string SessionSetCookie(std::string_view secret, long long max_age_s) {
  std::string c =
      fmt::format("{}={}; Path=/; Secure; HttpOnly; SameSite=Strict", kSessionCookie, secret);
  if (max_age_s > 0) c += fmt::format("; Max-Age={}", max_age_s);
  return c;
}

std::string SessionClearCookie() {
  return fmt::format("{}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0", kSessionCookie);
}

}  // namespace ward::manager
