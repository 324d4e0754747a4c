// The work half of AgentRuntime (agent_runtime.h): refusing replays and downgrades, fetching,
// checking, installing, persisting and reporting one job; carrying out and acknowledging one
// http-01 challenge task.
#include "agent/agent_runtime.h"

#include "base/log.h"
#include "model/model.h"

namespace certfleet::agent {
namespace {

std::string StateName(model::TargetState s) { return std::string(model::TargetStateName(s)); }

std::string ReasonFor(std::string_view what, const Error& e) {
  return SanitizeText(std::string(what) + ": " + e.ToString(), 1024);
}

JobResult Failed(const AgentJob& job, std::string reason) {
  JobResult r;
  r.job_id = job.id;
  r.seq = job.seq;
  r.state = StateName(model::TargetState::kFailed);
  r.reason = SanitizeText(reason, 1024);
  r.serial = job.serial;
  return r;
}

void LogJob(log::Level level, std::string_view msg, const std::string& agent_id,
            const AgentJob& job) {
  log::Write(level, msg,
             {{"agent_id", agent_id},
              {"job_id", job.id},
              {"seq", std::to_string(job.seq)},
              {"deployment_id", job.deployment_id},
              {"profile", job.profile},
              {"version", std::to_string(job.version)}});
}

void LogResult(log::Level level, std::string_view msg, const std::string& agent_id,
               const AgentJob& job, const JobResult& r) {
  log::Write(level, msg,
             {{"agent_id", agent_id},
              {"job_id", job.id},
              {"seq", std::to_string(job.seq)},
              {"deployment_id", job.deployment_id},
              {"profile", job.profile},
              {"version", std::to_string(job.version)},
              {"state", r.state},
              {"reason", r.reason},
              {"serial", r.serial}});
}

}  // namespace

bool AgentRuntime::HandleChallenge(const Http01Task& task) {
  const std::string action(Http01ActionName(task.action));
  Status done = task.action == Http01Action::kPresent
                    ? http01_.Present(task.identifier, task.token, task.key_authorization)
                    : http01_.Remove(task.token);
  std::string state = task.action == Http01Action::kPresent ? "presented" : "removed";
  std::string reason;
  if (!done.ok()) {
    state = "failed";
    // The errors name the token and paths, never the key authorization (http01_challenges.h).
    reason = SanitizeText(done.error().message(), 1024);
  }
  Status acked = client_->AckChallenge(task.token, state, reason);
  log::Write(done.ok() && acked.ok() ? log::Level::kInfo : log::Level::kWarn, "http-01 challenge",
             {{"agent_id", state_.agent_id},
              {"token", task.token},
              {"action", action},
              {"outcome", state},
              {"reason", reason},
              {"ack", acked.ok() ? "sent" : "failed: " + acked.error().ToString()}});
  return acked.ok();
}

Status AgentRuntime::SendReport(const AgentJob& job, const JobResult& result) {
  if (options_.installer.failpoint) options_.installer.failpoint("report");
  JobReport report;
  report.seq = job.seq;
  report.state = result.state;
  report.reason = result.reason;
  report.paths = result.paths;
  report.serial = result.serial;
  Status st = client_->Report(job.id, report);
  if (!st.ok() && st.error().code() == ErrorCode::kConflict) {
    // 409: seq is no longer the target's current one; the server ignored a stale report.
    LogJob(log::Level::kWarn, "server ignored a stale report", state_.agent_id, job);
    return Ok();
  }
  return st;
}

Result<JobOutcome> AgentRuntime::HandleJob(const AgentJob& job) {
  if (job.seq <= state_.last_seq) {
    const JobResult* last = state_.last_result ? &*state_.last_result : nullptr;
    if (job.seq == state_.last_seq && last && last->job_id == job.id && last->seq == job.seq) {
      // Completed before (the report was lost, or the agent died right before it): say again
      // what happened instead of installing twice.
      LogResult(log::Level::kInfo, "re-reporting a completed job", state_.agent_id, job, *last);
      CF_TRY(SendReport(job, *last));
      return JobOutcome::kReReported;
    }
    JobResult refused = Failed(job, "replayed job: seq " + std::to_string(job.seq) +
                                        " is not greater than the last completed seq " +
                                        std::to_string(state_.last_seq));
    LogResult(log::Level::kWarn, "refusing a replayed job", state_.agent_id, job, refused);
    CF_TRY(SendReport(job, refused));
    return JobOutcome::kRefusedReplay;
  }

  LogJob(log::Level::kInfo, "job received", state_.agent_id, job);
  CF_ASSIGN_OR_RETURN(JobResult result, Execute(job));

  // Persist first: if the report is lost or the agent dies now, the next delivery of this seq is
  // answered from here.
  AgentState next = state_;
  next.last_seq = job.seq;
  next.last_result = result;
  const std::string verified = StateName(model::TargetState::kVerified);
  const std::string installed = StateName(model::TargetState::kInstalled);
  if (result.state == verified || result.state == installed) {
    next.installed[job.deployment_id] = job.version;
  }
  CF_TRY(dir_->SaveState(next));
  state_ = std::move(next);
  LogResult(
      result.state == verified || result.state == installed ? log::Level::kInfo : log::Level::kWarn,
      "job completed", state_.agent_id, job, result);
  CF_TRY(SendReport(job, result));
  return JobOutcome::kCompleted;
}

Result<JobResult> AgentRuntime::Execute(const AgentJob& job) {
  Result<const Profile*> found = options_.config.FindProfile(job.profile);
  if (!found.ok()) return Failed(job, "unknown profile " + job.profile);
  const Profile& profile = **found;

  auto inst = state_.installed.find(job.deployment_id);
  if (inst != state_.installed.end() && job.version < inst->second) {
    return Failed(job, "version " + std::to_string(job.version) + " of deployment " +
                           job.deployment_id + " is older than the installed version " +
                           std::to_string(inst->second) + "; refusing to downgrade");
  }

  Result<JobBundle> bundle = client_->FetchBundle(job);
  if (!bundle.ok()) {
    if (IsRetryable(bundle.error()) || bundle.error().code() == ErrorCode::kUnauthorized) {
      return std::move(bundle).error();  // retried as a whole after backing off
    }
    return Failed(job, ReasonFor("bundle", bundle.error()));
  }
  Result<SecretBytes> passphrase = client_->FetchSecret(job.secret_id, job.secret_version);
  if (!passphrase.ok()) {
    const Error& e = passphrase.error();
    if (e.code() == ErrorCode::kForbidden) return Failed(job, "passphrase refused");
    if (IsRetryable(e) || e.code() == ErrorCode::kUnauthorized) {
      return std::move(passphrase).error();
    }
    return Failed(job, ReasonFor("passphrase", e));
  }

  BundleInput input;
  input.fullchain_pem = bundle->certificate;
  if (!input.fullchain_pem.empty() && input.fullchain_pem.back() != '\n') {
    input.fullchain_pem += '\n';
  }
  input.fullchain_pem += bundle->chain;
  input.key_pem = std::move(bundle->private_key);
  input.passphrase = std::move(*passphrase);

  // Everything is checked before anything is written: a key that does not match the leaf, a
  // chain that does not lead to our roots or an expired leaf never reaches the disk.
  Result<CheckedBundle> checked = CheckBundle(input, roots_, clock_.Now());
  if (!checked.ok()) return Failed(job, ReasonFor("bundle check", checked.error()));
  const std::string serial = checked->leaf.serial_hex();
  auto significant = [](std::string_view hex) {
    while (hex.size() > 1 && hex.front() == '0') hex.remove_prefix(1);
    return hex;
  };
  if (!job.serial.empty() && significant(job.serial) != significant(serial)) {
    return Failed(job, "bundle leaf serial " + serial + " is not the job's serial " + job.serial);
  }

  InstallerOptions io = options_.installer;
  bool rolled_back = false;
  io.on_rolled_back = [&rolled_back] { rolled_back = true; };
  Result<std::unique_ptr<ActiveInstall>> active = InstallBundle(profile, *checked, input, io);
  JobResult r;
  r.job_id = job.id;
  r.seq = job.seq;
  r.serial = serial;
  if (active.ok()) {
    r.state = StateName(profile.verify_address.empty() ? model::TargetState::kInstalled
                                                       : model::TargetState::kVerified);
    r.paths = (*active)->paths();
    // Reloaded and verified: the agent never rolls this install back any more, so the previous
    // key need not stay on disk (unless the profile keeps it).
    (*active)->RemovePreviousKeys();
    return r;
  }
  if (rolled_back) {
    r.state = StateName(model::TargetState::kRolledBack);
    r.reason = ReasonFor("rolled back", active.error());
  } else {
    r.state = StateName(model::TargetState::kFailed);
    r.reason = ReasonFor("install", active.error());
  }
  return r;
}

}  // namespace certfleet::agent
