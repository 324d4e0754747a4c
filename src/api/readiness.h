// Readiness: this replica's own part of GET /readyz (routes_health.cc). The composition root
// (certfleetd) moves it: starting until everything it runs has started, then serving, then
// draining from the stop signal until the listener closes, so that a load balancer takes the
// replica out of rotation before it stops answering. /readyz adds the store's part itself.
// Thread-safe: one atomic.
#pragma once

#include <atomic>
#include <string_view>

namespace certfleet::api {

class Readiness {
 public:
  enum class Phase { kStarting, kServing, kDraining };

  explicit Readiness(Phase initial = Phase::kStarting) : phase_(initial) {}
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  void Set(Phase phase) { phase_.store(phase, std::memory_order_release); }
  Phase phase() const { return phase_.load(std::memory_order_acquire); }

 private:
  std::atomic<Phase> phase_;
};

}  // namespace certfleet::api
