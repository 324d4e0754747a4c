// RenewalScheduler (docs/architecture.md flow 3, issue #5): finds issued certificates inside their
// renewal window and renews them through durable jobs, then re-runs their deployments.
//
// The window. A version valid [notBefore, notAfter] with lifetime L becomes due at
//   notAfter - renew_before            when the certificate has a renew_before override,
//   notAfter - L/2                     when L <= 10 days (short-lived certificates need room
//                                      for a retry or two before they expire),
//   notAfter - L/3                     otherwise,
// never before notBefore. The first attempt is at the window's start plus a random jitter in
// [0, min(window/10, max_jitter)], drawn once per version and persisted, so a fleet issued in
// one burst does not renew in one burst, and a restart does not draw again.
//
// One tick (RunOnce):
//   1. take the leader lock (LeaderLock below); without it the tick does nothing;
//   2. plan: give every issued certificate whose current version has no renewal state one
//      (PlanRenewal in renewal_plan.h: first attempt time as above, the clock-skew rule and the
//      storm guard, ARI; no failures). The store keeps the set of such certificates as they
//      change (store::RenewalRepo), so this reads only them: nothing on an idle tick. Versions
//      planned at their commit site (PlanRenewal from issuance) are never in it;
//   3. enqueue: for every state that is due (an index range on next_attempt_at), enqueue a
//   "certificate.renew" job with the
//      idempotency key "<certificate id>/<version id>/<failures>" in the same transaction that
//      marks the state in flight, so a crash between the two neither loses nor doubles a renewal
//      (the job engine resumes jobs after a crash; re-enqueueing returns the same job).
// The job's step (RunStep):
//   renew     CertificateService::Renew as the system; if the version named in the job is no
//             longer current, an earlier attempt (or an on-demand renewal) already renewed and
//             the job is done. On failure the state records the error, the failure count and
//             the next attempt, base_backoff * 2^(failures-1) capped by max_backoff (with jitter
//             in its upper half), and the job fails; the next due tick enqueues a new attempt.
// A renewal commits its certificate.renewed event with the new version; RedeployOnRenewal
// (redeploy_on_renewal.h), a subscriber to that event, re-runs the certificate's deployments.
//
// Thread safety: RunOnce() and RunStep() may be called from different threads; the scheduler
// keeps no mutable state of its own. Several replicas may run schedulers against one store: the
// leader lock lets one of them scan at a time, and idempotency keys make double enqueues
// harmless even when a lease expires under a slow leader.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "jobs/engine.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/renewal_plan.h"
#include "model/model.h"
#include "store/store.h"

namespace certfleet::lifecycle {

inline constexpr std::string_view kRenewJobType = "certificate.renew";
inline constexpr std::string_view kSchedulerLockName = "renewal-scheduler";

// Mutual exclusion between scheduler replicas. TryAcquire() returns true while this holder owns
// the lock (and renews it); false when another live holder does; errors from the store.
class LeaderLock {
 public:
  virtual ~LeaderLock() = default;
  virtual Result<bool> TryAcquire() = 0;
  // Gives the lock up early (shutdown); harmless if not held.
  virtual void Release() = 0;
};

// The lock as a lease row (name, owner, expires_at) in the store, taken and extended inside a
// store transaction: whoever finds the row absent, expired or their own writes it. A holder that
// stops ticking loses the lock after `lease`, so a crashed replica is replaced within one lease.
// With SQLite, BEGIN IMMEDIATE serializes the read-then-write. On PostgreSQL, DefaultLeaderLock
// gives StoreLeadershipLock instead (an advisory lock, no lease needed); the scheduler only sees
// LeaderLock.
class StoreLeaseLock final : public LeaderLock {
 public:
  StoreLeaseLock(store::Store& store, const Clock& clock, std::string name, std::string owner,
                 Seconds lease)
      : store_(store),
        clock_(clock),
        name_(std::move(name)),
        owner_(std::move(owner)),
        lease_(lease) {}
  Result<bool> TryAcquire() override;
  void Release() override;

 private:
  store::Store& store_;
  const Clock& clock_;
  std::string name_;
  std::string owner_;
  Seconds lease_;
};

// The store's own leader lock (store::Leadership: a PostgreSQL advisory lock held by a session,
// lost the moment the replica or its connection dies).
class StoreLeadershipLock final : public LeaderLock {
 public:
  explicit StoreLeadershipLock(std::unique_ptr<store::Leadership> leadership)
      : leadership_(std::move(leadership)) {}
  Result<bool> TryAcquire() override { return leadership_->Hold(); }
  void Release() override { leadership_->Release(); }

 private:
  std::unique_ptr<store::Leadership> leadership_;
};

// The lock a replica takes for `name`: the store's leadership when it has one (PostgreSQL),
// otherwise a lease row (StoreLeaseLock).
std::unique_ptr<LeaderLock> DefaultLeaderLock(store::Store& store, const Clock& clock,
                                              const std::string& name, const std::string& owner,
                                              Seconds lease);

struct RenewalSchedulerOptions {
  std::string owner;   // this replica's name for the lease lock (e.g. host:pid)
  Seconds lease{120};  // lock lease; several scheduler intervals
  Seconds max_jitter{3600};
  Seconds base_backoff{60};
  Seconds max_backoff{3600 * 6};
  // How long an enqueued renewal may take before the scheduler looks at it again (its job may
  // have been cancelled or failed without reaching its own bookkeeping).
  Seconds in_flight{3600};
  size_t batch = 500;  // states planned and due renewals enqueued per page
  // The storm guard (renewal_plan.h): a version is never planned for renewal before it has
  // been stored this fraction of its lifetime, unless its CA's ARI window asks for it.
  double min_age_fraction = 1.0 / 3.0;
};

// RenewalWindowStart and MaxRenewalJitter: renewal_plan.h.

class RenewalScheduler {
 public:
  // All references are borrowed and must outlive the scheduler. `lock` decides who scans; null
  // means a StoreLeaseLock named kSchedulerLockName for options.owner. Call RegisterJobs()
  // before the engine runs.
  RenewalScheduler(store::Store& store, jobs::JobEngine& engine, CertificateService& certificates,
                   const Clock& clock, Random& random, RenewalSchedulerOptions options,
                   std::unique_ptr<LeaderLock> lock = nullptr);

  void RegisterJobs();
  // One tick. Returns the number of renewal jobs enqueued (0 when another replica leads).
  Result<int> RunOnce();
  // Shutdown: releases the leader lock.
  void Stop();
  // The job step function (public for tests).
  jobs::StepResult RunStep(const model::Job& job);
  // The backoff after `failures` consecutive failures.
  Seconds Backoff(int failures);

 private:
  Status Plan(TimePoint now);
  Result<int> EnqueueDue(TimePoint now);
  jobs::StepResult StepRenew(const std::string& certificate_id, const std::string& version_id);
  Status RecordFailure(const std::string& certificate_id, const std::string& version_id,
                       const std::string& error);

  store::Store& store_;
  jobs::JobEngine& engine_;
  CertificateService& certificates_;
  const Clock& clock_;
  Random& random_;
  RenewalSchedulerOptions options_;
  std::unique_ptr<LeaderLock> lock_;
};

}  // namespace certfleet::lifecycle
