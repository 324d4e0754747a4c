// Interpreting API responses that the command groups share: error answers, the "items" array of
// list endpoints, the caller's own account, and the outcome of GET /v1/audit/verify (docs/api.md).
// Pure functions over the parsed JSON; thread-safe. Everything taken from a response and put into
// a message is sanitized for the terminal first.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "net/http.h"

namespace certfleet::cli {

// A non-2xx answer as the Error the CLI prints (main.cc: "error: <message>", exit status 1). The
// code is the one the problem document's `type` names (net::DecodeProblem), so that, say, a
// malformed request and an invalid argument (both 400), or a conflict and a failed precondition
// (both 409), stay apart; the status only decides for a body that is not a problem document.
// Message: "<kind>: <detail> (HTTP <status>)", kind being the code in words ("failed
// precondition"); a server-side failure (5xx) adds "(request id <id>)" before the status, the id
// its detail refers to. A body that is not a problem document reads "request failed with a
// non-problem response (HTTP <status>)". Server text is sanitized for the terminal.
Error ErrorFromResponse(const net::HttpResponse& response);

// The "items" array of a list response. Malformed, naming `what` ("certificate list"), when the
// response is not an object with an array "items".
Result<const nlohmann::json*> ItemsOf(const nlohmann::json& list, std::string_view what);

// The id of the only account in a GET /v1/accounts response: the account of a caller that is not
// a system administrator. InvalidArgument asking for --account when the caller sees no account or
// several (a system administrator sees all of them); Malformed for a broken response.
Result<std::string> SoleAccountId(const nlohmann::json& accounts);

// Ok() when a GET /v1/audit/verify report says the chain is intact. Otherwise FailedPrecondition
// with "audit chain broken at record N: <reason>" (or "audit chain broken: <reason>" when the
// server names no record); Malformed if the report has no boolean "ok".
Status AuditVerifyStatus(const nlohmann::json& report);

}  // namespace certfleet::cli
