#include "api/problem.h"

#include <optional>

#include <nlohmann/json.hpp>

#include "base/log.h"

namespace certfleet::api {
namespace {

const char* TitleFor(ErrorCode code) {
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

}  // namespace

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kMalformed:
      return 400;
    case ErrorCode::kUnauthorized:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kConflict:
      return 409;
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

net::HttpResponse ProblemResponse(const Error& error, const std::string& request_id,
                                  int status_override, const nlohmann::json& extensions) {
  const int status = status_override != 0 ? status_override : HttpStatusFor(error.code());
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
  nlohmann::json doc = {
      {"type", "urn:certfleet:problem:" + std::string(ErrorCodeName(error.code()))},
      {"title", TitleFor(error.code())},
      {"status", status},
      {"detail", detail}};
  if (!request_id.empty()) doc["request_id"] = request_id;
  // RFC 9457 section 3.2: extension members; they never replace the standard ones.
  if (extensions.is_object()) {
    for (const auto& [key, value] : extensions.items()) doc.emplace(key, value);
  }
  net::HttpResponse r;
  r.status = status;
  r.headers["Content-Type"] = "application/problem+json";
  if (error.code() == ErrorCode::kUnauthorized) r.headers["WWW-Authenticate"] = "Bearer";
  if (retry_after) r.headers["Retry-After"] = std::to_string(retry_after->count());
  r.body = doc.dump();
  return r;
}

}  // namespace certfleet::api
