// The problems certfleet's ACME server answers with (RFC 8555 section 6.7), carried inside the
// project's Error values so the server's code keeps using Result<T>.
//
// An Error made by AcmeError() keeps its ACME type (e.g. "badNonce") as a cause whose message is
// the full URN; AcmeTypeOf() reads it back, and maps any other Error by its code (NotFound ->
// malformed 404, Unauthorized -> unauthorized, RateLimited -> rateLimited, Unavailable and
// Internal -> serverInternal, ...). ToProblemJson() renders the document the front end sends.
// An Error that wraps an AcmeError (Error(...).WithCause(AcmeError(...))) keeps its type; the
// detail sent is the AcmeError's. The known types are RFC 8555 section 6.7's and
// "invalidProfile" (draft-ietf-acme-profiles); an unknown `type` is a bug of the caller and is
// sent as serverInternal.
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
// accountDoesNotExist 400, rateLimited 429, serverInternal 500, ...; Boulder's and Pebble's).
// "malformed" follows the Error's code: 404 for kNotFound, 409 kConflict, 413 kTooLarge, 403
// kFailedPrecondition, 400 otherwise. An Error that is no AcmeError maps by its code: kNotFound,
// kInvalidArgument, kMalformed, kTooLarge, kConflict and kFailedPrecondition are malformed (with
// the statuses above), kUnauthorized and kForbidden unauthorized 403, kRateLimited rateLimited
// 429, kUnavailable and kTimeout serverInternal 503, kInternal serverInternal 500.
int AcmeStatusOf(const Error& error);
// The subproblems `error` carries, if made with them.
std::vector<Subproblem> AcmeSubproblemsOf(const Error& error);

// {"type":"urn:ietf:params:acme:error:<type>","detail":...,"status":...[,"subproblems":[...]]}
// (badSignatureAlgorithm also with "algorithms": kJwsAlgorithms, RFC 8555 section 6.2)
// with each subproblem {"type","detail","identifier":{"type":"dns"|"ip","value"}} ("ip" when the
// value is an IPv4 or IPv6 address). The detail has control characters removed and is bounded;
// for an Error that is no AcmeError, Internal errors and Unavailable ones not marked
// ForClients() read generically, as in the REST API.
std::string ToProblemJson(const Error& error);

}  // namespace certfleet::acme
