// RedeployOnRenewal (issue #5): the subscriber to `certificate.renewed` that re-runs every
// recorded deployment of the renewed certificate with a fresh passphrase.
//
// It reads the outbox (store::EventRepo) after its own cursor, a setting separate from the
// webhook dispatcher's, so a slow or failing webhook never delays a redeploy. For each
// certificate.renewed event it enqueues one durable job "certificate.redeploy" whose idempotency
// key is the event's id, in the same transaction that moves the cursor. Hence:
//   - a crash before that commit re-reads the event and enqueues the job (nothing is lost);
//   - reading an event twice (a cursor moved back, two replicas racing on one cursor) returns
//     the job that exists: each event is acted on once (deduplicated by event id).
// The job's one step redeploys every deployment of the certificate that does not carry the
// certificate's current version yet (DeploymentService::Redeploy: a new generation, a new export
// under a new passphrase, a new secret version, one target per matching agent). Deployments
// that an earlier try of the step redeployed are recorded in the job's output and skipped on a
// retry; deployments created after the renewal already carry the new version, and generations
// that have not exported yet will export it, so both are left alone. When two renewals happen
// before the first job runs, the first job deploys the newest version and the second finds nothing
// to do, so an offline agent gets only the newest version.
//
// Thread safety: RunOnce() and RunStep() may run on different threads; one RunOnce at a time
// per process. The class keeps no mutable state.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "base/error.h"
#include "jobs/engine.h"
#include "lifecycle/deployment_service.h"
#include "model/model.h"
#include "store/store.h"

namespace certfleet::lifecycle {

inline constexpr std::string_view kRedeployJobType = "certificate.redeploy";
// The settings key holding the seq of the last outbox event this subscriber has read.
inline constexpr std::string_view kRedeployCursorSetting = "subscribers.redeploy_on_renewal.seq";

class RedeployOnRenewal {
 public:
  // All references are borrowed and must outlive the subscriber. Call RegisterJobs() before the
  // engine runs.
  RedeployOnRenewal(store::Store& store, jobs::JobEngine& engine, DeploymentService& deployments,
                    size_t batch = 500);

  void RegisterJobs();
  // Reads up to `batch` events after the cursor, enqueues a redeploy job per
  // certificate.renewed among them and moves the cursor past all of them, in one transaction.
  // Returns the number of events read (0 when the outbox has nothing new).
  Result<size_t> RunOnce();
  // The job's step (public for tests).
  jobs::StepResult RunStep(const model::Job& job);

 private:
  store::Store& store_;
  jobs::JobEngine& engine_;
  DeploymentService& deployments_;
  size_t batch_;
};

}  // namespace certfleet::lifecycle
