#include "lifecycle/deployment_service.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "audit/audit_log.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "events/events.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/domain_claims.h"
#include "lifecycle/status_util.h"
#include "policy/authorize.h"
#include "policy/tags.h"
#include "secrets/passphrase.h"
#include "store/owned.h"

namespace certfleet::lifecycle {
namespace {

constexpr size_t kMaxSelectorTags = 32;
constexpr size_t kMaxReason = 1024;
constexpr size_t kMaxPaths = 32;
constexpr size_t kMaxPath = 4096;
constexpr char kKeyPurpose[] = "deployment-key";
// How stale an agent's last_seen_at may get before a poll refreshes it. An idle poll (and the
// poll hub's periodic recheck of every parked poll) is then a read, not a synced write: at
// 10,000 agents that was ~2,000 commits a second (issue #14). Far below the 300 s after which
// the expiry watcher calls an agent offline.
constexpr auto kLastSeenRefresh = std::chrono::seconds(30);

bool IsSuccess(model::TargetState s) {
  return s == model::TargetState::kVerified || s == model::TargetState::kInstalled;
}
bool IsFailure(model::TargetState s) {
  return s == model::TargetState::kFailed || s == model::TargetState::kRolledBack;
}

// A deployment into another account assigns agents only while that account's grant is active
// (issue #13: revoking a grant stops the assignment of its agents, also to existing deployments).
Result<bool> GrantActive(store::Tx& tx, const model::Deployment& dep) {
  if (dep.account_id == dep.target_account_id) return true;
  CF_ASSIGN_OR_RETURN(auto grants, tx.grants().ListActive(dep.account_id, dep.target_account_id));
  return !grants.empty();
}

std::string NoTargetsDetail(const model::Deployment& dep) {
  return "no active agent in the target account matches selector " + SelectorText(dep.selector);
}

Result<bool> AnyActiveAgentMatches(store::Tx& tx, const model::Deployment& dep) {
  CF_ASSIGN_OR_RETURN(auto agents, tx.agents().ListByAccount(dep.target_account_id));
  for (const model::Agent& a : agents) {
    if (a.status == model::AgentStatus::kActive && policy::SelectorMatches(dep.selector, a.tags)) {
      return true;
    }
  }
  return false;
}

std::string JobInput(const std::string& deployment_id, int generation) {
  return nlohmann::json{{"deployment_id", deployment_id}, {"generation", generation}}.dump();
}

// A deployment as `caller` may see it: its certificate's account always, the target account too
// when `target_may_see` (reads); anyone else gets the NotFound of an unknown id.
Result<model::Deployment> LoadDeployment(store::Tx& tx, const Caller& caller, const std::string& id,
                                         bool target_may_see) {
  return store::LoadVisible(
      "deployment", id, model::kDeploymentPrefix,
      [&](const std::string& k) { return tx.deployments().Get(k); },
      [&](const model::Deployment& d) {
        return d.account_id == caller.account_id ||
               (target_may_see && d.target_account_id == caller.account_id);
      });
}

Status CheckDeployAllowed(store::Tx& tx, const Caller& caller, const std::string& cert_account,
                          const std::string& target_account) {
  CF_ASSIGN_OR_RETURN(auto grants, tx.grants().ListActive(cert_account, target_account));
  std::vector<policy::Grant> active;
  for (const model::Grant& g : grants) {
    active.push_back({.from_account = g.from_account_id, .to_account = g.to_account_id});
  }
  return policy::AuthorizeCrossAccountDeploy(ToSubject(caller), cert_account, target_account,
                                             active)
      .ToStatus();
}

// Emits a deployment event through the outbox, in `tx`, tagged like the certificate (so
// subscriptions filter deployment events by certificate tags too).
Status EmitDeploymentEvent(store::Tx& tx, const Clock& clock, Random& random,
                           const model::Deployment& dep, const std::string& type,
                           nlohmann::json extra = nlohmann::json::object()) {
  CF_ASSIGN_OR_RETURN(auto cert, tx.certificates().Get(dep.certificate_id));
  nlohmann::json data = {{"deployment_id", dep.id},
                         {"certificate_id", dep.certificate_id},
                         {"certificate_name", cert.name},
                         {"target_account", dep.target_account_id},
                         {"generation", dep.generation},
                         {"version_id", dep.version_id},
                         {"state", model::DeploymentStateName(dep.state)},
                         {"state_detail", dep.state_detail}};
  data.update(extra);
  return AsStatus(events::Emit(tx, clock, random,
                               {.account_id = dep.account_id,
                                .type = type,
                                .subject = dep.id,
                                .data_json = data.dump(),
                                .tags = cert.tags}));
}

}  // namespace

DeploymentService::DeploymentService(store::Store& store, secrets::SecretStore& secrets,
                                     jobs::JobEngine& engine, AgentNotifier* notifier,
                                     const Clock& clock, Random& random, DeploymentOptions options)
    : store_(store),
      secrets_(secrets),
      engine_(engine),
      notifier_(notifier),
      clock_(clock),
      random_(random),
      options_(std::move(options)) {}

void DeploymentService::RegisterJobs() {
  engine_.Register(std::string(kDeploymentJobType),
                   [this](const model::Job& job) { return RunStep(job); });
}

Result<model::Deployment> DeploymentService::Create(const Caller& caller,
                                                    const NewDeployment& spec) {
  CF_TRY(ValidateName("profile", spec.profile));
  if (spec.selector.empty()) {
    return InvalidArgument(
        "selector must name at least one tag (an empty selector matches "
        "nothing)");
  }
  if (spec.selector.size() > kMaxSelectorTags) {
    return InvalidArgument("selector has more than 32 tags");
  }
  CF_TRY(ValidateTags(spec.selector));
  const Seconds deadline = spec.deadline.value_or(options_.default_deadline);
  if (deadline < options_.min_deadline || deadline > options_.max_deadline) {
    return InvalidArgument("deadline must be between " + FormatDuration(options_.min_deadline) +
                           " and " + FormatDuration(options_.max_deadline));
  }

  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(CertificateView view, LoadVisible(*tx, caller, spec.certificate_id));
  const model::Certificate& cert = view.certificate;
  const std::string target =
      spec.target_account_id.empty() ? cert.account_id : spec.target_account_id;
  auto target_account = tx->accounts().Get(target);
  if (!target_account.ok()) {
    // An unknown target answers like a known one without a grant: whether another account
    // exists is not the caller's business.
    if (target_account.error().code() == ErrorCode::kNotFound) {
      CF_TRY(policy::Authorize(ToSubject(caller), policy::Action::kDeploymentWrite,
                               {.account_id = cert.account_id})
                 .ToStatus());
      return policy::GrantMissing(cert.account_id).ToStatus().error();
    }
    return std::move(target_account).error();
  }
  CF_TRY(CheckDeployAllowed(*tx, caller, cert.account_id, target));
  // A certificate for a name its account no longer holds is not placed anywhere (issue #13).
  CF_TRY(CheckDomainClaims(*tx, cert.account_id, cert.domains));
  if (cert.issuer == kAcmeServerIssuer) {
    return Conflict("certificate " + cert.id +
                    " was issued through certfleet's ACME server: its private key stays with the "
                    "ACME client that requested it, so agents cannot deploy it");
  }
  if (!cert.exportable) {
    return Conflict("certificate " + cert.id +
                    " was requested as not exportable, so it cannot be deployed");
  }
  if (!view.version) {
    return FailedPrecondition("certificate " + cert.id + " has no issued version yet");
  }

  model::Deployment dep;
  dep.id = NewId(model::kDeploymentPrefix, clock_, random_);
  dep.account_id = cert.account_id;
  dep.certificate_id = cert.id;
  dep.target_account_id = target;
  dep.selector = spec.selector;
  dep.profile = spec.profile;
  dep.state = model::DeploymentState::kRunning;
  dep.state_detail = "exporting";
  dep.generation = 1;
  dep.created_by = caller.principal_id;
  dep.created_at = Now();
  dep.updated_at = dep.created_at;
  dep.deadline = dep.created_at + deadline;
  CF_ASSIGN_OR_RETURN(bool matched, AnyActiveAgentMatches(*tx, dep));
  if (!matched) {
    // Decided at once, and nothing is exported for nobody: an agent that enrolls later with
    // matching tags starts the export (AttachAgent).
    dep.state = model::DeploymentState::kNoTargets;
    dep.state_detail = NoTargetsDetail(dep);
    CF_TRY(tx->deployments().Insert(dep));
    CF_TRY(EmitDeploymentEvent(*tx, clock_, random_, dep, "deployment.failed"));
    CF_TRY(audit::AppendInTx(caller.audit, *tx,
                             {.account_id = dep.account_id, .resource = dep.id, .status = 201}));
    CF_TRY(tx->Commit());
    log::Info("deployment created without targets",
              {{"deployment_id", dep.id}, {"selector", SelectorText(dep.selector)}});
    return dep;
  }
  CF_TRY(tx->deployments().Insert(dep));
  CF_ASSIGN_OR_RETURN(model::Job job,
                      engine_.Enqueue(*tx, {.account_id = dep.account_id,
                                            .type = std::string(kDeploymentJobType),
                                            .input_json = JobInput(dep.id, dep.generation),
                                            .idempotency_key = dep.id + ":1",
                                            .max_attempts = 8,
                                            .deadline = *dep.deadline + std::chrono::minutes(5)}));
  dep.job_id = job.id;
  CF_TRY(tx->deployments().Update(dep));
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = dep.account_id, .resource = dep.id, .status = 201}));
  CF_TRY(tx->Commit());
  log::Info("deployment created", {{"deployment_id", dep.id},
                                   {"certificate_id", cert.id},
                                   {"target_account", target},
                                   {"selector", SelectorText(dep.selector)},
                                   {"profile", dep.profile},
                                   {"principal_id", caller.principal_id}});
  return dep;
}

Result<model::Deployment> DeploymentService::Redeploy(const Caller& caller, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(model::Deployment dep,
                      LoadDeployment(*tx, caller, id, /*target_may_see=*/false));
  CF_ASSIGN_OR_RETURN(CertificateView view, LoadVisible(*tx, caller, dep.certificate_id));
  CF_TRY(CheckDeployAllowed(*tx, caller, dep.account_id, dep.target_account_id));
  CF_TRY(CheckDomainClaims(*tx, dep.account_id, view.certificate.domains));
  if (!view.version) {
    return FailedPrecondition("certificate " + dep.certificate_id + " has no issued version");
  }
  Seconds span = options_.default_deadline;
  if (dep.deadline && *dep.deadline > dep.created_at) {
    span = std::chrono::duration_cast<Seconds>(*dep.deadline - dep.created_at);
    span = std::clamp(span, options_.min_deadline, options_.max_deadline);
  }
  dep.generation += 1;
  dep.version_id.clear();
  dep.key_blob_id.clear();
  dep.state = model::DeploymentState::kRunning;
  dep.state_detail = "exporting";
  dep.updated_at = Now();
  dep.deadline = dep.updated_at + span;
  CF_ASSIGN_OR_RETURN(bool matched, AnyActiveAgentMatches(*tx, dep));
  if (!matched) {
    dep.state = model::DeploymentState::kNoTargets;
    dep.state_detail = NoTargetsDetail(dep);
    dep.job_id.clear();
    CF_TRY(tx->deployments().Update(dep));
    CF_TRY(EmitDeploymentEvent(*tx, clock_, random_, dep, "deployment.failed"));
    CF_TRY(audit::AppendInTx(caller.audit, *tx,
                             {.account_id = dep.account_id, .resource = dep.id, .status = 202}));
    CF_TRY(tx->Commit());
    return dep;
  }
  CF_ASSIGN_OR_RETURN(
      model::Job job,
      engine_.Enqueue(*tx, {.account_id = dep.account_id,
                            .type = std::string(kDeploymentJobType),
                            .input_json = JobInput(dep.id, dep.generation),
                            .idempotency_key = dep.id + ":" + std::to_string(dep.generation),
                            .max_attempts = 8,
                            .deadline = *dep.deadline + std::chrono::minutes(5)}));
  dep.job_id = job.id;
  CF_TRY(tx->deployments().Update(dep));
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = dep.account_id, .resource = dep.id, .status = 202}));
  CF_TRY(tx->Commit());
  log::Info("deployment restarted", {{"deployment_id", dep.id},
                                     {"generation", std::to_string(dep.generation)},
                                     {"principal_id", caller.principal_id}});
  return dep;
}

Result<DeploymentView> DeploymentService::Get(const Caller& caller, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(model::Deployment dep,
                      LoadDeployment(*tx, caller, id, /*target_may_see=*/true));
  DeploymentView view;
  if (!dep.version_id.empty()) {
    CF_ASSIGN_OR_RETURN(auto v, tx->versions().Get(dep.version_id));
    view.version = v.version;
  }
  CF_ASSIGN_OR_RETURN(auto targets, tx->deployment_targets().ListByDeployment(dep.id));
  for (model::DeploymentTarget& t : targets) {
    TargetView tv;
    CF_ASSIGN_OR_RETURN(auto agent, tx->agents().Get(t.agent_id));
    tv.hostname = agent.hostname;
    if (!t.version_id.empty()) {
      CF_ASSIGN_OR_RETURN(auto v, tx->versions().Get(t.version_id));
      tv.version = v.version;
      tv.serial_hex = v.serial_hex;
    }
    tv.target = std::move(t);
    view.targets.push_back(std::move(tv));
  }
  view.deployment = std::move(dep);
  return view;
}

Result<std::vector<model::Deployment>> DeploymentService::List(
    const std::string& account_id, const std::optional<std::string>& certificate_id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  store::DeploymentFilter own{.account_id = account_id, .certificate_id = certificate_id};
  store::DeploymentFilter incoming{.target_account_id = account_id,
                                   .certificate_id = certificate_id};
  CF_ASSIGN_OR_RETURN(auto a, tx->deployments().List(own));
  CF_ASSIGN_OR_RETURN(auto b, tx->deployments().List(incoming));
  std::set<std::string> seen;
  std::vector<model::Deployment> out;
  for (auto* list : {&a, &b}) {
    for (model::Deployment& d : *list) {
      if (seen.insert(d.id).second) out.push_back(std::move(d));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.id < y.id; });
  return out;
}

Result<std::vector<InventoryRow>> DeploymentService::Inventory(
    store::Tx& tx, std::vector<model::DeploymentTarget> targets) {
  std::vector<InventoryRow> rows;
  rows.reserve(targets.size());
  for (model::DeploymentTarget& t : targets) {
    InventoryRow row;
    CF_ASSIGN_OR_RETURN(row.deployment, tx.deployments().Get(t.deployment_id));
    CF_ASSIGN_OR_RETURN(auto cert, tx.certificates().Get(row.deployment.certificate_id));
    row.certificate_name = cert.name;
    CF_ASSIGN_OR_RETURN(auto agent, tx.agents().Get(t.agent_id));
    row.hostname = agent.hostname;
    if (!t.version_id.empty()) {
      CF_ASSIGN_OR_RETURN(auto v, tx.versions().Get(t.version_id));
      row.version = v.version;
      row.serial_hex = v.serial_hex;
      row.not_after = v.not_after;
    }
    row.target = std::move(t);
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<std::vector<InventoryRow>> DeploymentService::InventoryForCertificate(
    const Caller& caller, const std::string& certificate_id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(CertificateView view, LoadVisible(*tx, caller, certificate_id));
  CF_ASSIGN_OR_RETURN(auto deps, tx->deployments().List({.certificate_id = view.certificate.id}));
  std::vector<model::DeploymentTarget> targets;
  for (const model::Deployment& d : deps) {
    CF_ASSIGN_OR_RETURN(auto ts, tx->deployment_targets().ListByDeployment(d.id));
    for (auto& t : ts) targets.push_back(std::move(t));
  }
  return Inventory(*tx, std::move(targets));
}

Result<std::vector<InventoryRow>> DeploymentService::InventoryForAgent(
    const Caller& caller, const std::string& agent_id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(store::LoadOwned("agent", agent_id, model::kAgentPrefix, caller.account_id,
                          [&](const std::string& k) { return tx->agents().Get(k); }));
  CF_ASSIGN_OR_RETURN(auto targets, tx->deployment_targets().ListByAgent(agent_id));
  return Inventory(*tx, std::move(targets));
}

// ---- The job -------------------------------------------------------------------------------

jobs::StepResult DeploymentService::RunStep(const model::Job& job) {
  std::string deployment_id;
  int generation = 0;
  try {
    auto in = nlohmann::json::parse(job.input_json);
    deployment_id = in.at("deployment_id").get<std::string>();
    generation = in.at("generation").get<int>();
  } catch (const std::exception&) {
    return jobs::StepResult::Fail("job input is not a deployment reference");
  }
  if (job.step == jobs::kFirstStep || job.step == "export") {
    return StepExport(deployment_id, generation);
  }
  if (job.step == "targets") return StepTargets(deployment_id, generation);
  if (job.step == "wait") return StepWait(deployment_id, generation);
  return jobs::StepResult::Fail("unknown deployment step " + QuoteForMessage(job.step));
}

namespace {
jobs::StepResult RetryOn(const Error& e) {
  if (e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kInternal) {
    return jobs::StepResult::Retry(e.ToString());
  }
  return jobs::StepResult::Fail(e.ToString());
}
}  // namespace

jobs::StepResult DeploymentService::StepExport(const std::string& deployment_id, int generation) {
  SecretBytes key_der;
  model::CertificateVersion version;
  {
    auto tx = store_.Begin();
    if (!tx.ok()) return RetryOn(tx.error());
    auto dep = (*tx)->deployments().Get(deployment_id);
    if (!dep.ok()) return RetryOn(dep.error());
    if (dep->generation != generation) return jobs::StepResult::Done(R"({"superseded":true})");
    if (!dep->version_id.empty()) return jobs::StepResult::Next("targets");
    auto cert = (*tx)->certificates().Get(dep->certificate_id);
    if (!cert.ok()) return RetryOn(cert.error());
    if (cert->current_version_id.empty()) {
      return jobs::StepResult::Fail("certificate has no issued version");
    }
    auto v = (*tx)->versions().Get(cert->current_version_id);
    if (!v.ok()) return RetryOn(v.error());
    version = std::move(*v);
    auto der = secrets_.OpenBlob(**tx, version.key_blob_id);
    if (!der.ok()) return RetryOn(der.error());
    key_der = std::move(*der);
  }
  // PBKDF2 runs outside any transaction.
  SecretBytes pass = secrets::GeneratePassphrase(random_);
  auto key = crypto::PrivateKey::FromPkcs8Der(key_der);
  if (!key.ok()) return jobs::StepResult::Fail(key.error().ToString());
  auto pem = key->ToEncryptedPkcs8Pem(pass, options_.pkcs8);
  if (!pem.ok()) return jobs::StepResult::Fail(pem.error().ToString());
  SecretBytes encrypted = SecretBytes::FromString(std::move(*pem));

  auto tx = store_.Begin();
  if (!tx.ok()) return RetryOn(tx.error());
  store::Tx& t = **tx;
  auto dep = t.deployments().Get(deployment_id);
  if (!dep.ok()) return RetryOn(dep.error());
  if (dep->generation != generation) return jobs::StepResult::Done(R"({"superseded":true})");
  if (!dep->version_id.empty()) return jobs::StepResult::Next("targets");
  // A renewal that committed while the key was being encrypted: export the new version instead.
  // (RedeployOnRenewal leaves a generation that has not exported yet alone, counting on this.)
  auto current = t.certificates().Get(dep->certificate_id);
  if (!current.ok()) return RetryOn(current.error());
  if (current->current_version_id != version.id) {
    return jobs::StepResult::Retry("the certificate was renewed during the export");
  }
  auto step = [&]() -> Status {
    if (dep->secret_id.empty()) {
      secrets::NewSecret spec{.account_id = dep->target_account_id,
                              .name = "deploy-" + dep->id,
                              .kind = model::SecretKind::kPassphrase,
                              .tags = dep->selector,
                              .description = "passphrase of the keys deployed by " + dep->id};
      CF_ASSIGN_OR_RETURN(model::Secret s, secrets_.Create(t, spec, pass));
      dep->secret_id = s.id;
      dep->secret_version = s.current_version;
    } else {
      CF_ASSIGN_OR_RETURN(model::Secret s, secrets_.AddVersion(t, dep->secret_id, pass));
      dep->secret_version = s.current_version;
    }
    CF_ASSIGN_OR_RETURN(dep->key_blob_id, secrets_.SealBlob(t, encrypted, kKeyPurpose));
    CF_ASSIGN_OR_RETURN(auto cert, t.certificates().Get(dep->certificate_id));
    model::ExportRecord rec;
    rec.id = NewId(model::kExportPrefix, clock_, random_);
    rec.account_id = dep->account_id;
    rec.certificate_id = dep->certificate_id;
    rec.version_id = version.id;
    rec.principal_id = dep->created_by;
    rec.allowed = true;
    rec.fqdn_count = static_cast<int>(cert.domains.size());
    for (const std::string& d : cert.domains) rec.wildcard_count += IsWildcard(d) ? 1 : 0;
    rec.secret_id = dep->secret_id;
    rec.at = Now();
    CF_TRY(t.exports().Insert(rec));
    dep->version_id = version.id;
    dep->state_detail = "exported version " + std::to_string(version.version);
    dep->updated_at = Now();
    CF_TRY(t.deployments().Update(*dep));
    return t.Commit();
  };
  Status st = step();
  if (!st.ok()) return RetryOn(st.error());
  log::Info("deployment exported", {{"deployment_id", dep->id},
                                    {"generation", std::to_string(generation)},
                                    {"version", std::to_string(version.version)},
                                    {"secret_id", dep->secret_id},
                                    {"secret_version", std::to_string(dep->secret_version)}});
  return jobs::StepResult::Next("targets");
}

Status DeploymentService::Assign(store::Tx& tx, const model::Deployment& dep,
                                 const model::Agent& agent) {
  auto existing = tx.deployment_targets().GetByDeploymentAgent(dep.id, agent.id);
  if (existing.ok() && existing->generation == dep.generation &&
      existing->version_id == dep.version_id) {
    return Ok();  // an earlier attempt of this step assigned it already
  }
  if (!existing.ok() && existing.error().code() != ErrorCode::kNotFound) {
    return std::move(existing).error();
  }
  CF_ASSIGN_OR_RETURN(int64_t seq, tx.agents().NextSeq(agent.id));
  const TimePoint now = Now();
  model::DeploymentTarget t = existing.ok() ? std::move(*existing) : model::DeploymentTarget{};
  const bool insert = t.id.empty();
  if (insert) {
    t.id = NewId(model::kTargetPrefix, clock_, random_);
    t.deployment_id = dep.id;
    t.agent_id = agent.id;
    t.account_id = agent.account_id;
    t.created_at = now;
  }
  t.generation = dep.generation;
  t.version_id = dep.version_id;
  t.seq = seq;
  t.state = model::TargetState::kPending;
  t.reason.clear();
  t.delivered_at.reset();
  t.installed_at.reset();
  t.verified_at.reset();
  t.updated_at = now;
  if (insert) return tx.deployment_targets().Insert(t);
  return tx.deployment_targets().Update(t);
}

jobs::StepResult DeploymentService::StepTargets(const std::string& deployment_id, int generation) {
  std::vector<std::string> notify;
  bool none = false;
  auto run = [&]() -> Status {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(model::Deployment dep, tx->deployments().Get(deployment_id));
    if (dep.generation != generation) return Ok();
    CF_ASSIGN_OR_RETURN(bool granted, GrantActive(*tx, dep));
    CF_ASSIGN_OR_RETURN(auto agents, tx->agents().ListByAccount(dep.target_account_id));
    for (const model::Agent& a : agents) {
      if (!granted) break;
      if (a.status != model::AgentStatus::kActive) continue;
      if (!policy::SelectorMatches(dep.selector, a.tags)) continue;
      CF_TRY(Assign(*tx, dep, a));
      notify.push_back(a.id);
    }
    if (notify.empty()) {
      dep.state = model::DeploymentState::kNoTargets;
      dep.state_detail =
          granted ? NoTargetsDetail(dep) : "the grant from the target account has been revoked";
      dep.updated_at = Now();
      CF_TRY(tx->deployments().Update(dep));
      CF_TRY(EmitDeploymentEvent(*tx, clock_, random_, dep, "deployment.failed"));
      none = true;
    } else {
      CF_TRY(Settle(*tx, dep, false));
    }
    return tx->Commit();
  };
  Status st = run();
  if (!st.ok()) return RetryOn(st.error());
  if (none) return jobs::StepResult::Done(R"({"targets":0})");
  NotifyAll(notify);
  return jobs::StepResult::Next("wait");
}

jobs::StepResult DeploymentService::StepWait(const std::string& deployment_id, int generation) {
  bool running = false;
  auto run = [&]() -> Status {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(model::Deployment dep, tx->deployments().Get(deployment_id));
    if (dep.generation != generation || dep.state != model::DeploymentState::kRunning) {
      return Ok();
    }
    const bool passed = dep.deadline && Now() >= *dep.deadline;
    CF_TRY(Settle(*tx, dep, passed));
    running = dep.state == model::DeploymentState::kRunning;
    return tx->Commit();
  };
  Status st = run();
  if (!st.ok()) return RetryOn(st.error());
  if (running) return jobs::StepResult::Wait(options_.poll_interval);
  return jobs::StepResult::Done();
}

Status DeploymentService::Settle(store::Tx& tx, model::Deployment& dep, bool deadline_passed) {
  CF_ASSIGN_OR_RETURN(auto targets, tx.deployment_targets().ListByDeployment(dep.id));
  int total = 0, ok = 0, bad = 0, pending = 0, cancelled = 0;
  const TimePoint now = Now();
  for (model::DeploymentTarget& t : targets) {
    if (t.generation != dep.generation) continue;
    // A cancelled target (revoked agent or grant) is not waited on and decides nothing.
    if (t.state == model::TargetState::kCancelled) {
      ++cancelled;
      continue;
    }
    ++total;
    if (t.state == model::TargetState::kPending && deadline_passed) {
      t.state = model::TargetState::kFailed;
      t.reason = "deadline exceeded: the agent did not report";
      t.updated_at = now;
      CF_TRY(tx.deployment_targets().Update(t));
      CF_TRY(EmitDeploymentEvent(
          tx, clock_, random_, dep, "deployment.target_failed",
          {{"target_id", t.id}, {"agent_id", t.agent_id}, {"reason", t.reason}}));
    }
    if (IsSuccess(t.state)) ++ok;
    if (IsFailure(t.state)) ++bad;
    if (t.state == model::TargetState::kPending) ++pending;
  }
  if (total == 0 && cancelled == 0) return Ok();
  const model::DeploymentState before = dep.state;
  if (total == 0) {
    dep.state = model::DeploymentState::kFailed;
    dep.state_detail = "all " + std::to_string(cancelled) + " targets were cancelled";
  } else if (pending > 0) {
    dep.state = model::DeploymentState::kRunning;
    dep.state_detail =
        std::to_string(total - pending) + " of " + std::to_string(total) + " targets reported";
  } else if (bad == 0) {
    dep.state = model::DeploymentState::kSucceeded;
    dep.state_detail = "all " + std::to_string(total) + " targets succeeded";
  } else {
    dep.state = model::DeploymentState::kFailed;
    dep.state_detail = std::to_string(bad) + " of " + std::to_string(total) + " targets failed";
  }
  if (total > 0 && cancelled > 0) {
    dep.state_detail += " (" + std::to_string(cancelled) + " cancelled)";
  }
  dep.updated_at = now;
  CF_TRY(tx.deployments().Update(dep));
  if (before != dep.state && dep.state != model::DeploymentState::kRunning) {
    const bool good = dep.state == model::DeploymentState::kSucceeded;
    CF_TRY(EmitDeploymentEvent(tx, clock_, random_, dep,
                               good ? "deployment.succeeded" : "deployment.failed"));
  }
  (void)ok;
  {
    std::lock_guard lock(pending_mu_);
    if (dep.state == model::DeploymentState::kRunning) {
      pending_[dep.id] = PendingCount{dep.generation, pending};
    } else {
      pending_.erase(dep.id);
    }
  }
  return Ok();
}

bool DeploymentService::SkipSettle(const std::string& deployment_id, int generation,
                                   bool was_pending) {
  std::lock_guard lock(pending_mu_);
  auto it = pending_.find(deployment_id);
  if (it == pending_.end() || it->second.generation != generation) return false;
  if (was_pending) --it->second.pending;
  return it->second.pending > 0;
}

void DeploymentService::NotifyAll(const std::vector<std::string>& agent_ids) {
  if (notifier_ == nullptr) return;
  for (const std::string& id : agent_ids) notifier_->Notify(id);
}

Result<bool> DeploymentService::AttachAgent(store::Tx& tx, const model::Agent& agent) {
  CF_ASSIGN_OR_RETURN(auto deps, tx.deployments().List({.target_account_id = agent.account_id}));
  bool any = false;
  for (model::Deployment& dep : deps) {
    if (!policy::SelectorMatches(dep.selector, agent.tags)) continue;
    CF_ASSIGN_OR_RETURN(bool granted, GrantActive(tx, dep));
    if (!granted) continue;  // revoked grant: late agents get nothing
    if (dep.version_id.empty()) {
      // Running: its targets step will see this agent. No targets: nothing was exported yet, so
      // this agent starts the generation's job.
      if (dep.state != model::DeploymentState::kNoTargets) continue;
      dep.state = model::DeploymentState::kRunning;
      dep.state_detail = "exporting";
      dep.deadline = Now() + options_.default_deadline;
      dep.updated_at = Now();
      CF_ASSIGN_OR_RETURN(
          model::Job job,
          engine_.Enqueue(tx, {.account_id = dep.account_id,
                               .type = std::string(kDeploymentJobType),
                               .input_json = JobInput(dep.id, dep.generation),
                               .idempotency_key = dep.id + ":" + std::to_string(dep.generation),
                               .max_attempts = 8,
                               .deadline = *dep.deadline + std::chrono::minutes(5)}));
      dep.job_id = job.id;
      CF_TRY(tx.deployments().Update(dep));
      continue;  // the job assigns and notifies
    }
    CF_TRY(Assign(tx, dep, agent));
    // The late target gets a fresh deadline and a wait job to enforce it.
    dep.deadline = Now() + options_.default_deadline;
    dep.state = model::DeploymentState::kRunning;
    CF_TRY(Settle(tx, dep, false));
    auto job = engine_.Enqueue(
        tx, {.account_id = dep.account_id,
             .type = std::string(kDeploymentJobType),
             .input_json = JobInput(dep.id, dep.generation),
             .idempotency_key = dep.id + ":" + std::to_string(dep.generation) + ":" + agent.id,
             .max_attempts = 8,
             .deadline = *dep.deadline + std::chrono::minutes(5),
             .step = "wait"});
    if (!job.ok()) return std::move(job).error();
    any = true;
  }
  return any;
}

// ---- Agent side ----------------------------------------------------------------------------

Result<std::vector<AgentJob>> DeploymentService::PendingJobs(const model::Agent& agent) {
  {
    // The common case, an idle agent seen recently: nothing to deliver and nothing to record,
    // answered from a read transaction beside the writer.
    CF_ASSIGN_OR_RETURN(auto rtx, store_.BeginRead());
    CF_ASSIGN_OR_RETURN(auto pending, rtx->deployment_targets().ListPendingByAgent(agent.id));
    if (pending.empty()) {
      CF_ASSIGN_OR_RETURN(model::Agent fresh, rtx->agents().Get(agent.id));
      const TimePoint now = Now();
      if (fresh.last_seen_at && *fresh.last_seen_at <= now &&
          now - *fresh.last_seen_at < kLastSeenRefresh) {
        return std::vector<AgentJob>{};
      }
    }
  }
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(auto targets, tx->deployment_targets().ListPendingByAgent(agent.id));
  std::vector<AgentJob> jobs;
  const TimePoint now = Now();
  for (model::DeploymentTarget& t : targets) {
    AgentJob job;
    CF_ASSIGN_OR_RETURN(job.deployment, tx->deployments().Get(t.deployment_id));
    if (job.deployment.generation != t.generation) continue;
    CF_ASSIGN_OR_RETURN(auto cert, tx->certificates().Get(job.deployment.certificate_id));
    job.certificate_name = cert.name;
    CF_ASSIGN_OR_RETURN(auto v, tx->versions().Get(t.version_id));
    job.version = v.version;
    job.serial_hex = v.serial_hex;
    job.not_after = v.not_after;
    if (!t.delivered_at) {
      t.delivered_at = now;
      t.updated_at = now;
      CF_TRY(tx->deployment_targets().Update(t));
    }
    job.target = std::move(t);
    jobs.push_back(std::move(job));
  }
  CF_ASSIGN_OR_RETURN(model::Agent fresh, tx->agents().Get(agent.id));
  if (!fresh.last_seen_at || *fresh.last_seen_at != now) {
    fresh.last_seen_at = now;
    fresh.updated_at = now;
    CF_TRY(tx->agents().Update(fresh));
  }
  CF_TRY(tx->Commit());
  return jobs;
}

Result<AgentBundle> DeploymentService::Bundle(const model::Agent& agent,
                                              const std::string& target_id) {
  auto not_found = [&] { return NotFound("job " + QuoteForMessage(target_id) + " not found"); };
  if (!IsValidId(target_id, model::kTargetPrefix)) return not_found();
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto t = tx->deployment_targets().Get(target_id);
  if (!t.ok()) {
    if (t.error().code() == ErrorCode::kNotFound) return not_found();
    return std::move(t).error();
  }
  if (t->agent_id != agent.id) return not_found();
  if (t->state == model::TargetState::kCancelled) {
    return Conflict("job " + target_id + " has been cancelled: " + t->reason);
  }
  CF_ASSIGN_OR_RETURN(model::Deployment dep, tx->deployments().Get(t->deployment_id));
  if (dep.generation != t->generation || dep.version_id != t->version_id ||
      dep.key_blob_id.empty()) {
    return Conflict("job " + target_id + " has been superseded by a newer one");
  }
  CF_ASSIGN_OR_RETURN(auto v, tx->versions().Get(t->version_id));
  AgentBundle b;
  b.seq = t->seq;
  b.certificate_pem = v.leaf_pem;
  b.chain_pem = v.chain_pem;
  CF_ASSIGN_OR_RETURN(b.encrypted_key_pem, secrets_.OpenBlob(*tx, dep.key_blob_id));
  return b;
}

Status DeploymentService::Report(const model::Agent& agent, const std::string& target_id,
                                 AgentReport r) {
  if (r.state == model::TargetState::kPending || r.state == model::TargetState::kCancelled) {
    return InvalidArgument("state must be installed, verified, failed or rolled_back");
  }
  if (r.reason.size() > kMaxReason) return InvalidArgument("reason is longer than 1024 bytes");
  if (r.paths.size() > kMaxPaths) return InvalidArgument("more than 32 paths");
  for (const std::string& p : r.paths) {
    if (p.empty() || p.size() > kMaxPath || p[0] != '/' || !IsPrintableAscii(p)) {
      return InvalidArgument("paths must be absolute printable paths of at most 4096 bytes");
    }
  }
  auto not_found = [&] { return NotFound("job " + QuoteForMessage(target_id) + " not found"); };
  if (!IsValidId(target_id, model::kTargetPrefix)) return not_found();
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto t = tx->deployment_targets().Get(target_id);
  if (!t.ok()) {
    if (t.error().code() == ErrorCode::kNotFound) return not_found();
    return std::move(t).error();
  }
  if (t->agent_id != agent.id) return not_found();
  if (t->state == model::TargetState::kCancelled) {
    return Conflict("job " + target_id + " has been cancelled: " + t->reason);
  }
  if (r.seq != t->seq) {
    return Conflict("stale report: job " + target_id + " is at sequence " + std::to_string(t->seq) +
                    ", the report is for " + std::to_string(r.seq));
  }
  CF_ASSIGN_OR_RETURN(model::Deployment dep, tx->deployments().Get(t->deployment_id));
  const TimePoint now = Now();
  const bool was_pending = t->state == model::TargetState::kPending;
  t->state = r.state;
  t->reason = r.reason;
  if (!r.paths.empty()) t->paths = r.paths;
  if (IsSuccess(r.state) && !t->installed_at) t->installed_at = now;
  if (r.state == model::TargetState::kVerified) t->verified_at = now;
  t->updated_at = now;
  CF_TRY(tx->deployment_targets().Update(*t));
  if (IsFailure(r.state)) {
    CF_TRY(EmitDeploymentEvent(*tx, clock_, random_, dep, "deployment.target_failed",
                               {{"target_id", t->id},
                                {"agent_id", agent.id},
                                {"target_state", model::TargetStateName(r.state)},
                                {"reason", r.reason}}));
  }
  if (dep.generation == t->generation &&
      (IsFailure(r.state) || !SkipSettle(dep.id, dep.generation, was_pending))) {
    CF_TRY(Settle(*tx, dep, false));
  }
  CF_TRY(tx->Commit());
  log::Info("deployment target reported",
            {{"deployment_id", dep.id},
             {"agent_id", agent.id},
             {"seq", std::to_string(r.seq)},
             {"state", std::string(model::TargetStateName(r.state))}});
  return Ok();
}

// ---- Revocation (issue #13) -----------------------------------------------------------------

Status DeploymentService::CancelAgentTargets(store::Tx& tx, const std::string& agent_id,
                                             const std::string& reason) {
  CF_ASSIGN_OR_RETURN(auto targets, tx.deployment_targets().ListPendingByAgent(agent_id));
  const TimePoint now = Now();
  for (model::DeploymentTarget& t : targets) {
    t.state = model::TargetState::kCancelled;
    t.reason = reason;
    t.updated_at = now;
    CF_TRY(tx.deployment_targets().Update(t));
    CF_ASSIGN_OR_RETURN(model::Deployment dep, tx.deployments().Get(t.deployment_id));
    // Settling now ends a deployment that was waiting only on this agent.
    if (dep.generation == t.generation && dep.state == model::DeploymentState::kRunning) {
      CF_TRY(Settle(tx, dep, false));
    }
  }
  return Ok();
}

Status DeploymentService::OnGrantRevoked(const model::Grant& grant) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  // Another grant between the same accounts may be active again (revoke, then grant anew).
  CF_ASSIGN_OR_RETURN(auto active,
                      tx->grants().ListActive(grant.from_account_id, grant.to_account_id));
  if (!active.empty()) return Ok();
  CF_ASSIGN_OR_RETURN(auto deps,
                      tx->deployments().List({.account_id = grant.from_account_id,
                                              .target_account_id = grant.to_account_id}));
  const TimePoint now = Now();
  for (model::Deployment& dep : deps) {
    CF_ASSIGN_OR_RETURN(auto targets, tx->deployment_targets().ListByDeployment(dep.id));
    bool changed = false;
    for (model::DeploymentTarget& t : targets) {
      // A delivered target is the agent's already: it may finish and report.
      if (t.state != model::TargetState::kPending || t.delivered_at) continue;
      t.state = model::TargetState::kCancelled;
      t.reason = "the grant it was assigned under has been revoked";
      t.updated_at = now;
      CF_TRY(tx->deployment_targets().Update(t));
      changed = true;
    }
    if (changed && dep.state == model::DeploymentState::kRunning) {
      CF_TRY(Settle(*tx, dep, false));
    }
  }
  return tx->Commit();
}

}  // namespace certfleet::lifecycle
