// HttpRequest / HttpResponse: the manager's own view of one HTTP exchange, independent of the
// HTTP library, so handlers, the router and the validators can be tested and fuzzed without a
// socket. The server (manager/api/server.h) converts the wire requests to and from these.
//
// A response carries bytes with their content type and headers: JSON is the common case
// (JsonResponse, ErrorResponse), static console assets another (AssetResponse: ETag,
// Cache-Control and the security headers).
// Thread-safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ward::manager {

// An error answer: {"error": {"code": ..., "message": ..., "field": ...}}.
struct ApiError {
  int status = 400;
  std::string code;
  std::string message;
  std::string field;  // the offending field or parameter, "" when none
};

// HTTP header fields in order; names compare case-insensitively (RFC 9110 5.1).
class HttpHeaders {
 public:
  using Field = std::pair<std::string, std::string>;

  // Appends a field (a repeated name keeps every value).
  void Add(std::string name, std::string value);
  // Replaces every field of that name by one.
  void Set(std::string name, std::string value);
  // The first value of `name`, or nullopt. The view lives as long as this object is unchanged.
  std::optional<std::string_view> Get(std::string_view name) const;
  // The first value of `name`, "" when absent.
  std::string_view Value(std::string_view name) const { return Get(name).value_or(""); }
  bool Has(std::string_view name) const { return Get(name).has_value(); }

  bool empty() const { return fields_.empty(); }
  size_t size() const { return fields_.size(); }
  std::vector<Field>::const_iterator begin() const { return fields_.begin(); }
  std::vector<Field>::const_iterator end() const { return fields_.end(); }

 private:
  std::vector<Field> fields_;
};

// True when two header names are equal ignoring ASCII case.
bool HeaderNameEquals(std::string_view a, std::string_view b);

struct HttpRequest {
  std::string method;                                      // GET, POST, PATCH, PUT, DELETE
  std::string path;                                        // without the query string
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  HttpHeaders headers;                                     // as received
  std::string body;                                        // decoded (gunzipped) body
  std::string remote_addr;
  // Set by the server when the body could not be read (too large, bad encoding): the answer
  // once the caller is authenticated.
  std::optional<ApiError> body_error;

  // The Authorization header's value, "" when absent.
  std::string_view Authorization() const { return headers.Value("Authorization"); }
};

struct HttpResponse {
  int status = 200;
  std::string content_type;  // "" = no body
  std::string body;          // the bytes sent as they are
  HttpHeaders headers;       // besides Content-Type and Content-Length
  // Set by ErrorResponse: the error the body describes (for the audit trail and logs).
  std::optional<ApiError> error;
  // A 401 counts as a failed authentication in the server's per-address throttle
  // (ServerOptions::auth_failures_per_minute) unless this is false: ConsoleSessions clears it
  // for a session cookie that names no live session (expired, signed out), which is a tab left
  // open, not a guess (docs/console.md, "Expired sessions and the throttle").
  bool counts_as_auth_failure = true;
  // A body too large to hold (an export): when set, `body` is ignored and the server sends the
  // answer with chunked transfer coding, calling `stream` on its worker thread until it is done.
  // Each call appends the next bytes to `out` (may append nothing) and returns true while more
  // follows, false after the last bytes. An error (or the client going away, or the server
  // stopping) ends the connection without the last chunk, so the client sees a truncated
  // transfer rather than a complete one. The server never holds more than one piece, so memory
  // stays constant whatever the size; streamed answers are not gzipped.
  std::function<Result<bool>(std::string& out)> stream;
};

inline constexpr std::string_view kJsonContentType = "application/json";

// A JSON answer (invalid UTF-8 in strings is replaced, never thrown on).
HttpResponse JsonResponse(int status, const nlohmann::json& body);
// An answer without a body (204 No Content by default).
HttpResponse EmptyResponse(int status = 204);
// {"error": ErrorJson(e)} with e.status.
HttpResponse ErrorResponse(const ApiError& e);
// {"code": ..., "message": ..., "field": ...} ("field" only when set).
nlohmann::json ErrorJson(const ApiError& e);

inline ApiError BadRequest(std::string code, std::string field, std::string message) {
  return {400, std::move(code), std::move(message), std::move(field)};
}
// Maps a store/service Status to an answer: kNotFound 404, kAlreadyExists and
// kFailedPrecondition 409, kInvalidArgument 400, kUnauthenticated 401, kPermissionDenied 403,
// kUnavailable 503, anything else 500 (with a generic message; the detail is logged).
ApiError FromStatus(const Status& s);

// ---- static assets (the console) ----------------------------------------------------------------

// The headers every answer a browser renders carries: a Content-Security-Policy that allows only
// the manager's own origin (no inline script, no framing, no plugins), X-Content-Type-Options:
// nosniff, Referrer-Policy: no-referrer and X-Frame-Options: DENY. Existing fields of these names
// are replaced.
void AddSecurityHeaders(HttpResponse& r);

// One file served as it is. Build with MakeAsset, which computes the ETag from the bytes.
struct StaticAsset {
  std::string content_type;
  std::string body;
  std::string etag;        // strong validator, quoted: "\"<32 hex digits>\""
  bool immutable = false;  // a fingerprinted name: cached for a year without revalidation
};
StaticAsset MakeAsset(std::string content_type, std::string body, bool immutable);

// The content type for a file name's extension (.html, .js, .css, .svg, .json, .png, .ico,
// .woff2, .txt, .map, ...); "application/octet-stream" for anything else. Text types carry
// "; charset=utf-8".
std::string_view ContentTypeForPath(std::string_view path);

// 200 with the asset, or 304 Not Modified (no body) when the request's If-None-Match names its
// ETag (or is "*"). Both carry ETag, Cache-Control ("public, max-age=31536000, immutable" for
// immutable assets, else "no-cache": cached but revalidated) and the security headers.
HttpResponse AssetResponse(const HttpRequest& req, const StaticAsset& asset);

// True when an If-None-Match value ("*", or a comma-separated list of entity tags, weak or strong)
// matches `etag` by the weak comparison of RFC 9110 13.1.2. Malformed lists match nothing past
// the malformed element.
bool IfNoneMatchMatches(std::string_view if_none_match, std::string_view etag);

// Parses an RFC 3339 timestamp ("2026-11-25T20:50:51Z", fractions and offsets allowed), years
// 1900..2200 (time points are int64 nanoseconds).
std::optional<std::chrono::system_clock::time_point> ParseTimestamp(std::string_view text);

}  // namespace ward::manager
