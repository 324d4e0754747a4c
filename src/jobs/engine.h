// The durable job engine (docs/architecture.md "src/jobs"): multi-step jobs persisted in the store,
// run by workers that lease them, with retries, backoff, deadlines and idempotency keys.
//
// A job type is a set of steps. A StepFn is given the job (its type, current step, input and
// output JSON) and returns what to do next. The engine persists every outcome before the next
// step runs, so a crash loses at most the step in flight: the job's lease then expires and
// another worker (or this one, restarted) runs that same step again. Steps must therefore be
// idempotent: doing one twice must have the effect of doing it once (e.g. look up what an
// earlier attempt created before creating it, and use deterministic names or keys).
//
// Usage:
//   JobEngine engine(store, clock, random, {.owner = "certfleetd-1"});
//   engine.Register("certificate.issue", IssueStep);
//   CF_ASSIGN_OR_RETURN(auto tx, store.Begin());
//   CF_ASSIGN_OR_RETURN(auto job, engine.Enqueue(*tx, {.type = "certificate.issue", ...}));
//   CF_TRY(tx->Commit());
//   ... and a worker loop (apps/) calls engine.RunOnce() and sleeps when it returns 0.
//
// Semantics:
// - attempts counts tries of the current step; it is incremented by each claim and reset when a
//   step moves on (kNext). A step may be tried max_attempts times; a claim that would exceed
//   that (a worker crashed on the last try) fails the job with the last error.
// - kRetry backs off exponentially with full jitter: uniform in [0, min(max_backoff,
//   base_backoff * 2^(attempts-1))], from the injected Random. A StepResult.delay overrides the
//   computed delay (e.g. a server's Retry-After), still capped by max_backoff.
// - kWait re-runs the same step after `delay` (default base_backoff) without using an attempt:
//   for polling ("wait until the targets report"). The job's deadline bounds the waiting.
// - A job claimed after its deadline fails with "deadline exceeded" and does not run. A job of
//   an unregistered type fails. A StepFn that throws counts as kRetry with the exception's
//   message (caught here, at the edge: exceptions never leave the engine).
// - Cancel() is final; the outcome of a step in flight when the job was cancelled, or whose
//   lease was lost to another worker, is discarded.
//
// Thread safety: call Register() before RunOnce() is first called. Enqueue(), RunOnce(), Get()
// and Cancel() may then be called from several threads, and several engines (processes or
// replicas) may share one store: the store's Claim() makes sure one job has one live lease.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "model/model.h"
#include "store/store.h"

namespace certfleet::jobs {

// The step a new job starts at unless NewJob says otherwise.
inline constexpr std::string_view kFirstStep = "start";

struct StepResult {
  enum Kind {
    kNext,   // go on to next_step now (a new step: attempts start again)
    kDone,   // the job succeeded
    kRetry,  // transient failure: back off, then run this step again
    kFail,   // permanent failure
    kWait,   // run this step again after `delay`; not a failure, uses no attempt
  } kind = kDone;
  std::string next_step;    // kNext only
  std::string output_json;  // replaces the job's output_json when non-empty
  std::string error;        // kRetry and kFail: why (no secret values)
  std::optional<Seconds> delay;

  static StepResult Next(std::string step, std::string output = {});
  static StepResult Done(std::string output = {});
  static StepResult Retry(std::string error, std::optional<Seconds> delay = std::nullopt);
  static StepResult Fail(std::string error);
  static StepResult Wait(Seconds delay, std::string output = {});
};

// Runs one step of one job. Called without any store transaction open; it may open its own.
using StepFn = std::function<StepResult(const model::Job&)>;

struct EngineOptions {
  std::string owner;  // this worker's lease name; unique per engine (e.g. host:pid)
  Seconds lease{30};  // how long a claimed step may run before others may take the job over
  // While steps run, their leases are extended this often (real time; 0: a third of the
  // lease), so that a live worker keeps its jobs however slow a step is.
  std::chrono::milliseconds lease_keep_period{0};
  Seconds base_backoff{2};
  Seconds max_backoff{300};
  int batch = 16;  // jobs claimed per RunOnce()
};

struct NewJob {
  std::string account_id;  // empty for system jobs
  std::string type;
  std::string input_json = "{}";
  std::string idempotency_key;  // empty: none
  int max_attempts = 5;
  std::optional<TimePoint> deadline;
  std::optional<TimePoint> run_after;  // default: now
  std::string step = std::string(kFirstStep);
};

class JobEngine {
 public:
  // The store, clock and random source are borrowed and must outlive the engine. Options are
  // checked here: an empty owner, a non-positive lease or batch, or backoffs that are negative
  // or inverted are invariant violations (CF_CHECK), since they come from code, not input.
  JobEngine(store::Store& store, const Clock& clock, Random& random, EngineOptions options);

  // Replaces any earlier function for `type`.
  void Register(std::string type, StepFn fn);

  // Creates a pending job in the caller's Tx (so it commits with the work that asked for it).
  // If the (type, idempotency_key) pair is in use, returns that job instead, whatever its state.
  // InvalidArgument for an empty type or step, max_attempts < 1, or input that is not JSON;
  // store errors otherwise.
  Result<model::Job> Enqueue(store::Tx& tx, NewJob spec);

  // Claims up to options.batch due jobs and runs one step of each, persisting each outcome in
  // its own transaction. Returns the number of jobs processed (steps run, or jobs failed
  // without running: deadline, attempts, unknown type). Store errors are returned; an error
  // persisting one outcome stops the batch (the jobs' leases expire and they run again).
  Result<int> RunOnce();

  // The worker loop that calls RunOnce() (apps/) registers how to wake it. Wake() calls it: code
  // that enqueued a job calls Wake() after its transaction committed, so the job runs now
  // instead of at the loop's next idle poll. Without a waker, Wake() does nothing. Both are
  // thread-safe; the waker must stay callable until it is replaced (SetWaker(nullptr)).
  void SetWaker(std::function<void()> waker);
  void Wake() const;

  // NotFound if absent.
  Result<model::Job> Get(const std::string& id);
  // Cancels a pending or running job. Cancelling a cancelled job succeeds; a succeeded or failed
  // one gives FailedPrecondition; NotFound if absent.
  Status Cancel(const std::string& id);

 private:
  StepResult RunStep(const model::Job& job);
  // The outcome of `result` for `job` (as claimed) at `now`, as the job row to persist.
  model::Job Apply(model::Job job, const StepResult& result, TimePoint now);
  Seconds Backoff(int attempts);
  // Writes `updated` unless the job's lease was lost or it was cancelled meanwhile.
  Status Persist(const model::Job& claimed, const model::Job& updated);

  store::Store& store_;
  const Clock& clock_;
  Random& random_;
  EngineOptions options_;
  std::map<std::string, StepFn, std::less<>> steps_;
  mutable std::mutex waker_mu_;
  std::function<void()> waker_;
};

}  // namespace certfleet::jobs
