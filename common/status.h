// Status and Result<T>: how Ward reports failures a caller can act on.
//
// Our code throws nothing; a function that can fail returns Status (no value) or Result<T>.
// Result<T> uses std::expected's member names (has_value, value, error, operator*, ->) so that a
// later switch to std::expected is mechanical. Both are [[nodiscard]].
// Thread-safety: plain values; copy freely.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ward {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kUnauthenticated,
  kFailedPrecondition,
  kUnavailable,
  kDataLoss,
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid argument: integrity.schedule: ..." — for logs and CLI output.
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status PermissionDenied(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}
inline Status Unauthenticated(std::string m) {
  return {StatusCode::kUnauthenticated, std::move(m)};
}
inline Status FailedPrecondition(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DataLoss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Maps an errno value to the closest code, with "<what>: <strerror>" as the message.
Status ErrnoStatus(int err, std::string_view what);

// Aborts with a message: for programmer errors only, never for input or environment.
#define WARD_CHECK(cond)                                                   \
  do {                                                                     \
    if (!(cond)) ::ward::internal::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (0)

namespace internal {
[[noreturn]] void CheckFailed(const char* cond, const char* file, int line);
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) { WARD_CHECK(!std::get<Status>(v_).ok()); }

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    WARD_CHECK(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    WARD_CHECK(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    WARD_CHECK(has_value());
    return std::get<0>(std::move(v_));
  }
  const Status& error() const {
    WARD_CHECK(!has_value());
    return std::get<1>(v_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The Status of this result: Ok when it holds a value.
  Status status() const { return has_value() ? Status::Ok() : error(); }

 private:
  std::variant<T, Status> v_;
};

#define WARD_CONCAT_INNER(a, b) a##b
#define WARD_CONCAT(a, b) WARD_CONCAT_INNER(a, b)

// WARD_RETURN_IF_ERROR(expr): returns the Status of expr from the enclosing function on failure.
#define WARD_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::ward::Status ward_status_ = (expr);        \
    if (!ward_status_.ok()) return ward_status_; \
  } while (0)

// WARD_ASSIGN_OR_RETURN(lhs, expr): lhs = *expr, or returns its error.
#define WARD_ASSIGN_OR_RETURN(lhs, expr) \
  WARD_ASSIGN_OR_RETURN_IMPL(WARD_CONCAT(ward_result_, __LINE__), lhs, expr)
#define WARD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.has_value()) return tmp.error();        \
  lhs = std::move(tmp).value()

}  // namespace ward
