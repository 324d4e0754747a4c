// Error values and Result<T>, the only way expected failures cross module boundaries
// (CONVENTIONS.md #1). Result<T> mirrors the subset of std::expected<T, Error> we use, since
// g++ 12 does not ship <expected>.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/check.h"

namespace certfleet {

// A closed set: the REST layer maps each code to one HTTP status, the ACME front end to one
// problem type. Add a code only together with both mappings.
enum class ErrorCode {
  kNotFound,
  kInvalidArgument,
  kUnauthorized,
  kForbidden,
  kConflict,
  kRateLimited,
  kUnavailable,
  kTimeout,
  kMalformed,
  kTooLarge,
  kFailedPrecondition,
  kInternal,
};

std::string_view ErrorCodeName(ErrorCode code);

// An Error is a value: cheap to copy, safe to log. It must never carry secret material; callers
// build messages from names and ids only.
class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool retryable() const { return retryable_; }
  std::optional<std::chrono::seconds> retry_after() const { return retry_after_; }
  const Error* cause() const { return cause_.get(); }

  Error& WithRetry(std::optional<std::chrono::seconds> after = std::nullopt) & {
    retryable_ = true;
    retry_after_ = after;
    return *this;
  }
  Error&& WithRetry(std::optional<std::chrono::seconds> after = std::nullopt) && {
    return std::move(WithRetry(after));
  }
  Error&& WithCause(Error cause) && {
    cause_ = std::make_shared<Error>(std::move(cause));
    return std::move(*this);
  }
  // Marks the message as written for the API's clients. The REST layer shows an Unavailable
  // error's message only when it is so marked (api/problem.h): most come from below it (the
  // database, files, the KEK) and name hosts, paths or tables, so the rest read generically.
  Error&& ForClients() && {
    for_clients_ = true;
    return std::move(*this);
  }
  bool for_clients() const { return for_clients_; }
  // "message: cause message: ..." for logs.
  std::string ToString() const;

 private:
  ErrorCode code_;
  std::string message_;
  bool retryable_ = false;
  bool for_clients_ = false;
  std::optional<std::chrono::seconds> retry_after_;
  std::shared_ptr<const Error> cause_;
};

inline Error NotFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Error InvalidArgument(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
inline Error Unauthorized(std::string m) { return {ErrorCode::kUnauthorized, std::move(m)}; }
inline Error Forbidden(std::string m) { return {ErrorCode::kForbidden, std::move(m)}; }
inline Error Conflict(std::string m) { return {ErrorCode::kConflict, std::move(m)}; }
inline Error Unavailable(std::string m) { return {ErrorCode::kUnavailable, std::move(m)}; }
inline Error Malformed(std::string m) { return {ErrorCode::kMalformed, std::move(m)}; }
inline Error TooLarge(std::string m) { return {ErrorCode::kTooLarge, std::move(m)}; }
inline Error Internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }
inline Error FailedPrecondition(std::string m) {
  return {ErrorCode::kFailedPrecondition, std::move(m)};
}

// Result<T>: either a T or an Error. Accessing the wrong alternative is an invariant violation
// (CF_CHECK), not an error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design, like std::expected
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    CF_CHECK(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    CF_CHECK(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    CF_CHECK(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    CF_CHECK(!ok());
    return std::get<1>(v_);
  }
  Error&& error() && {
    CF_CHECK(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}  // NOLINT

  bool ok() const { return !e_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const& {
    CF_CHECK(!ok());
    return *e_;
  }
  Error&& error() && {
    CF_CHECK(!ok());
    return std::move(*e_);
  }

 private:
  std::optional<Error> e_;
};

using Status = Result<void>;
inline Status Ok() { return {}; }

}  // namespace certfleet

// Propagation helpers. CF_TRY(expr) returns the error of a Status-like expression;
// CF_ASSIGN_OR_RETURN(lhs, expr) unwraps a Result<T> into lhs or returns its error.
#define CF_CONCAT_INNER_(a, b) a##b
#define CF_CONCAT_(a, b) CF_CONCAT_INNER_(a, b)

#define CF_TRY(expr)                            \
  do {                                          \
    auto&& cf_try_result_ = (expr);             \
    if (!cf_try_result_.ok()) {                 \
      return std::move(cf_try_result_).error(); \
    }                                           \
  } while (0)

#define CF_ASSIGN_OR_RETURN(lhs, expr) \
  CF_ASSIGN_OR_RETURN_IMPL_(CF_CONCAT_(cf_result_, __LINE__), lhs, expr)
#define CF_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return std::move(tmp).error();   \
  lhs = std::move(tmp).value()
