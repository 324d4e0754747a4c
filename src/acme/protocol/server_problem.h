// The problems certfleet's ACME server answers with (RFC 8555 section 6.7), carried inside the
// project's Error values so the server's code keeps using Result<T>.
//
// An Error made by AcmeError() keeps its ACME type (e.g. "badNonce") as a cause whose message is
// the full URN; AcmeTypeOf() reads it back, and maps any other Error by its code (NotFound ->
// malformed 404, Unauthorized -> unauthorized, RateLimited -> rateLimited, Unavailable and
// Internal -> serverInternal, ...). ToProblemJson() renders the document the front end sends.
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "acme/protocol/problem.h"
#include "base/error.h"

namespace certfleet::acme {

// An Error of ACME type `type` (short form, "badNonce") with `detail` for the client. The
// ErrorCode follows the type (badNonce -> kUnavailable retryable, unauthorized -> kUnauthorized,
// rateLimited -> kRateLimited, malformed -> kMalformed, accountDoesNotExist -> kNotFound, ...).
Error AcmeError(std::string_view type, std::string detail);
// The same with subproblems (one per identifier, section 6.7.1).
Error AcmeError(std::string_view type, std::string detail, std::vector<Subproblem> subproblems);

// The short ACME type of `error` (see above).
std::string AcmeTypeOf(const Error& error);
// The HTTP status a problem of short type `type` is sent with (badNonce 400, unauthorized 403,
// accountDoesNotExist 400, rateLimited 429, serverInternal 500, notFound-like malformed 404 when
// the Error's code is kNotFound, ...).
int AcmeStatusOf(const Error& error);
// The subproblems `error` carries, if made with them.
std::vector<Subproblem> AcmeSubproblemsOf(const Error& error);

// {"type":"urn:ietf:params:acme:error:<type>","detail":...,"status":...[,"subproblems":[...]]}
std::string ToProblemJson(const Error& error);

}  // namespace certfleet::acme
