#include "responses.h"

#include <cctype>

#include "net/problem.h"
#include "output.h"

namespace certfleet::cli {

Error ErrorFromResponse(const net::HttpResponse& response) {
  const net::DecodedProblem problem = net::DecodeProblem(response);
  std::string message;
  if (problem.typed) {
    // The code in words, from our own table: the server's title is not needed to say it.
    std::string kind(net::ProblemTitle(problem.code));
    for (char& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    message = kind + ": ";
  }
  std::string detail = !problem.detail.empty() ? problem.detail : problem.title;
  if (detail.empty()) {
    // Not a problem document (a proxy, or a server bug): say so instead of dumping the body.
    detail = response.body.empty() ? "request failed with an empty response"
                                   : "request failed with a non-problem response";
  }
  message += SanitizeForTerminal(detail);
  // An internal error's detail points at the server log "under this request id": show it.
  if (response.status >= 500 && !problem.request_id().empty()) {
    message += " (request id " + SanitizeForTerminal(problem.request_id()) + ")";
  }
  message += " (HTTP " + std::to_string(response.status) + ")";
  return problem.ToError(std::move(message));
}

Result<const nlohmann::json*> ItemsOf(const nlohmann::json& list, std::string_view what) {
  if (!list.is_object())
    return Malformed("the server's " + std::string(what) + " is not an object");
  auto it = list.find("items");
  if (it == list.end() || !it->is_array()) {
    return Malformed("the server's " + std::string(what) + " has no \"items\" array");
  }
  return &*it;
}

Result<std::string> SoleAccountId(const nlohmann::json& accounts) {
  CF_ASSIGN_OR_RETURN(const nlohmann::json* items, ItemsOf(accounts, "account list"));
  if (items->size() != 1) {
    // A system administrator sees every account; guessing one would act on the wrong account.
    return InvalidArgument("--account is required: " + std::to_string(items->size()) +
                           " accounts are visible to this token");
  }
  const nlohmann::json& account = items->front();
  auto id = account.is_object() ? account.find("id") : account.end();
  if (!account.is_object() || id == account.end() || !id->is_string() ||
      id->get<std::string>().empty()) {
    return Malformed("the server's account list has an account without an \"id\"");
  }
  return id->get<std::string>();
}

Status AuditVerifyStatus(const nlohmann::json& report) {
  auto ok = report.is_object() ? report.find("ok") : report.end();
  if (!report.is_object() || ok == report.end() || !ok->is_boolean()) {
    return Malformed("the server's audit verification has no boolean \"ok\"");
  }
  if (ok->get<bool>()) return Ok();
  std::string message = "audit chain broken";
  auto seq = report.find("first_bad_seq");
  if (seq != report.end() && seq->is_number_integer()) {
    message += " at record " + std::to_string(seq->get<int64_t>());
  }
  auto reason = report.find("reason");
  std::string why = reason != report.end() && reason->is_string() ? reason->get<std::string>() : "";
  message += ": " + (why.empty() ? std::string("no reason given") : SanitizeForTerminal(why));
  return FailedPrecondition(std::move(message));
}

}  // namespace certfleet::cli
