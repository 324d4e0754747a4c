// DeploymentService: place a certificate on every agent of an account whose tags match a selector,
// and remember where it went (docs/architecture.md flow 2, issue #4).
//
// Create() checks the caller, the cross-account grant and the certificate (issued, exportable),
// stores the deployment and enqueues a durable job ("deployment.run", src/jobs) in the same
// transaction. The job's steps are idempotent (each looks at what an earlier attempt left):
//   export   the current version as encrypted PKCS#8 under a fresh generated passphrase; the
//            passphrase becomes a new version of the deployment's secret in the target account,
//            tagged with the selector; the encrypted key is sealed into a blob
//   targets  one target row per matching active agent, each with the agent's next sequence
//            number; no match ends the deployment at once as no_targets
//   wait     until every target has reported, or the deadline passes (then the silent targets
//            fail with "deadline exceeded")
// Redeploy() starts a new generation of the same deployment: new export, new secret version,
// current certificate version, every matching agent (an agent that was offline gets only the
// newest generation, since a target row is updated in place).
//
// The agent side (PendingJobs, Bundle, Report) is called by the API for an authenticated agent.
// Thread-safe.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "crypto/key.h"
#include "jobs/engine.h"
#include "lifecycle/caller.h"
#include "model/model.h"
#include "secrets/secret_store.h"
#include "store/store.h"

namespace certfleet::lifecycle {

inline constexpr std::string_view kDeploymentJobType = "deployment.run";

// Told after a commit that an agent has new pending work (the API's long-poll hub).
class AgentNotifier {
 public:
  virtual ~AgentNotifier() = default;
  virtual void Notify(const std::string& agent_id) = 0;
};

struct NewDeployment {
  std::string certificate_id;
  std::string target_account_id;  // empty: the certificate's account
  model::Tags selector;
  std::string profile;
  std::optional<Seconds> deadline;  // default options.default_deadline
};

struct DeploymentOptions {
  crypto::Pkcs8Options pkcs8;
  Seconds default_deadline = std::chrono::minutes(15);
  Seconds min_deadline = std::chrono::minutes(1);
  Seconds max_deadline = std::chrono::hours(24);
  Seconds poll_interval = std::chrono::seconds(1);  // how often the wait step looks
};

struct TargetView {
  model::DeploymentTarget target;
  std::string hostname;
  int version = 0;  // of target.version_id
  std::string serial_hex;
};

struct DeploymentView {
  model::Deployment deployment;
  int version = 0;  // of deployment.version_id, 0 if not exported yet
  std::vector<TargetView> targets;
};

struct InventoryRow {
  model::DeploymentTarget target;
  model::Deployment deployment;
  std::string certificate_name;
  int version = 0;
  std::string serial_hex;
  TimePoint not_after;
  std::string hostname;
};

// One install job as an agent sees it.
struct AgentJob {
  model::DeploymentTarget target;
  model::Deployment deployment;
  std::string certificate_name;
  int version = 0;
  std::string serial_hex;
  TimePoint not_after;
};

struct AgentBundle {
  int64_t seq = 0;
  std::string certificate_pem;
  std::string chain_pem;
  SecretBytes encrypted_key_pem;
};

struct AgentReport {
  int64_t seq = 0;
  model::TargetState state = model::TargetState::kVerified;
  std::string reason;
  std::vector<std::string> paths;
  std::string serial_hex;
};

class DeploymentService {
 public:
  // `notifier` may be null. The engine is borrowed; call RegisterJobs() before it runs.
  DeploymentService(store::Store& store, secrets::SecretStore& secrets, jobs::JobEngine& engine,
                    AgentNotifier* notifier, const Clock& clock, Random& random,
                    DeploymentOptions options = {});

  void RegisterJobs();

  // Forbidden naming the rule ("grant.missing", a role rule), NotFound for an unknown or foreign
  // certificate or target account, Conflict for a certificate that is not exportable,
  // FailedPrecondition if it has no issued version, InvalidArgument for bad input.
  Result<model::Deployment> Create(const Caller& caller, const NewDeployment& spec);
  // A new generation (see above). Same errors as Create (the grant is checked again).
  Result<model::Deployment> Redeploy(const Caller& caller, const std::string& id);
  // Visible in the certificate's account and in the target account; NotFound otherwise.
  Result<DeploymentView> Get(const Caller& caller, const std::string& id);
  // Deployments of `account_id` (its certificates), or those targeting it; optionally of one
  // certificate. The caller's right to read that account is checked by the API.
  Result<std::vector<model::Deployment>> List(const std::string& account_id,
                                              const std::optional<std::string>& certificate_id);
  // Where a certificate of the caller's account is placed.
  Result<std::vector<InventoryRow>> InventoryForCertificate(const Caller& caller,
                                                            const std::string& certificate_id);
  // What is on an agent of the caller's account.
  Result<std::vector<InventoryRow>> InventoryForAgent(const Caller& caller,
                                                      const std::string& agent_id);

  // Agent side. PendingJobs marks the targets delivered and the agent seen.
  Result<std::vector<AgentJob>> PendingJobs(const model::Agent& agent);
  // NotFound if the target is not this agent's; Conflict if it has been superseded.
  Result<AgentBundle> Bundle(const model::Agent& agent, const std::string& target_id);
  // Conflict if report.seq is not the target's current seq (nothing changes); InvalidArgument
  // for a pending state or an oversize reason or path list.
  Status Report(const model::Agent& agent, const std::string& target_id, AgentReport report);

  // Adds `agent` (just enrolled, in `tx`) to every deployment of its account whose selector it
  // matches and that has been exported; returns whether it got any (notify after commit).
  Result<bool> AttachAgent(store::Tx& tx, const model::Agent& agent);

  // Revocation (issue #13). CancelAgentTargets cancels, in `tx`, every pending target of
  // `agent_id` (state cancelled, `reason` recorded on the target) and settles its deployments,
  // which then finish without waiting on it. OnGrantRevoked cancels the targets not yet
  // delivered to the agents of the grant's `to` account under the grant's deployments; agents
  // of that account that enroll or match later get nothing while no grant is active.
  Status CancelAgentTargets(store::Tx& tx, const std::string& agent_id, const std::string& reason);
  Status OnGrantRevoked(const model::Grant& grant);

  // The job step function (public for tests).
  jobs::StepResult RunStep(const model::Job& job);

 private:
  TimePoint Now() const { return std::chrono::floor<std::chrono::seconds>(clock_.Now()); }
  Result<model::Deployment> StartGeneration(const Caller& caller, model::Deployment dep,
                                            bool is_new);
  jobs::StepResult StepExport(const std::string& deployment_id, int generation);
  jobs::StepResult StepTargets(const std::string& deployment_id, int generation);
  jobs::StepResult StepWait(const std::string& deployment_id, int generation);
  // Assigns the deployment's current generation to `agent` (insert or update its target).
  Status Assign(store::Tx& tx, const model::Deployment& dep, const model::Agent& agent);
  // Recomputes the deployment's state from its targets; deadline_passed fails the silent ones.
  Status Settle(store::Tx& tx, model::Deployment& dep, bool deadline_passed);
  // Whether a report on a target of `generation` that was pending (or not) may leave the
  // deployment's state as it is: true only while other targets are surely still pending.
  bool SkipSettle(const std::string& deployment_id, int generation, bool was_pending);
  void NotifyAll(const std::vector<std::string>& agent_ids);
  Result<std::vector<InventoryRow>> Inventory(store::Tx& tx,
                                              std::vector<model::DeploymentTarget> targets);

  store::Store& store_;
  secrets::SecretStore& secrets_;
  jobs::JobEngine& engine_;
  AgentNotifier* notifier_;
  const Clock& clock_;
  Random& random_;
  DeploymentOptions options_;
  // Pending targets of each running deployment's current generation as the last Settle in this
  // process counted them, less the reports taken here since. A report that is not the last
  // then skips Settle's read of all N targets (N reports made a rollout O(N^2): issue #14).
  // A count that is too high (reports taken by another replica, cancelled targets) only delays
  // the state change until the wait step settles (poll_interval); too low costs a Settle.
  struct PendingCount {
    int generation = 0;
    int pending = 0;
  };
  std::mutex pending_mu_;
  std::unordered_map<std::string, PendingCount> pending_;  // by deployment id; pending_mu_
};

}  // namespace certfleet::lifecycle
