// ExpiryWatcher (issue #5, docs/events.md): the events nobody's action causes, only time.
//
//   certificate.approaching_expiration  once per day while the current version of an issued
//       certificate is within its account's notify.expiry_warning_days (default 30) of its
//       notAfter. "Day" counts whole days left: the event carries days_remaining = ceil((notAfter
//       - now) / 1 day) and is emitted when that number is smaller than the last one emitted for
//       the same version, so a watcher that ticks every second still emits 30, 29, ..., 1 once
//       each, and one that was down for three days emits the current count once, not a backlog.
//   certificate.expired  once per version that reaches its notAfter while still current (a
//       renewed certificate's old versions expire quietly).
//   agent.offline  once when an active agent has not been seen for `agent_offline_after`; again
//       only after it has been seen since (the notice remembers which last_seen it reported).
//
// What was emitted is kept in the store (NoticeRepo), in the transaction that emits it, so a
// restart or a second replica does not repeat it. Replicas take turns through a leader lock
// (renewal_scheduler.h). The certificate sweep runs at most every `certificate_sweep_interval`
// (time from the injected Clock), the cheap agent check at every tick. Never sleeps.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "lifecycle/renewal_scheduler.h"
#include "store/store.h"

namespace certfleet::lifecycle {

inline constexpr std::string_view kExpiryWatcherLockName = "expiry-watcher";

struct ExpiryWatcherOptions {
  std::string owner;  // this replica's name for the lease lock
  Seconds lease{120};
  Seconds agent_offline_after{300};
  Seconds certificate_sweep_interval{300};
  size_t batch = 500;
};

struct WatchStats {
  int approaching = 0;
  int expired = 0;
  int offline = 0;
};

class ExpiryWatcher {
 public:
  // References are borrowed and must outlive the watcher. `lock` null: a StoreLeaseLock named
  // kExpiryWatcherLockName for options.owner.
  ExpiryWatcher(store::Store& store, const Clock& clock, Random& random,
                ExpiryWatcherOptions options, std::unique_ptr<LeaderLock> lock = nullptr);

  // One tick; events emitted (all zero when another replica leads).
  Result<WatchStats> RunOnce();
  // Shutdown: releases the leader lock.
  void Stop();

 private:
  Status SweepCertificates(TimePoint now, WatchStats& stats);
  Status CheckAgents(TimePoint now, WatchStats& stats);

  store::Store& store_;
  const Clock& clock_;
  Random& random_;
  ExpiryWatcherOptions options_;
  std::unique_ptr<LeaderLock> lock_;
  std::optional<TimePoint> last_sweep_;  // RunOnce is not called concurrently
};

}  // namespace certfleet::lifecycle
