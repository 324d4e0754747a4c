// RFC 7807 / RFC 8555 section 6.7 problem documents from an ACME server, turned into certfleet
// Errors that say in clear words what the CA refused.
//
// Contract:
//  - ParseProblem never throws; it returns nullopt for a body that is not a JSON object with a
//    string "type" (the caller then reports the bare HTTP status).
//  - ProblemError renders "the CA refused: <type>: <detail>" (the type without the
//    "urn:ietf:params:acme:error:" prefix, the detail cut to a bounded length and stripped of
//    control characters, so a hostile CA cannot flood or forge log lines) and maps the ACME type
//    to an ErrorCode: badNonce and serverInternal are retryable, rateLimited is kRateLimited with
//    the server's Retry-After, alreadyRevoked is kConflict, unauthorized kUnauthorized, ...
// Pure functions, thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace certfleet::acme {

inline constexpr std::string_view kAcmeErrorPrefix = "urn:ietf:params:acme:error:";

struct Subproblem {
  std::string type;
  std::string detail;
  std::string identifier;  // the identifier's value, e.g. "app.example.test"
};

struct Problem {
  std::string type;  // full URN, e.g. "urn:ietf:params:acme:error:badNonce"
  std::string detail;
  int status = 0;  // the "status" member, or the HTTP status when the member is absent
  std::vector<Subproblem> subproblems;

  // The type without the ACME URN prefix ("badNonce"), or the whole type for other URIs.
  std::string_view short_type() const;
  bool Is(std::string_view acme_short_type) const { return short_type() == acme_short_type; }
};

// Parses a problem document body; `http_status` fills `status` when the member is absent.
std::optional<Problem> ParseProblem(std::string_view body, int http_status);

// The Error for a problem returned by the CA for a request to `what` (e.g. "newOrder").
Error ProblemError(const Problem& problem, std::string_view what,
                   std::optional<std::chrono::seconds> retry_after = std::nullopt);

// Removes control characters and cuts `text` to `max_bytes` (appending "..."), for embedding
// strings chosen by the CA in messages.
std::string Sanitize(std::string_view text, size_t max_bytes = 300);

}  // namespace certfleet::acme
