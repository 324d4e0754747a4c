#include "deployments.h"

#include <algorithm>

#include "base/time_util.h"
#include "base/validate.h"
#include "output.h"

namespace certfleet::cli {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr std::chrono::milliseconds kFirstPoll{250};
constexpr std::chrono::milliseconds kMaxPoll{2000};

// At most this many failing targets are spelled out in a message; the rest are counted.
constexpr size_t kMaxTargetsInMessage = 20;

std::string StringMember(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? SanitizeForTerminal(it->get<std::string>()) : "";
}

}  // namespace

std::string CheckDurationWithin(const std::string& text, seconds min, seconds max) {
  auto d = ParseDuration(text);
  if (!d.ok()) return QuoteForMessage(text) + " is not a duration such as 90d, 12h or 1h30m";
  if (*d < min || *d > max) {
    return QuoteForMessage(text) + " must be between " + FormatDuration(min) + " and " +
           FormatDuration(max);
  }
  return "";
}

std::string CheckEnrollmentExpiry(const std::string& text) {
  return CheckDurationWithin(text, minutes(1), hours(24 * 30));
}

std::string CheckDeploymentDeadline(const std::string& text) {
  return CheckDurationWithin(text, minutes(1), hours(24));
}

std::string CheckWaitTimeout(const std::string& text) {
  return CheckDurationWithin(text, seconds(1), hours(24));
}

Result<std::string> DeploymentState(const nlohmann::json& deployment) {
  std::string state = StringMember(deployment, "state");
  if (state.empty()) return Malformed("the server's deployment has no \"state\"");
  return state;
}

Result<bool> DeploymentRunning(const nlohmann::json& deployment) {
  CF_ASSIGN_OR_RETURN(std::string state, DeploymentState(deployment));
  return state == "running";
}

Status DeploymentOutcome(const nlohmann::json& deployment) {
  CF_ASSIGN_OR_RETURN(std::string state, DeploymentState(deployment));
  if (state == "succeeded") return Ok();
  std::string id = StringMember(deployment, "id");
  if (id.empty()) id = "?";
  if (state == "running") {
    return Error(ErrorCode::kTimeout, "deployment " + id + " is still running");
  }
  std::string message = "deployment " + id + " " + state;
  std::string detail = StringMember(deployment, "state_detail");
  if (!detail.empty()) {
    message += ": " + detail;
  } else if (state == "no_targets") {
    message += ": no agent matches the selector";
  }

  auto targets = deployment.find("targets");
  if (targets != deployment.end() && targets->is_array()) {
    size_t listed = 0;
    size_t unlisted = 0;
    for (const auto& t : *targets) {
      std::string tstate = StringMember(t, "state");
      if (tstate == "verified" || tstate == "installed") continue;
      if (listed == kMaxTargetsInMessage) {
        ++unlisted;
        continue;
      }
      ++listed;
      message += "\n  " + Field(t, "agent");
      std::string host = StringMember(t, "hostname");
      if (!host.empty()) message += " (" + host + ")";
      message += ": " + (tstate.empty() ? std::string("?") : tstate);
      std::string reason = StringMember(t, "reason");
      if (!reason.empty()) message += ": " + reason;
    }
    if (unlisted > 0) message += "\n  ... and " + std::to_string(unlisted) + " more targets";
  }
  return FailedPrecondition(std::move(message));
}

bool RetryableWhileWaiting(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kRateLimited:
      return true;
    default:
      return error.retryable();
  }
}

std::chrono::milliseconds NextPollDelay(std::chrono::milliseconds previous) {
  if (previous < kFirstPoll) return kFirstPoll;
  return std::min(previous * 2, kMaxPoll);
}

std::string TargetVersion(const nlohmann::json& target) {
  if (target.is_object()) {
    auto v = target.find("version");
    if (v != target.end() && !v->is_null()) return Cell(*v);
  }
  return Field(target, "version_id");
}

}  // namespace certfleet::cli
