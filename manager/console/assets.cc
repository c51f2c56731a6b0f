#include "manager/console/assets.h"

namespace ward::manager {
namespace {

const ConsoleAsset* Find(std::string_view path) {
  for (const auto& a : ConsoleAssets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

// If-None-Match: "*" or a comma-separated list of (possibly weak) entity tags.
bool Matches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item == "*" || item == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool IsConsolePath(std::string_view path) {
  auto under = [&](std::string_view prefix) {
    return path == prefix ||
           (path.starts_with(prefix) && path.size() > prefix.size() && path[prefix.size()] == '/');
  };
  return !path.empty() && path[0] == '/' && !under("/api") && !under("/agent");
}

std::optional<StaticResponse> ServeConsole(std::string_view path, std::string_view if_none_match) {
  if (!IsConsolePath(path)) return std::nullopt;
  const ConsoleAsset* a = nullptr;
  if (path.starts_with("/assets/")) {
    a = Find(path);
    if (a == nullptr) return std::nullopt;
  } else {
    // The console routes in the browser (/events?…, /computers): every other path is the app.
    a = Find("/index.html");
    if (a == nullptr) return std::nullopt;
  }
  StaticResponse r;
  r.content_type = a->content_type;
  r.headers = {
      {"Content-Security-Policy", std::string(kConsoleCsp)},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
      {"Strict-Transport-Security", "max-age=31536000"},
      {"ETag", std::string(a->etag)},
      {"Cache-Control", a->immutable ? "public, max-age=31536000, immutable" : "no-cache"},
  };
  if (!if_none_match.empty() && Matches(if_none_match, a->etag)) {
    r.status = 304;
    return r;
  }
  r.body = a->body;
  return r;
}

}  // namespace ward::manager
