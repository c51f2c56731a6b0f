// Validation of JSON request bodies and query strings: every error names the field (or query
// parameter) that is wrong, so an API client can fix its request without guessing.
//
//   auto body = ParseObjectBody(req.body);                 // malformed JSON -> 400 naming offset
//   if (auto err = CheckFields(*body, {{"name", JsonType::kString, true},
//                                      {"role", JsonType::kString, true}})) ...   // types,
//                                                           // unknown and missing fields
// Thread-safety: pure functions.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "manager/api/http_types.h"

namespace ward::manager {

// A value or the ApiError that answers the request.
template <typename T>
class ApiResult {
 public:
  ApiResult(T v) : v_(std::move(v)) {}         // NOLINT: implicit by design
  ApiResult(ApiError e) : v_(std::move(e)) {}  // NOLINT
  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

enum class JsonType { kString, kInt, kBool, kObject, kArray, kTimestamp };

struct FieldSpec {
  std::string_view name;
  JsonType type;
  bool required = false;
  bool nullable = false;  // null accepted (means "unset")
  int64_t min = 0;        // kInt bounds, kString length bounds
  int64_t max = 0;        // 0 = the type's default bound (strings: 1024, ints: no bound)
};

// Parses the body as one JSON object (UTF-8, depth <= 64). An empty body is an error
// ("body: expected a JSON object").
ApiResult<nlohmann::json> ParseObjectBody(std::string_view body);

// Checks `obj` against `fields`: unknown fields, missing required ones, wrong types and bounds.
// `prefix` is prepended to field names in errors ("settings.").
std::optional<ApiError> CheckFields(const nlohmann::json& obj,
                                    std::initializer_list<FieldSpec> fields,
                                    std::string_view prefix = "");

// Query strings: only the listed parameters are allowed, each at most once.
std::optional<ApiError> CheckQuery(const HttpRequest& req,
                                   std::initializer_list<std::string_view> allowed);
// The parameter's value, or nullopt.
std::optional<std::string> QueryParam(const HttpRequest& req, std::string_view name);

// "limit": 1..max, default `def`.
ApiResult<int> ReadLimit(const HttpRequest& req, int def, int max);
// A short text filter: absent leaves `out` as it is; present must be 1..256 bytes.
std::optional<ApiError> ReadTextParam(const HttpRequest& req, const char* name,
                                      std::optional<std::string>& out);
// "order": asc (the default, leaves `descending` as it is) or desc (sets it).
std::optional<ApiError> ReadOrder(const HttpRequest& req, bool& descending);

// Opaque keyset cursors: (time, id) encoded as base64url text with a checksum, so a mangled
// cursor is refused with 400 rather than silently restarting the walk.
std::string EncodeCursor(std::chrono::system_clock::time_point t, const std::string& id);
std::optional<std::pair<std::chrono::system_clock::time_point, std::string>> DecodeCursor(
    std::string_view cursor);
// "cursor": absent leaves `out` as it is; present must be a cursor EncodeCursor made (else 400
// invalid_pagination).
std::optional<ApiError> ReadCursor(
    const HttpRequest& req,
    std::optional<std::pair<std::chrono::system_clock::time_point, std::string>>& out);

}  // namespace ward::manager
