#include "responses.h"

#include "output.h"

namespace certfleet::cli {

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
