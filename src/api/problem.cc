#include "api/problem.h"

#include <optional>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "net/problem.h"

namespace certfleet::api {

net::HttpResponse ProblemResponse(const Error& error, const std::string& request_id,
                                  int status_override, const nlohmann::json& extensions) {
  const int status = status_override != 0 ? status_override : net::HttpStatusFor(error.code());
  // RFC 9110 section 10.2.3: a 503 says when to come back. The error's own delay when it has
  // one (a busy database knows), else a short default, so that clients and agents back off
  // instead of hammering a replica whose database is away, and a load balancer's retry lands
  // elsewhere.
  std::optional<std::chrono::seconds> retry_after = error.retry_after();
  if (retry_after && retry_after->count() < 0) retry_after.reset();
  if (status == 503 && !retry_after) retry_after = kDefaultRetryAfter;
  std::string detail = error.message();
  if (error.code() == ErrorCode::kInternal) {
    log::Error("internal error", {{"error", error.ToString()}, {"request_id", request_id}});
    detail = "an internal error occurred; the server log has details under this request id";
  } else if (error.code() == ErrorCode::kUnavailable && !error.for_clients()) {
    // Most Unavailable errors come from below the API (the database, files, the KEK) and name
    // hosts, paths or tables: logged in full, shown in general terms.
    log::Warn("service unavailable", {{"error", error.ToString()}, {"request_id", request_id}});
    detail = "the service is temporarily unavailable; retry in " +
             std::to_string(retry_after ? retry_after->count() : kDefaultRetryAfter.count()) +
             " s (the server log has details under this request id)";
  }
  // RFC 9457 section 3.2: extension members; they never replace the standard ones.
  nlohmann::json members = extensions.is_object() ? extensions : nlohmann::json::object();
  if (!request_id.empty()) members["request_id"] = request_id;
  return net::EncodeProblem(error.code(), detail, status, members, retry_after);
}

}  // namespace certfleet::api
