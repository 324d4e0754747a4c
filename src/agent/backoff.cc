#include "agent/backoff.h"

#include <algorithm>

namespace certfleet::agent {

std::chrono::milliseconds BackoffCeiling(const BackoffPolicy& policy, int attempt) {
  const int64_t base = std::max<int64_t>(1, policy.base.count());
  const int64_t max = std::max<int64_t>(base, policy.max.count());
  // Doubling stops at the cap, so large attempt counts cannot overflow.
  int64_t ceiling = base;
  for (int i = 0; i < attempt && ceiling < max; ++i) ceiling *= 2;
  return std::chrono::milliseconds(std::min(ceiling, max));
}

std::chrono::milliseconds BackoffDelay(const BackoffPolicy& policy, int attempt, Random& random,
                                       std::optional<std::chrono::seconds> retry_after) {
  const std::chrono::milliseconds ceiling = BackoffCeiling(policy, std::max(0, attempt));
  std::chrono::milliseconds delay(
      int64_t(random.Uniform(uint64_t(ceiling.count()) + 1)));  // inclusive of the ceiling
  if (retry_after) {
    const std::chrono::milliseconds floor =
        std::min<std::chrono::milliseconds>(*retry_after, std::max(policy.max, policy.base));
    delay = std::max(delay, floor);
  }
  return delay;
}

}  // namespace certfleet::agent
