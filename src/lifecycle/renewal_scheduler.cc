#include "lifecycle/renewal_scheduler.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "base/check.h"
#include "base/log.h"
#include "base/time_util.h"
#include "lifecycle/caller.h"

namespace certfleet::lifecycle {
namespace {

using std::chrono::duration_cast;

TimePoint Whole(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }

Seconds RandomUpTo(Random& random, Seconds max) {
  if (max.count() <= 0) return Seconds(0);
  return Seconds(static_cast<int64_t>(random.Uniform(static_cast<uint64_t>(max.count()) + 1)));
}

}  // namespace

Result<bool> StoreLeaseLock::TryAcquire() {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  const TimePoint now = Whole(clock_.Now());
  CF_ASSIGN_OR_RETURN(std::optional<model::Lease> current, tx->leases().Get(name_));
  if (current && current->owner != owner_ && current->expires_at > now) return false;
  CF_TRY(tx->leases().Put({.name = name_, .owner = owner_, .expires_at = now + lease_}));
  CF_TRY(tx->Commit());
  return true;
}

std::unique_ptr<LeaderLock> DefaultLeaderLock(store::Store& store, const Clock& clock,
                                              const std::string& name, const std::string& owner,
                                              Seconds lease) {
  if (auto leadership = store.NewLeadership(name)) {
    return std::make_unique<StoreLeadershipLock>(std::move(leadership));
  }
  return std::make_unique<StoreLeaseLock>(store, clock, name, owner, lease);
}

void StoreLeaseLock::Release() {
  auto release = [&]() -> Status {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_TRY(tx->leases().Delete(name_, owner_));
    return tx->Commit();
  };
  if (Status st = release(); !st.ok()) {
    log::Warn("could not release the scheduler lock", {{"error", st.error().ToString()}});
  }
}

RenewalScheduler::RenewalScheduler(store::Store& store, jobs::JobEngine& engine,
                                   CertificateService& certificates, const Clock& clock,
                                   Random& random, RenewalSchedulerOptions options,
                                   std::unique_ptr<LeaderLock> lock)
    : store_(store),
      engine_(engine),
      certificates_(certificates),
      clock_(clock),
      random_(random),
      options_(std::move(options)),
      lock_(std::move(lock)) {
  CF_CHECK(!options_.owner.empty());
  CF_CHECK(options_.lease.count() > 0 && options_.batch > 0);
  CF_CHECK(options_.base_backoff.count() > 0 && options_.max_backoff >= options_.base_backoff);
  if (!lock_) {
    lock_ = DefaultLeaderLock(store_, clock_, std::string(kSchedulerLockName), options_.owner,
                              options_.lease);
  }
}

void RenewalScheduler::RegisterJobs() {
  engine_.Register(std::string(kRenewJobType),
                   [this](const model::Job& job) { return RunStep(job); });
}

void RenewalScheduler::Stop() { lock_->Release(); }

Seconds RenewalScheduler::Backoff(int failures) {
  Seconds b = options_.base_backoff;
  for (int i = 1; i < failures && b < options_.max_backoff; ++i) b *= 2;
  b = std::min(b, options_.max_backoff);
  // Jitter in the upper half keeps a floor under the wait while spreading a failing fleet.
  return b - RandomUpTo(random_, b / 2);
}

Result<int> RenewalScheduler::RunOnce() {
  CF_ASSIGN_OR_RETURN(bool leader, lock_->TryAcquire());
  if (!leader) return 0;
  const TimePoint now = Whole(clock_.Now());
  CF_TRY(Plan(now));
  return EnqueueDue(now);
}

Status RenewalScheduler::Plan(TimePoint now) {
  const RenewalPlanOptions plan{.max_jitter = options_.max_jitter,
                                .min_age_fraction = options_.min_age_fraction};
  std::string after;
  while (true) {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    // The candidates come with their window's inputs: no further read per certificate.
    CF_ASSIGN_OR_RETURN(auto unplanned, tx->renewals().ListUnplanned(after, options_.batch));
    if (unplanned.empty()) return Ok();
    for (const store::RenewalCandidate& c : unplanned) {
      CF_ASSIGN_OR_RETURN(TimePoint at, PlanRenewal(*tx, c, now, clock_, random_, plan));
      (void)at;
    }
    CF_TRY(tx->Commit());
    if (unplanned.size() < options_.batch) return Ok();
    after = unplanned.back().certificate_id;
  }
}

Result<int> RenewalScheduler::EnqueueDue(TimePoint now) {
  int enqueued = 0;
  while (true) {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(auto due, tx->renewals().ListDue(now, options_.batch));
    if (due.empty()) return enqueued;
    for (model::RenewalState& s : due) {
      nlohmann::json input = {{"certificate_id", s.certificate_id}, {"version_id", s.version_id}};
      CF_ASSIGN_OR_RETURN(model::Certificate cert, tx->certificates().Get(s.certificate_id));
      CF_ASSIGN_OR_RETURN(
          model::Job job,
          engine_.Enqueue(*tx, {.account_id = cert.account_id,
                                .type = std::string(kRenewJobType),
                                .input_json = input.dump(),
                                .idempotency_key = s.certificate_id + "/" + s.version_id + "/" +
                                                   std::to_string(s.failures),
                                .max_attempts = 3,
                                .deadline = now + options_.in_flight}));
      const bool ended = job.state == model::JobState::kFailed ||
                         job.state == model::JobState::kCancelled ||
                         job.state == model::JobState::kSucceeded;
      if (ended) {
        // The attempt under this key is over without having renewed or recorded its failure
        // (cancelled, out of attempts or past its deadline): count it as a failure.
        s.failures += 1;
        s.last_error = job.last_error.empty() ? "renewal job " + job.id + " ended without renewing"
                                              : job.last_error;
        s.next_attempt_at = now + Backoff(s.failures);
      } else {
        s.job_id = job.id;
        s.next_attempt_at = now + options_.in_flight;
        ++enqueued;
      }
      s.updated_at = now;
      CF_TRY(tx->renewals().Put(s));
    }
    CF_TRY(tx->Commit());
    if (due.size() < options_.batch) return enqueued;
  }
}

jobs::StepResult RenewalScheduler::RunStep(const model::Job& job) {
  nlohmann::json input = nlohmann::json::parse(job.input_json, nullptr, false);
  if (!input.is_object() || !input.contains("certificate_id") || !input.contains("version_id")) {
    return jobs::StepResult::Fail("malformed renewal job input");
  }
  const std::string id = input["certificate_id"].get<std::string>();
  const std::string version_id = input["version_id"].get<std::string>();
  if (job.step == jobs::kFirstStep || job.step == "renew") return StepRenew(id, version_id);
  // Jobs written before redeploys moved to RedeployOnRenewal may sit at this step: their
  // renewal committed its certificate.renewed event, which the subscriber acts on.
  if (job.step == "redeploy") return jobs::StepResult::Done(job.output_json);
  return jobs::StepResult::Fail("unknown renewal step " + job.step);
}

jobs::StepResult RenewalScheduler::StepRenew(const std::string& id, const std::string& version_id) {
  std::string account_id;
  {
    auto tx = store_.Begin();
    if (!tx.ok()) return jobs::StepResult::Retry(tx.error().ToString());
    auto cert = (*tx)->certificates().Get(id);
    if (!cert.ok()) {
      if (cert.error().code() == ErrorCode::kNotFound) return jobs::StepResult::Done();
      return jobs::StepResult::Retry(cert.error().ToString());
    }
    if (cert->status != model::CertificateStatus::kIssued) return jobs::StepResult::Done();
    if (cert->current_version_id != version_id) {
      // Renewed already (an earlier attempt of this step, or on demand); that renewal's event
      // drives the redeploy.
      nlohmann::json out = {{"new_version_id", cert->current_version_id}};
      return jobs::StepResult::Done(out.dump());
    }
    account_id = cert->account_id;
  }
  auto renewed = certificates_.Renew(SystemCaller(account_id, "system:renewal"), id);
  if (renewed.ok()) {
    nlohmann::json out = {{"new_version_id", renewed->version->id}};
    return jobs::StepResult::Done(out.dump());
  }
  if (renewed.error().code() == ErrorCode::kConflict) {
    return jobs::StepResult::Retry(renewed.error().message());  // look again: who won?
  }
  const std::string error = renewed.error().ToString();
  if (Status st = RecordFailure(id, version_id, error); !st.ok()) {
    return jobs::StepResult::Retry(st.error().ToString());
  }
  return jobs::StepResult::Fail(error);
}

Status RenewalScheduler::RecordFailure(const std::string& id, const std::string& version_id,
                                       const std::string& error) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  const TimePoint now = Whole(clock_.Now());
  model::RenewalState s{.certificate_id = id, .version_id = version_id};
  auto existing = tx->renewals().Get(id);
  if (existing.ok() && existing->version_id == version_id) s = *existing;
  s.failures += 1;
  s.last_error = error.substr(0, 500);
  s.next_attempt_at = now + Backoff(s.failures);
  s.job_id.clear();
  s.updated_at = now;
  CF_TRY(tx->renewals().Put(s));
  CF_TRY(tx->Commit());
  log::Warn("certificate renewal will be retried",
            {{"certificate_id", id},
             {"failures", std::to_string(s.failures)},
             {"next_attempt_at", FormatRfc3339(s.next_attempt_at)}});
  return Ok();
}

}  // namespace certfleet::lifecycle
