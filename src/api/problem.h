// Rendering of errors for API users, in one place (CONVENTIONS.md #2): what a client may see of an
// Error. The wire form (ErrorCode -> HTTP status, the "urn:certfleet:problem:<code>" type, the RFC
// 9457 document) is net/problem.h, whose DecodeProblem the CLI and the agent read it back with.
// Internal errors, and Unavailable errors not written for clients, are logged in full and shown
// generically.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "net/http.h"

namespace certfleet::api {

// Retry-After of a 503 whose error names no delay of its own.
inline constexpr std::chrono::seconds kDefaultRetryAfter{2};

// `request_id` is echoed in the document and the log line so the two can be matched.
// `status_override` replaces the code's status where HTTP is more precise (405). `extensions`
// (an object) adds RFC 9457 extension members; it cannot replace the standard ones.
//
// What the client sees:
//   - detail: the error's message, except for Internal (always generic) and Unavailable (generic
//     unless the error is marked Error::ForClients()); those two are logged in full, with the
//     request id, so the operator can find them.
//   - Retry-After: the error's retry_after; every 503 gets one, kDefaultRetryAfter when the
//     error has none.
//   - WWW-Authenticate: Bearer on a 401.
net::HttpResponse ProblemResponse(const Error& error, const std::string& request_id = "",
                                  int status_override = 0,
                                  const nlohmann::json& extensions = nullptr);

}  // namespace certfleet::api
