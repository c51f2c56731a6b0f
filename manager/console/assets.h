// The web console's files (console/, built by Vite at build time and embedded by
// cmake/embed_console.cmake), and how the manager answers a GET for them: the exact file for
// /assets/<hashed name> (cached for a year: the name changes with the content), index.html for
// every other non-API path (the console routes in the browser; revalidated with its ETag),
// each with a strict Content-Security-Policy (scripts and styles from 'self' only: no inline
// script, no eval) and the usual hardening headers. docs/console.md.
// Thread-safety: immutable data, safe from any thread.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ward::manager {

struct ConsoleAsset {
  std::string_view path;          // "/index.html", "/assets/index-<hash>.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view etag;          // quoted, "\"<32 hex of SHA-256>\""
  std::string_view body;
  bool immutable = false;  // under /assets/: hashed name
};

// Every embedded file (generated at build time).
std::span<const ConsoleAsset> ConsoleAssets();

inline constexpr std::string_view kConsoleCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

struct StaticResponse {
  int status = 200;  // 200, or 304 (no body) when If-None-Match matched
  std::string_view content_type;
  std::string_view body;  // empty on 304
  std::vector<std::pair<std::string, std::string>> headers;
};

// True for the paths the console owns: everything but /api/… and /agent/….
bool IsConsolePath(std::string_view path);

// The answer to GET/HEAD `path` (a console path) with the request's If-None-Match value ("" when
// absent); nullopt when no such file (a missing /assets/ file: the caller answers 404).
std::optional<StaticResponse> ServeConsole(std::string_view path, std::string_view if_none_match);

}  // namespace ward::manager
