// HttpRequest / HttpResponse: the manager's own view of one HTTP exchange, independent of the
// HTTP library, so handlers, the router and the validators can be tested and fuzzed without a
// socket. The server (manager/api/server.h) converts cpp-httplib's types to and from these.
// Thread-safety: plain values.
#pragma once

#include <chrono>
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

struct HttpRequest {
  std::string method;                                      // GET, POST, PATCH, PUT, DELETE
  std::string path;                                        // without the query string
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::string authorization;                               // the header's value, "" when absent
  std::string body;                                        // decoded (gunzipped) body
  std::string remote_addr;
  // Set by the server when the body could not be read (too large, bad encoding): the answer
  // once the caller is authenticated.
  std::optional<ApiError> body_error;
};

struct HttpResponse {
  int status = 200;
  nlohmann::json body;  // null = no body
  std::vector<std::pair<std::string, std::string>> headers;
};

HttpResponse ErrorResponse(const ApiError& e);
inline ApiError BadRequest(std::string code, std::string field, std::string message) {
  return {400, std::move(code), std::move(message), std::move(field)};
}
// Maps a store/service Status to an answer: kNotFound 404, kAlreadyExists and
// kFailedPrecondition 409, kInvalidArgument 400, kUnauthenticated 401, kPermissionDenied 403,
// kUnavailable 503, anything else 500 (with a generic message; the detail is logged).
ApiError FromStatus(const Status& s);

// Parses an RFC 3339 timestamp ("2026-11-25T20:50:51Z", fractions and offsets allowed), years
// 1900..2200 (time points are int64 nanoseconds).
std::optional<std::chrono::system_clock::time_point> ParseTimestamp(std::string_view text);

}  // namespace ward::manager
