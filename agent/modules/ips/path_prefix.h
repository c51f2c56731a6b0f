// Path-prefix scopes of IPS exclusions (`ips.exclusions[].path_prefix`, docs/ips.md): whether a
// request's URL falls under a prefix, decided on the path as a back end would resolve it, so that
// no spelling of another path can widen an exclusion onto it.
//
// This is the one implementation: the agent calls it for every request before the WAF's phase 1
// (both engines), and the manager's tuning preview (GET /api/v1/ips/tuning?exclude_path=) calls it
// on the `url.original` of past events.
//
// Normalisation (NormalizeRequestPath): the path of the request target (no query, no fragment,
// an absolute-form target loses its scheme and authority); %-escapes (and IIS %uXXXX, full-width
// ASCII folded to ASCII) decoded until nothing changes (at most 4 rounds: deeper nesting never
// matches); `\` read as `/`; each segment's `;parameters` dropped (`..;/` is `..`); empty and `.`
// segments dropped and `..` resolved (never above the root); a trailing `/` kept. A path with a
// NUL or another control character after decoding never matches. Case is kept: `/API/` is not
// under `/api/` (an exclusion only ever narrows to what its prefix spells).
//
// Matching (PathPrefixMatches): the normalised path equals the prefix or continues it at a
// segment boundary: `/api` covers `/api` and `/api/x`, not `/apix`; `/api/` covers `/api/x`.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ward::agent::ips {

inline constexpr size_t kMaxPathPrefix = 1024;

// The normalised path of a request target, or nullopt when it cannot match any prefix.
std::optional<std::string> NormalizeRequestPath(std::string_view target);

// REQUIRES: ValidatePathPrefix(prefix) is empty.
bool PathPrefixMatches(std::string_view target, std::string_view prefix);

// "" when `prefix` is a valid canonical prefix (starts with `/`, at most kMaxPathPrefix bytes,
// no `%`, `\`, `;`, `?`, `#`, quote, comma, space or control character, no empty, `.` or `..`
// segment), else what is wrong with it.
std::string ValidatePathPrefix(std::string_view prefix);

}  // namespace ward::agent::ips
