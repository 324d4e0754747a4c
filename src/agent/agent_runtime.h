// The agent's main loop (docs/agents.md "Agent protocol" and "The agent on the host").
//
// Start-up: every profile of the local configuration is recovered from an interrupted install
// (RecoverProfile); the state directory is opened; if it holds no client certificate yet, a
// P-256 key is generated and the agent enrolls with the token from enroll_token_file.
// Then, until RequestStop():
//   - the client certificate is renewed (new key, POST /v1/agent/renew, crash-safe swap) once a
//     third of its lifetime remains (the server refuses earlier renewals, rule
//     agent.renew_early; a later cert_renew_after from the server postpones it);
//   - the agent long-polls for jobs. http-01 challenge tasks in the answer (issue #6) are handled
//     first, since the CA is waiting on them: each is carried out by Http01Challenges
//     (http01_challenges.h) per the [http01] section and acknowledged (presented, removed, or
//     failed with a reason); an ack that does not arrive is logged, and the server re-sends the
//     task on the next poll. A poll that brought an acknowledged challenge counts as new work,
//     so the next poll (which brings the remove) follows at once. Then the jobs, in seq order:
//       seq <  last completed  refused as a replay (reported failed, state unchanged)
//       seq == last completed  the stored final result is re-reported, nothing is installed
//       unknown profile        failed "unknown profile NAME"
//       version < installed    failed (never downgrade a deployment)
//       otherwise              fetch bundle, fetch passphrase (403: failed "passphrase
//                              refused"), CheckBundle against the --ca roots before anything is
//                              written, InstallBundle; verified (installed when the profile has
//                              no verify_address), rolled_back, or failed with the reason.
//     The final result is persisted in state.json before it is reported, so a crash or a lost
//     report leads to a re-report of the same result when the server sends the job again.
//   - network errors (and 5xx/429) back off exponentially with full jitter (backoff.h), 1 s to
//     60 s; an error in the middle of a job leaves it uncompleted, so it is retried as a whole.
//
// Never logged: key material, passphrases, the enrollment token (they travel in SecretBytes,
// and error messages are built from names and ids only).
//
// Threading: Run() on one worker thread; RequestStop() and WaitUntilStoppable() from another
// (the signal-handling main thread). Work that changes disk state (recovery, an identity swap, a
// job from fetch to report) is finished before WaitUntilStoppable() returns; waiting (long poll,
// backoff) is not, and may be abandoned by exiting the process.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/agent_client.h"
#include "agent/agent_config.h"
#include "agent/agent_state.h"
#include "agent/backoff.h"
#include "agent/http01_challenges.h"
#include "agent/installers.h"
#include "base/clock.h"
#include "base/random.h"

namespace certfleet::agent {

struct RuntimeOptions {
  std::string server_url;  // https://host:port
  std::string ca_pem;      // the --ca file: trust for certfleetd and the roots bundles chain to
  // More roots deployed certificates may chain to (public CAs' roots for ACME certificates, a
  // private ACME CA's root): --bundle-roots files, by default the system bundle. PEM.
  std::string bundle_roots_pem;
  std::string state_dir;
  AgentConfig config;
  std::string enroll_token_file;       // read only when the state dir has no certificate yet
  std::string hostname;                // sent at enrollment; default gethostname()
  std::chrono::seconds poll_wait{25};  // 0..60
  std::chrono::milliseconds request_timeout{30000};
  BackoffPolicy backoff;
  // Polls that bring no new work start at least this far apart (a server answering an empty
  // long poll at once must not make the agent spin).
  std::chrono::milliseconds min_idle_poll_interval{1000};
  // Verification tuning and test hooks for InstallBundle. Its failpoint is also called with
  // "report" just before each report (test-only, see apps/certfleet-agent/main.cc).
  InstallerOptions installer;
};

// How one job ended, for the loop's pacing.
enum class JobOutcome { kCompleted, kReReported, kRefusedReplay };

class AgentRuntime {
 public:
  // InvalidArgument for bad options (no server URL, --ca without certificates, poll wait out of
  // range). Does not touch the disk or the network. `clock` and `random` are borrowed and must
  // outlive the runtime.
  static Result<std::unique_ptr<AgentRuntime>> Create(RuntimeOptions options, const Clock& clock,
                                                      Random& random);

  // Recovers the profiles and loads or creates the identity (one enrollment attempt). Errors:
  // FailedPrecondition when enrollment is needed and no token file was given or it is
  // unreadable; the enrollment call's errors (Unauthorized, Conflict, Unavailable, ...).
  Status Start();
  // One iteration: renew if due, one poll, the jobs it returned. The result tells whether the
  // poll brought new work (a completed job); errors are network or state-dir errors, after which
  // the caller backs off. Requires a successful Start().
  Result<bool> RunOnce();
  // Start() with backoff on retryable errors, then RunOnce() forever with backoff, until
  // RequestStop(). Returns Ok after a stop request, or the fatal start-up error.
  Status Run();

  void RequestStop();
  // Blocks until Run() has returned (true) or the worker is only waiting (long poll, backoff)
  // and will begin no new disk work; in that case it waits up to `grace` more for Run() to
  // return (a backoff sleep ends at once) and returns false if it has not (the process may then
  // exit without joining the worker). Call after RequestStop().
  bool WaitUntilStoppable(std::chrono::milliseconds grace = std::chrono::milliseconds(200));
  bool stop_requested() const;

  // For tests and logs.
  const AgentState& state() const { return state_; }
  const std::string& agent_id() const { return state_.agent_id; }
  // When the client certificate is due for renewal.
  std::optional<TimePoint> renew_at() const;
  // The http-01 listener's port while it runs (tests).
  std::optional<uint16_t> http01_listen_port() const { return http01_.listen_port(); }

 private:
  AgentRuntime(RuntimeOptions options, const Clock& clock, Random& random,
               std::vector<x509::Certificate> roots)
      : options_(std::move(options)),
        clock_(clock),
        random_(random),
        roots_(std::move(roots)),
        http01_(options_.config.http01) {}

  Status Enroll();
  Status ConnectWithIdentity();
  Status MaybeRenew();
  Status Renew();
  Result<JobOutcome> HandleJob(const AgentJob& job);
  // The final result of a new job, or a retryable error that leaves it uncompleted.
  Result<JobResult> Execute(const AgentJob& job);
  Status SendReport(const AgentJob& job, const JobResult& result);
  // Carries out and acknowledges one http-01 task; true if the ack reached the server.
  bool HandleChallenge(const Http01Task& task);

  // Critical sections: disk work that must not be cut short by a stop request.
  bool BeginCritical();
  void EndCritical();
  // Sleeps up to `d`; false if a stop was requested meanwhile.
  bool SleepFor(std::chrono::milliseconds d);

  RuntimeOptions options_;
  const Clock& clock_;
  Random& random_;
  std::vector<x509::Certificate> roots_;
  std::unique_ptr<StateDir> dir_;
  std::unique_ptr<AgentClient> client_;
  AgentState state_;
  std::optional<x509::Certificate> client_cert_;
  std::optional<TimePoint> server_renew_after_;
  std::optional<TimePoint> next_renew_attempt_;
  int renew_failures_ = 0;
  Http01Challenges http01_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;     // guarded by mu_
  bool busy_ = false;     // guarded by mu_
  bool stopped_ = false;  // guarded by mu_: Run() has returned
};

// Where a retryable error should lead: true for network failures, timeouts, 5xx and 429.
bool IsRetryable(const Error& e);

}  // namespace certfleet::agent
