// Rendering of errors for API users, in one place (CONVENTIONS.md #2): ErrorCode -> HTTP status
// and an RFC 7807 problem document. Internal errors are logged in full and shown generically.
#pragma once

#include <string>

#include "base/error.h"
#include "net/http.h"

namespace certfleet::api {

int HttpStatusFor(ErrorCode code);
// `request_id` is echoed in the document and the log line so the two can be matched.
// `status_override` replaces the code's status where HTTP is more precise (405).
net::HttpResponse ProblemResponse(const Error& error, const std::string& request_id = "",
                                  int status_override = 0);

}  // namespace certfleet::api
