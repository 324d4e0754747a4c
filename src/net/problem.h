// The wire form of certfleet's errors, both ways (docs/api.md "Errors"): an RFC 9457 (formerly
// 7807) problem document whose `type` is "urn:certfleet:problem:<code>", one per ErrorCode.
//
// Encoding: EncodeProblem writes the document and its headers. It does not decide what a client
// may see; api/problem.h (ProblemResponse) does that for the REST API (generic text for internal
// errors, logging, the default Retry-After) and calls this. The HTTP server's own refusals (413,
// 431, 400 for a broken request, 503 while stopping) use it directly.
// Decoding: DecodeProblem is the one reader of these documents, for the CLI and the agent. It
// takes the ErrorCode from the `type` URN, so that codes sharing a status (malformed and
// invalid_argument on 400; conflict and failed_precondition on 409) stay apart, and guesses from
// the status only for a body that names no certfleet type (a proxy's HTML page, an empty body).
//
// Pure functions; thread-safe. Nothing here sanitizes text: callers that print a decoded `detail`
// clean it for their medium first (a terminal, a log line).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "net/http.h"

namespace certfleet::net {

inline constexpr std::string_view kProblemContentType = "application/problem+json";
inline constexpr std::string_view kProblemTypePrefix = "urn:certfleet:problem:";

// "urn:certfleet:problem:" + ErrorCodeName(code), e.g. "urn:certfleet:problem:not_found".
std::string ProblemType(ErrorCode code);
// The code a type names; nullopt for any other string (another namespace, a code this build does
// not know).
std::optional<ErrorCode> ErrorCodeForProblemType(std::string_view type);
// The one ErrorCode -> HTTP status table (docs/api.md).
int HttpStatusFor(ErrorCode code);
// Short English title, e.g. "Failed precondition".
std::string_view ProblemTitle(ErrorCode code);

// The response for `code` with `detail` as given (the caller chose it). `status_override` (when
// not 0) replaces HttpStatusFor(code) where HTTP is more precise (405, 431). `extensions`, an
// object, adds RFC 9457 section 3.2 extension members; it never replaces type, title, status or
// detail. Headers: Content-Type application/problem+json, WWW-Authenticate: Bearer for
// Unauthorized, Retry-After when `retry_after` is set.
HttpResponse EncodeProblem(ErrorCode code, std::string_view detail, int status_override = 0,
                           const nlohmann::json& extensions = nullptr,
                           std::optional<std::chrono::seconds> retry_after = std::nullopt);

// What a non-2xx response says, decoded.
struct DecodedProblem {
  ErrorCode code = ErrorCode::kInternal;
  int status = 0;
  // True when the body was a problem document with a certfleet type this build knows; false when
  // `code` was guessed from the status (see CodeForHttpStatus).
  bool typed = false;
  std::string type;    // as sent; "" when absent
  std::string title;   // as sent
  std::string detail;  // as sent; "" when absent
  // Every other member of the document (request_id, rule, ...); an empty object when none.
  nlohmann::json extensions = nlohmann::json::object();
  // From a Retry-After of delay-seconds (RFC 9110 section 10.2.3); an HTTP-date is ignored.
  std::optional<std::chrono::seconds> retry_after;

  // The request id the server logged the failure under, or "".
  std::string request_id() const;
  // An Error with `code` and `message` (the caller formats the message from the fields above),
  // marked retryable, with retry_after, for the codes that mean "try again later" (rate_limited,
  // unavailable, timeout).
  Error ToError(std::string message) const;
};

// Never fails: any status and body decode to something. Expects a non-2xx response.
DecodedProblem DecodeProblem(const HttpResponse& response);

// The code a bare status stands for, for bodies that are not certfleet problem documents:
// 400 invalid_argument, 401, 403, 404, 409 conflict, 413, 429, 500 internal, 502/503
// unavailable, 504 timeout; other 4xx invalid_argument, other 5xx unavailable.
ErrorCode CodeForHttpStatus(int status);

}  // namespace certfleet::net
