#include "jobs/engine.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "base/ids.h"
#include "base/log.h"

namespace certfleet::jobs {
namespace {

using model::Job;
using model::JobState;

// Jitter resolution: the fraction of the backoff cap is drawn from [0, kJitterSteps).
constexpr uint64_t kJitterSteps = uint64_t{1} << 20;

bool IsFinal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCancelled;
}

void Finish(Job& job, JobState state, std::string error) {
  job.state = state;
  if (!error.empty()) job.last_error = std::move(error);
  job.lease_owner.clear();
  job.lease_expires_at.reset();
}

void Reschedule(Job& job, TimePoint at) {
  job.state = JobState::kPending;
  job.run_after = at;
  job.lease_owner.clear();
  job.lease_expires_at.reset();
}

// Keeps the leases of a batch of claimed jobs alive while their steps run one after another: a
// thread extends every job still in flight each third of the lease, each only if it is still
// ours (JobRepo::ExtendLease). So a slow step (an ACME order polling for minutes, a batch of
// PBKDF2 runs) is never taken over while this worker lives, and is taken over one lease after it
// dies. Release() ends the keeping of one job and says which lease it holds now.
class LeaseKeeper {
 public:
  LeaseKeeper(store::Store& store, const Clock& clock, const std::string& owner, Seconds lease,
              std::chrono::milliseconds period, const std::vector<Job>& claimed)
      : store_(store),
        clock_(clock),
        owner_(owner),
        lease_(lease),
        period_(period.count() > 0
                    ? period
                    : std::max<std::chrono::milliseconds>(
                          std::chrono::milliseconds(1000),
                          std::chrono::duration_cast<std::chrono::milliseconds>(lease) / 3)) {
    for (const Job& j : claimed) {
      if (j.lease_expires_at) leases_[j.id] = *j.lease_expires_at;
    }
    if (!leases_.empty()) thread_ = std::thread([this] { Run(); });
  }
  ~LeaseKeeper() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Stops extending `id`; the lease the job holds now (nullopt if we lost it).
  std::optional<TimePoint> Release(const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = leases_.find(id);
    if (it == leases_.end()) return std::nullopt;
    TimePoint at = it->second;
    leases_.erase(it);
    return at;
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!stop_ && !leases_.empty()) {
      cv_.wait_for(lock, period_, [this] { return stop_; });
      if (stop_) break;
      // Extended under the lock, so that Release() never sees a lease that is about to change.
      auto extend = [&]() -> Status {
        CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
        const TimePoint until = std::chrono::time_point_cast<Seconds>(clock_.Now()) + lease_;
        std::map<std::string, TimePoint> next;
        for (const auto& [id, expected] : leases_) {
          CF_ASSIGN_OR_RETURN(bool ours, tx->jobs().ExtendLease(id, owner_, expected, until));
          if (ours) next[id] = until;
        }
        CF_TRY(tx->Commit());
        leases_ = std::move(next);  // a job we lost is kept no more
        return Ok();
      };
      if (Status st = extend(); !st.ok()) {
        log::Warn("could not extend job leases", {{"error", st.error().ToString()}});
      }
    }
  }

  store::Store& store_;
  const Clock& clock_;
  const std::string owner_;
  const Seconds lease_;
  const std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, TimePoint> leases_;  // job id -> lease_expires_at; guarded by mu_
  bool stop_ = false;                        // guarded by mu_
  std::thread thread_;
};

}  // namespace

StepResult StepResult::Next(std::string step, std::string output) {
  return {.kind = kNext, .next_step = std::move(step), .output_json = std::move(output)};
}
StepResult StepResult::Done(std::string output) {
  return {.kind = kDone, .output_json = std::move(output)};
}
StepResult StepResult::Retry(std::string error, std::optional<Seconds> delay) {
  return {.kind = kRetry, .error = std::move(error), .delay = delay};
}
StepResult StepResult::Fail(std::string error) {
  return {.kind = kFail, .error = std::move(error)};
}
StepResult StepResult::Wait(Seconds delay, std::string output) {
  return {.kind = kWait, .output_json = std::move(output), .delay = delay};
}

JobEngine::JobEngine(store::Store& store, const Clock& clock, Random& random, EngineOptions options)
    : store_(store), clock_(clock), random_(random), options_(std::move(options)) {
  CF_CHECK(!options_.owner.empty());
  CF_CHECK(options_.lease > Seconds(0));
  CF_CHECK(options_.batch > 0);
  CF_CHECK(options_.base_backoff >= Seconds(0));
  CF_CHECK(options_.max_backoff >= options_.base_backoff);
}

void JobEngine::Register(std::string type, StepFn fn) {
  CF_CHECK(fn != nullptr);
  steps_.insert_or_assign(std::move(type), std::move(fn));
}

Result<Job> JobEngine::Enqueue(store::Tx& tx, NewJob spec) {
  if (spec.type.empty()) return InvalidArgument("job type must not be empty");
  if (spec.step.empty()) return InvalidArgument("job step must not be empty");
  if (spec.max_attempts < 1) return InvalidArgument("job max_attempts must be at least 1");
  if (!nlohmann::json::accept(spec.input_json)) {
    return InvalidArgument("job input is not valid JSON");
  }
  if (!spec.idempotency_key.empty()) {
    auto existing = tx.jobs().GetByIdempotencyKey(spec.type, spec.idempotency_key);
    if (existing.ok() || existing.error().code() != ErrorCode::kNotFound) return existing;
  }
  const TimePoint now = std::chrono::time_point_cast<Seconds>(clock_.Now());
  Job job;
  job.id = NewId(model::kJobPrefix, clock_, random_);
  job.account_id = std::move(spec.account_id);
  job.type = std::move(spec.type);
  job.step = std::move(spec.step);
  job.state = JobState::kPending;
  job.attempts = 0;
  job.max_attempts = spec.max_attempts;
  job.input_json = std::move(spec.input_json);
  job.output_json = "{}";
  job.idempotency_key = std::move(spec.idempotency_key);
  job.run_after = spec.run_after.value_or(now);
  job.deadline = spec.deadline;
  job.created_at = now;
  job.updated_at = now;
  Status inserted = tx.jobs().Insert(job);
  if (!inserted.ok()) {
    // Another transaction took the key between our lookup and insert (possible on PostgreSQL,
    // not under SQLite's single writer): the job it created is the answer.
    if (inserted.error().code() == ErrorCode::kConflict && !job.idempotency_key.empty()) {
      return tx.jobs().GetByIdempotencyKey(job.type, job.idempotency_key);
    }
    return std::move(inserted).error();
  }
  return job;
}

void JobEngine::SetWaker(std::function<void()> waker) {
  std::lock_guard lk(waker_mu_);
  waker_ = std::move(waker);
}

void JobEngine::Wake() const {
  std::lock_guard lk(waker_mu_);
  if (waker_) waker_();
}

Result<int> JobEngine::RunOnce() {
  std::vector<Job> claimed;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(claimed, tx->jobs().Claim(options_.owner, clock_.Now(), options_.lease, {},
                                                  static_cast<size_t>(options_.batch)));
    CF_TRY(tx->Commit());
  }
  LeaseKeeper keeper(store_, clock_, options_.owner, options_.lease, options_.lease_keep_period,
                     claimed);
  int processed = 0;
  for (Job job : claimed) {
    // The claim is committed: from here a crash leaves the job to the lease's expiry.
    StepResult result;
    const TimePoint started = clock_.Now();
    if (job.deadline && started > *job.deadline) {
      result = StepResult::Fail("deadline exceeded");
    } else if (job.attempts > job.max_attempts) {
      // Only reachable when a worker died holding the last attempt.
      result = StepResult::Fail(job.last_error.empty() ? "max attempts exceeded" : job.last_error);
    } else {
      result = RunStep(job);
    }
    // The claim as it stands now: its lease may have been extended meanwhile, or lost.
    job.lease_expires_at = keeper.Release(job.id);
    if (!job.lease_expires_at) continue;  // taken over: the new owner's outcome counts
    CF_TRY(Persist(job, Apply(job, result, clock_.Now())));
    ++processed;
  }
  return processed;
}

StepResult JobEngine::RunStep(const Job& job) {
  auto it = steps_.find(job.type);
  if (it == steps_.end()) return StepResult::Fail("unknown job type " + job.type);
  // The edge: step functions may call code that throws; nothing escapes the engine.
  try {
    return it->second(job);
  } catch (const std::exception& e) {
    return StepResult::Retry(std::string("step threw: ") + e.what());
  } catch (...) {
    return StepResult::Retry("step threw a non-standard exception");
  }
}

Job JobEngine::Apply(Job job, const StepResult& result, TimePoint now) {
  now = std::chrono::time_point_cast<Seconds>(now);
  job.updated_at = now;
  if (!result.output_json.empty()) job.output_json = result.output_json;
  switch (result.kind) {
    case StepResult::kNext:
      if (result.next_step.empty()) {
        Finish(job, JobState::kFailed, "step " + job.step + " named no next step");
        break;
      }
      job.step = result.next_step;
      job.attempts = 0;
      job.last_error.clear();
      Reschedule(job, now);
      break;
    case StepResult::kDone:
      Finish(job, JobState::kSucceeded, "");
      break;
    case StepResult::kFail:
      Finish(job, JobState::kFailed, result.error.empty() ? "step failed" : result.error);
      break;
    case StepResult::kRetry: {
      job.last_error = result.error.empty() ? "step asked for a retry" : result.error;
      if (job.attempts >= job.max_attempts) {
        Finish(job, JobState::kFailed, "");
        break;
      }
      Seconds delay =
          result.delay ? std::min(*result.delay, options_.max_backoff) : Backoff(job.attempts);
      Reschedule(job, now + std::max(delay, Seconds(0)));
      break;
    }
    case StepResult::kWait: {
      // The claim counted an attempt; waiting is not a failure, so give it back.
      job.attempts = std::max(0, job.attempts - 1);
      Seconds delay = result.delay.value_or(options_.base_backoff);
      Reschedule(job, now + std::max(delay, Seconds(0)));
      break;
    }
  }
  return job;
}

Seconds JobEngine::Backoff(int attempts) {
  // Full jitter (uniform in [0, cap]) spreads retries of jobs that failed together, e.g. when
  // a CA was down, instead of bringing them back in lockstep.
  const int64_t base = options_.base_backoff.count();
  const int64_t max = options_.max_backoff.count();
  int64_t cap = base;
  for (int i = 1; i < attempts && cap < max; ++i) cap *= 2;
  cap = std::min(cap, max);
  const uint64_t r = random_.Uniform(kJitterSteps);
  return Seconds(
      static_cast<int64_t>((static_cast<unsigned __int128>(cap) * r) / (kJitterSteps - 1)));
}

Status JobEngine::Persist(const Job& claimed, const Job& updated) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(Job current, tx->jobs().Get(claimed.id));
  // Our claim still holds only if the row is running under our lease. Otherwise the job was
  // cancelled, or our lease expired and another worker took it over: that worker's outcome
  // counts, ours is dropped (the step was idempotent, so having run it is harmless).
  if (current.state != JobState::kRunning || current.lease_owner != claimed.lease_owner ||
      current.lease_expires_at != claimed.lease_expires_at) {
    return Ok();
  }
  CF_TRY(tx->jobs().Update(updated));
  return tx->Commit();
}

Result<Job> JobEngine::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  return tx->jobs().Get(id);
}

Status JobEngine::Cancel(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(Job job, tx->jobs().Get(id));
  if (job.state == JobState::kCancelled) return Ok();
  if (IsFinal(job.state)) {
    return FailedPrecondition("job " + id + " has finished (" +
                              std::string(model::JobStateName(job.state)) + ")");
  }
  Finish(job, JobState::kCancelled, "");
  job.updated_at = std::chrono::time_point_cast<Seconds>(clock_.Now());
  CF_TRY(tx->jobs().Update(job));
  return tx->Commit();
}

}  // namespace certfleet::jobs
