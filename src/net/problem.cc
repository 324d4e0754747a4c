#include "net/problem.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace certfleet::net {
namespace {

// Every code, for the reverse lookup of a type. base/error.h: a code is added together with its
// mappings, and problem_test round-trips each one.
constexpr std::array kAllCodes = {
    ErrorCode::kNotFound,           ErrorCode::kInvalidArgument,
    ErrorCode::kUnauthorized,       ErrorCode::kForbidden,
    ErrorCode::kConflict,           ErrorCode::kRateLimited,
    ErrorCode::kUnavailable,        ErrorCode::kTimeout,
    ErrorCode::kMalformed,          ErrorCode::kTooLarge,
    ErrorCode::kFailedPrecondition, ErrorCode::kInternal,
};

// The standard members (RFC 9457 section 3.1) we write and read.
bool IsStandardMember(std::string_view key) {
  return key == "type" || key == "title" || key == "status" || key == "detail" || key == "instance";
}

std::string StringMember(const nlohmann::json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Delay-seconds only (RFC 9110 section 10.2.3); at most six digits, so no overflow and no
// absurd waits. Client responses have lower-case keys, handler responses as written.
std::optional<std::chrono::seconds> RetryAfter(const HttpResponse& response) {
  for (const auto& [name, value] : response.headers) {
    if (name.size() != 11 || !std::equal(name.begin(), name.end(), "retry-after",
                                         [](char a, char b) { return std::tolower(a) == b; })) {
      continue;
    }
    if (value.empty() || value.size() > 6 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    return std::chrono::seconds(std::stoll(value));
  }
  return std::nullopt;
}

}  // namespace

std::string ProblemType(ErrorCode code) {
  return std::string(kProblemTypePrefix) + std::string(ErrorCodeName(code));
}

std::optional<ErrorCode> ErrorCodeForProblemType(std::string_view type) {
  if (!type.starts_with(kProblemTypePrefix)) return std::nullopt;
  type.remove_prefix(kProblemTypePrefix.size());
  for (ErrorCode code : kAllCodes) {
    if (ErrorCodeName(code) == type) return code;
  }
  return std::nullopt;
}

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kMalformed:
      return 400;
    case ErrorCode::kUnauthorized:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kConflict:
    case ErrorCode::kFailedPrecondition:
      return 409;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kRateLimited:
      return 429;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kTimeout:
      return 504;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

std::string_view ProblemTitle(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return "Not found";
    case ErrorCode::kInvalidArgument:
      return "Invalid argument";
    case ErrorCode::kUnauthorized:
      return "Unauthorized";
    case ErrorCode::kForbidden:
      return "Forbidden";
    case ErrorCode::kConflict:
      return "Conflict";
    case ErrorCode::kRateLimited:
      return "Too many requests";
    case ErrorCode::kUnavailable:
      return "Service unavailable";
    case ErrorCode::kTimeout:
      return "Timeout";
    case ErrorCode::kMalformed:
      return "Malformed request";
    case ErrorCode::kTooLarge:
      return "Payload too large";
    case ErrorCode::kFailedPrecondition:
      return "Failed precondition";
    case ErrorCode::kInternal:
      return "Internal error";
  }
  return "Error";
}

ErrorCode CodeForHttpStatus(int status) {
  switch (status) {
    case 401:
      return ErrorCode::kUnauthorized;
    case 403:
      return ErrorCode::kForbidden;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kConflict;
    case 413:
    case 431:
      return ErrorCode::kTooLarge;
    case 429:
      return ErrorCode::kRateLimited;
    case 500:
      return ErrorCode::kInternal;
    case 504:
      return ErrorCode::kTimeout;
    default:
      // 502, 503 and the rest of 5xx: a proxy or a server that is away; 400 and the rest of 4xx:
      // the request was refused for a reason the body does not name.
      return status >= 500 ? ErrorCode::kUnavailable : ErrorCode::kInvalidArgument;
  }
}

HttpResponse EncodeProblem(ErrorCode code, std::string_view detail, int status_override,
                           const nlohmann::json& extensions,
                           std::optional<std::chrono::seconds> retry_after) {
  const int status = status_override != 0 ? status_override : HttpStatusFor(code);
  // Ordered: the standard members first, as RFC 9457's examples show them.
  nlohmann::ordered_json doc = {{"type", ProblemType(code)},
                                {"title", ProblemTitle(code)},
                                {"status", status},
                                {"detail", detail}};
  if (extensions.is_object()) {
    for (const auto& [key, value] : extensions.items()) {
      if (!IsStandardMember(key)) doc[key] = value;
    }
  }
  HttpResponse r;
  r.status = status;
  r.headers["Content-Type"] = std::string(kProblemContentType);
  if (code == ErrorCode::kUnauthorized) r.headers["WWW-Authenticate"] = "Bearer";
  if (retry_after) r.headers["Retry-After"] = std::to_string(retry_after->count());
  // Text that is not UTF-8 (a message quoting client input) is replaced, not thrown on.
  r.body = doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return r;
}

std::string DecodedProblem::request_id() const {
  auto it = extensions.find("request_id");
  return it != extensions.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Error DecodedProblem::ToError(std::string message) const {
  Error e(code, std::move(message));
  if (code == ErrorCode::kRateLimited || code == ErrorCode::kUnavailable ||
      code == ErrorCode::kTimeout) {
    e.WithRetry(retry_after);
  }
  return e;
}

DecodedProblem DecodeProblem(const HttpResponse& response) {
  DecodedProblem p;
  p.status = response.status;
  p.code = CodeForHttpStatus(response.status);
  p.retry_after = RetryAfter(response);
  // Whatever the Content-Type says: a JSON object is read as a problem document (older servers
  // and proxies label it application/json), anything else leaves the status guess.
  auto doc = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return p;
  p.type = StringMember(doc, "type");
  p.title = StringMember(doc, "title");
  p.detail = StringMember(doc, "detail");
  for (const auto& [key, value] : doc.items()) {
    if (!IsStandardMember(key)) p.extensions[key] = value;
  }
  if (auto code = ErrorCodeForProblemType(p.type)) {
    p.code = *code;
    p.typed = true;
  }
  return p;
}

}  // namespace certfleet::net
