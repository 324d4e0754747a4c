// Exponential backoff with full jitter for the agent's network retries.
//
// The n-th consecutive failure (n >= 0) waits a uniformly random time in [0, min(max, base *
// 2^n)] ("full jitter": spreads a fleet of agents that lost the server at the same moment, so
// they do not come back in lock step). A server's Retry-After raises the wait to at least that
// long, still capped at `max`. Thread-compatible (no shared state; the Random is borrowed).
#pragma once

#include <chrono>
#include <optional>

#include "base/random.h"

namespace certfleet::agent {

struct BackoffPolicy {
  std::chrono::milliseconds base{1000};
  std::chrono::milliseconds max{60000};
};

// The ceiling for failure number `attempt` (0-based): min(max, base * 2^attempt).
std::chrono::milliseconds BackoffCeiling(const BackoffPolicy& policy, int attempt);

// A random delay in [0, BackoffCeiling(attempt)], at least `retry_after` (capped at max).
std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, int attempt, Random& random,
                                       std::optional<std::chrono::seconds> retry_after = {});

}  // namespace certfleet::agent
