// Pure helpers for the agent, deployment and inventory commands (docs/agents.md): bounded
// duration checks for flags, the outcome of a deployment as an exit status, the backoff of
// `--wait`, and rendering of a deployment's targets. Pure functions; thread-safe. Everything
// taken from a response and put into a message is sanitized for the terminal first.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace certfleet::cli {

// CLI11 check: "" when `text` is a duration (90d, 12h, 10m, 30s) within [min, max], else the
// message CLI11 reports as a usage error. The server checks the same bounds; checking here too
// turns a typo into a usage error before anything is sent.
std::string CheckDurationWithin(const std::string& text, std::chrono::seconds min,
                                std::chrono::seconds max);

// The bounds docs/agents.md gives: enrollment tokens expire after 1m..30d, deployment deadlines
// are 1m..24h. `--timeout` of `--wait` is 1s..24h.
std::string CheckEnrollmentExpiry(const std::string& text);
std::string CheckDeploymentDeadline(const std::string& text);
std::string CheckWaitTimeout(const std::string& text);

// The deployment's "state". Malformed when the response is not an object with a string state.
Result<std::string> DeploymentState(const nlohmann::json& deployment);

// True while the deployment is still "running" (the only non-final state). Malformed like
// DeploymentState.
Result<bool> DeploymentRunning(const nlohmann::json& deployment);

// The exit status of a finished deployment: Ok() for "succeeded"; FailedPrecondition for
// "failed", "no_targets" and anything unknown, with a message naming the deployment, its state,
// its state_detail and, per target that did not succeed, "<agent> (<hostname>): <state>: <reason>".
// Timeout when it is still "running" (the caller gave up waiting).
Status DeploymentOutcome(const nlohmann::json& deployment);

// Whether `--wait` keeps polling after this error (the server unreachable or restarting, a
// timeout, rate limiting) instead of giving up before its --timeout.
bool RetryableWhileWaiting(const Error& error);

// The delay before the next poll of `--wait`: doubles from 250 ms up to 2 s.
std::chrono::milliseconds NextPollDelay(std::chrono::milliseconds previous);

// The VERSION cell of a target: its "version" number when the server sends one, else its
// "version_id".
std::string TargetVersion(const nlohmann::json& target);

}  // namespace certfleet::cli
