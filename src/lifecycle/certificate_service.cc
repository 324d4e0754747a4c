#include "lifecycle/certificate_service.h"

#include <algorithm>
#include <set>

#include "audit/audit_log.h"
#include "base/failpoint.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "ca/profiles.h"
#include "crypto/key.h"
#include "events/events.h"
#include "lifecycle/account_policy_loader.h"
#include "lifecycle/domain_claims.h"
#include "lifecycle/issuers/acme_issuer.h"
#include "store/owned.h"
#include "x509/certificate.h"

namespace certfleet::lifecycle {
namespace {

TimePoint Whole(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

model::CertificateVersion CertificateService::NewVersion(const std::string& certificate_id,
                                                         int version, const x509::Certificate& leaf,
                                                         const IssueOutcome& outcome) {
  model::CertificateVersion v;
  v.id = NewId(model::kVersionPrefix, clock_, random_);
  v.certificate_id = certificate_id;
  v.version = version;
  v.serial_hex = leaf.serial_hex();
  v.not_before = leaf.not_before();
  v.not_after = leaf.not_after();
  v.leaf_pem = outcome.leaf_pem;
  v.chain_pem = outcome.chain_pem;
  v.fingerprint_sha256 = leaf.fingerprint_sha256_hex();
  v.issuer_ca_id = outcome.issuer_ref;
  return v;
}

Status CertificateService::CommitIssued(store::Tx& tx, const model::Certificate& cert,
                                        const model::CertificateVersion& v) {
  if (plan_at_commit_) CF_TRY(PlanRenewal(tx, cert, v, clock_, random_, *plan_at_commit_));
  CF_TRY(EmitEvent(tx, cert, "certificate.issued",
                   {{"version", v.version},
                    {"version_id", v.id},
                    {"serial", v.serial_hex},
                    {"not_after", FormatRfc3339(v.not_after)}}));
  CF_TRY(tx.Commit());
  log::Info("certificate issued", {{"certificate_id", cert.id},
                                   {"account_id", cert.account_id},
                                   {"issuer", cert.issuer},
                                   {"serial", v.serial_hex},
                                   {"not_after", FormatRfc3339(v.not_after)}});
  return Ok();
}

Status CertificateService::EmitEvent(store::Tx& tx, const model::Certificate& cert,
                                     const std::string& type, nlohmann::json data) {
  data["certificate_id"] = cert.id;
  data["name"] = cert.name;
  auto e = events::Emit(tx, clock_, random_,
                        {.account_id = cert.account_id,
                         .type = type,
                         .subject = cert.id,
                         .data_json = data.dump(),
                         .tags = cert.tags});
  if (!e.ok()) return std::move(e).error();
  return Ok();
}

Result<CertificateView> LoadVisible(store::Tx& tx, const Caller& caller, const std::string& id) {
  // Another account's certificate answers exactly like a missing one: existence must not leak.
  CF_ASSIGN_OR_RETURN(
      model::Certificate cert,
      store::LoadOwned("certificate", id, model::kCertificatePrefix, caller.account_id,
                       [&](const std::string& k) { return tx.certificates().Get(k); }));
  CertificateView view{std::move(cert), std::nullopt};
  if (!view.certificate.current_version_id.empty()) {
    CF_ASSIGN_OR_RETURN(view.version, tx.versions().Get(view.certificate.current_version_id));
  }
  return view;
}

Status CertificateService::Validate(CertificateRequest& r) {
  CF_TRY(ValidateName("name", r.name));
  if (r.domains.empty()) return InvalidArgument("at least one domain is required");
  if (r.domains.size() > kMaxDomains) {
    return InvalidArgument("at most " + std::to_string(kMaxDomains) + " domains are allowed");
  }
  std::set<std::string> seen;
  for (std::string& d : r.domains) {
    CF_TRY(ValidateDnsName(d));
    d = Lower(d);
    if (!seen.insert(d).second) {
      return InvalidArgument("domain " + QuoteForMessage(d) + " is listed twice");
    }
  }
  CF_ASSIGN_OR_RETURN(crypto::KeyType key_type, crypto::ParseKeyType(r.key_type));
  CF_ASSIGN_OR_RETURN(ca::Profile profile, ca::FindProfile(r.profile));
  if (!profile.listed) return InvalidArgument("profile " + r.profile + " cannot be requested");
  if (key_type == crypto::KeyType::kEd25519 && !profile.allow_ed25519) {
    return InvalidArgument("key type ed25519 is not allowed for profile " + r.profile +
                           " (public TLS clients do not accept Ed25519 certificates)");
  }
  if (r.validity) {
    Seconds max = ca::MaxValidity(profile, clock_.Now());
    if (*r.validity < profile.min_validity || *r.validity > max) {
      return InvalidArgument("validity for profile " + r.profile + " must be between " +
                             FormatDuration(profile.min_validity) + " and " + FormatDuration(max));
    }
  }
  if (r.renew_before && r.validity && *r.renew_before >= *r.validity) {
    return InvalidArgument("renew_before must be shorter than the validity");
  }
  CF_TRY(ValidateTags(r.tags));
  if (r.issuer.empty()) r.issuer = "internal";
  return Ok();
}

Result<Issuer*> CertificateService::ResolveIssuer(const std::string& account_id,
                                                  const std::string& name) {
  const Error unknown = InvalidArgument("unknown issuer " + QuoteForMessage(name));
  if (name.empty() || name.size() > 64) return unknown;
  auto registered = issuers_.Find(name);
  if (registered.ok() && name != kAcmeIssuerType) return *registered;
  auto acme = issuers_.Find(std::string(kAcmeIssuerType));
  if (!acme.ok()) return unknown;
  CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
  auto config = tx->acme_configs().GetByName(account_id, "issuer", name);
  if (!config.ok()) {
    if (config.error().code() == ErrorCode::kNotFound) return unknown;
    return std::move(config).error();
  }
  return *acme;
}

void CertificateService::EnableAsyncIssuance(jobs::JobEngine& engine) {
  engine_ = &engine;
  engine.Register(std::string(kIssueJobType),
                  [this](const model::Job& job) { return RunIssueJob(job); });
}

void CertificateService::RecordStep(const std::string& id, std::string_view step) {
  auto record = [&]() -> Status {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(model::Certificate c, tx->certificates().Get(id));
    if (c.status != model::CertificateStatus::kPending) return Ok();
    c.status_detail = std::string(step);
    c.updated_at = Whole(clock_.Now());
    CF_TRY(tx->certificates().Update(c));
    return tx->Commit();
  };
  Status st = record();
  if (!st.ok()) {
    log::Warn("could not record the issuance step",
              {{"certificate_id", id}, {"error", st.error().ToString()}});
  }
}

jobs::StepResult CertificateService::RunIssueJob(const model::Job& job) {
  nlohmann::json in = nlohmann::json::parse(job.input_json, nullptr, false);
  if (!in.is_object()) return jobs::StepResult::Fail("job input is not JSON");
  const std::string id = in.value("certificate_id", "");
  const std::string key_blob_id = in.value("key_blob_id", "");
  model::Certificate cert;
  SecretBytes der;
  {
    auto tx = store_.Begin();
    if (!tx.ok()) return jobs::StepResult::Retry(tx.error().ToString());
    auto c = (*tx)->certificates().Get(id);
    if (!c.ok()) return jobs::StepResult::Fail(c.error().ToString());
    cert = std::move(*c);
    if (cert.status != model::CertificateStatus::kPending) {
      return jobs::StepResult::Done();  // issued (a previous attempt committed) or given up
    }
    // A claim released between the request and this attempt stops the issuance (issue #13).
    Status claimed = CheckDomainClaims(**tx, cert.account_id, cert.domains);
    if (!claimed.ok()) {
      if (claimed.error().code() != ErrorCode::kForbidden) {
        return jobs::StepResult::Retry(claimed.error().ToString());
      }
      tx->reset();
      Status st = FailIssue(id, claimed.error());
      if (!st.ok()) return jobs::StepResult::Retry(st.error().ToString());
      return jobs::StepResult::Fail(claimed.error().ToString());
    }
    auto opened = secrets_.OpenBlob(**tx, key_blob_id);
    if (!opened.ok()) return jobs::StepResult::Retry(opened.error().ToString());
    der = std::move(*opened);
  }
  auto key = crypto::PrivateKey::FromPkcs8Der(der);
  if (!key.ok()) return jobs::StepResult::Fail(key.error().ToString());
  auto issuer = ResolveIssuer(cert.account_id, cert.issuer);
  Result<IssueOutcome> outcome = Internal("not issued");
  if (!issuer.ok()) {
    outcome = issuer.error();
  } else {
    IssueInput input{.account_id = cert.account_id,
                     .certificate_id = cert.id,
                     .profile = cert.profile,
                     .domains = cert.domains,
                     .key = &*key,
                     .validity = cert.validity_seconds
                                     ? std::optional<Seconds>(Seconds(*cert.validity_seconds))
                                     : std::nullopt,
                     .issuer_config = cert.issuer,
                     .on_step = [this, &id](std::string_view step) { RecordStep(id, step); }};
    outcome = (*issuer)->Issue(input, cert.id + "/1");
  }
  if (outcome.ok()) {
    Status st = CompleteIssue(id, *key, key_blob_id, *outcome);
    if (!st.ok()) return jobs::StepResult::Retry(st.error().ToString());
    return jobs::StepResult::Done();
  }
  const Error& e = outcome.error();
  // Network trouble and a busy CA are worth another try (the same order is resumed); a refusal
  // by the CA (a failed validation, a rejected identifier, ...) is final.
  const bool transient = e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kTimeout;
  if (transient && job.attempts < job.max_attempts) {
    RecordStep(id, "retrying after: " + e.message().substr(0, 300));
    return jobs::StepResult::Retry(e.ToString(), e.retry_after());
  }
  Status st = FailIssue(id, e);
  if (!st.ok()) return jobs::StepResult::Retry(st.error().ToString());
  return jobs::StepResult::Fail(e.ToString());
}

Status CertificateService::CompleteIssue(const std::string& id, const crypto::PrivateKey& key,
                                         const std::string& key_blob_id,
                                         const IssueOutcome& outcome) {
  CF_ASSIGN_OR_RETURN(x509::Certificate leaf, x509::Certificate::FromPem(outcome.leaf_pem));
  if (!leaf.MatchesKey(key)) return Internal("the CA returned a certificate for another key");
  const TimePoint now = Whole(clock_.Now());
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(model::Certificate cert, tx->certificates().Get(id));
  if (cert.status != model::CertificateStatus::kPending) return Ok();  // done meanwhile
  model::CertificateVersion v = NewVersion(cert.id, 1, leaf, outcome);
  v.key_blob_id = key_blob_id;
  v.created_at = now;
  CF_TRY(tx->versions().Insert(v));
  cert.status = model::CertificateStatus::kIssued;
  cert.status_detail = outcome.detail;
  cert.current_version_id = v.id;
  cert.updated_at = now;
  CF_TRY(tx->certificates().Update(cert));
  return CommitIssued(*tx, cert, v);
}

Status CertificateService::FailIssue(const std::string& id, const Error& error) {
  std::string detail = "issuance failed: " + error.message();
  if (detail.size() > 1000) detail.resize(1000);
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(model::Certificate cert, tx->certificates().Get(id));
  if (cert.status != model::CertificateStatus::kPending) return Ok();
  cert.status = model::CertificateStatus::kFailed;
  cert.status_detail = detail;
  cert.updated_at = Whole(clock_.Now());
  CF_TRY(tx->certificates().Update(cert));
  CF_TRY(EmitEvent(*tx, cert, "certificate.issue_failed",
                   {{"error", detail}, {"code", std::string(ErrorCodeName(error.code()))}}));
  CF_TRY(tx->Commit());
  log::Warn("certificate issuance failed", {{"event", "certificate.issue_failed"},
                                            {"certificate_id", id},
                                            {"issuer", cert.issuer},
                                            {"error", error.ToString()}});
  return Ok();
}

Status CertificateService::CheckPolicy(const Caller& caller, const CertificateRequest& r) {
  CF_ASSIGN_OR_RETURN(ca::Profile profile, ca::FindProfile(r.profile));
  policy::RequestFacts facts{.domains = r.domains,
                             .key_type = r.key_type,
                             .profile = r.profile,
                             .validity = r.validity.value_or(std::min(
                                 profile.default_validity, ca::MaxValidity(profile, clock_.Now()))),
                             .exportable = r.exportable};
  CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
  // Two layers (docs/policy.md): the domain claims a system admin assigned to the account, then
  // the account's own policy, which can only narrow them.
  CF_TRY(CheckDomainClaims(*tx, caller.account_id, r.domains));
  CF_ASSIGN_OR_RETURN(policy::AccountPolicy pol, LoadAccountPolicy(*tx, caller.account_id));
  return policy::EvaluateRequest(pol, facts).ToStatus();
}

Result<CertificateView> CertificateService::Request(const Caller& caller,
                                                    const CertificateRequest& request) {
  CertificateRequest r = request;
  CF_TRY(Validate(r));
  CF_ASSIGN_OR_RETURN(Issuer * issuer, ResolveIssuer(caller.account_id, r.issuer));
  CF_TRY(CheckPolicy(caller, r));
  if (issuer->asynchronous() && engine_ == nullptr) {
    return Unavailable("issuer " + r.issuer + " needs the job engine, which is not running")
        .ForClients();
  }
  CF_ASSIGN_OR_RETURN(crypto::KeyType key_type, crypto::ParseKeyType(r.key_type));
  CF_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::Generate(key_type));

  TimePoint now = Whole(clock_.Now());
  model::Certificate cert;
  cert.id = NewId(model::kCertificatePrefix, clock_, random_);
  cert.account_id = caller.account_id;
  cert.name = r.name;
  cert.domains = r.domains;
  cert.key_type = std::string(crypto::KeyTypeName(key_type));
  cert.profile = r.profile;
  cert.issuer = r.issuer;
  cert.exportable = r.exportable;
  cert.tags = r.tags;
  if (r.validity) cert.validity_seconds = r.validity->count();
  if (r.renew_before) cert.renew_before_seconds = r.renew_before->count();
  cert.created_by = caller.principal_id;
  cert.created_at = now;
  cert.updated_at = now;

  if (issuer->asynchronous()) {
    // The key is sealed now and the job issues with it: a crash loses nothing, and the job
    // resumes the same ACME order.
    cert.status = model::CertificateStatus::kPending;
    cert.status_detail = "queued for issuance by " + r.issuer;
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_TRY(tx->certificates().Insert(cert));
    CF_ASSIGN_OR_RETURN(std::string blob,
                        secrets_.SealBlob(*tx, key.ToPkcs8Der(), "certificate-key"));
    nlohmann::json job_input = {{"certificate_id", cert.id}, {"key_blob_id", blob}};
    auto job = engine_->Enqueue(*tx, {.account_id = cert.account_id,
                                      .type = std::string(kIssueJobType),
                                      .input_json = job_input.dump(),
                                      .idempotency_key = cert.id + "/1",
                                      .max_attempts = 8});
    if (!job.ok()) return std::move(job).error();
    CF_TRY(audit::AppendInTx(caller.audit, *tx,
                             {.account_id = cert.account_id, .resource = cert.id, .status = 201}));
    CF_TRY(tx->Commit());
    log::Info(
        "certificate requested",
        {{"certificate_id", cert.id}, {"account_id", cert.account_id}, {"issuer", cert.issuer}});
    return CertificateView{std::move(cert), std::nullopt};
  }
  IssueInput input{.account_id = cert.account_id,
                   .certificate_id = cert.id,
                   .profile = r.profile,
                   .domains = r.domains,
                   .key = &key,
                   .validity = r.validity};
  CF_ASSIGN_OR_RETURN(IssueOutcome outcome, issuer->Issue(input, cert.id + "/1"));
  if (outcome.pending) {
    return Unavailable("issuer " + r.issuer + " cannot issue asynchronously yet").ForClients();
  }
  std::optional<x509::Certificate> parsed = std::move(outcome.leaf);
  if (!parsed) {
    CF_ASSIGN_OR_RETURN(x509::Certificate from_pem, x509::Certificate::FromPem(outcome.leaf_pem));
    parsed = std::move(from_pem);
  }
  const x509::Certificate& leaf = *parsed;
  if (!leaf.MatchesKey(key)) return Internal("issuer returned a certificate for another key");

  model::CertificateVersion v = NewVersion(cert.id, 1, leaf, outcome);
  v.created_at = now;
  cert.status = model::CertificateStatus::kIssued;
  cert.status_detail = outcome.detail;
  cert.current_version_id = v.id;
  // Sealed before the writer is taken: the transaction below only writes rows.
  CF_ASSIGN_OR_RETURN(model::SealedBlob sealed, secrets_.Seal(key.ToPkcs8Der(), "certificate-key"));
  v.key_blob_id = sealed.id;

  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(tx->certificates().Insert(cert));
  CF_TRY(tx->blobs().Insert(sealed));
  CF_TRY(tx->versions().Insert(v));
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = cert.account_id, .resource = cert.id, .status = 201}));
  CF_TRY(CommitIssued(*tx, cert, v));
  return CertificateView{std::move(cert), std::move(v)};
}

Result<CertificateView> CertificateService::Renew(const Caller& caller, const std::string& id,
                                                  const RenewOptions& options) {
  CertificateView view;
  std::optional<crypto::PrivateKey> reused;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(view, LoadVisible(*tx, caller, id));
    if (view.certificate.status != model::CertificateStatus::kIssued || !view.version) {
      return FailedPrecondition("certificate " + id + " is " +
                                std::string(model::CertificateStatusName(view.certificate.status)) +
                                "; only issued certificates can be renewed");
    }
    if (options.reuse_key) {
      CF_ASSIGN_OR_RETURN(SecretBytes der, secrets_.OpenBlob(*tx, view.version->key_blob_id));
      CF_ASSIGN_OR_RETURN(reused, crypto::PrivateKey::FromPkcs8Der(der));
    }
  }
  model::Certificate& cert = view.certificate;
  const model::CertificateVersion previous = *view.version;

  // The request as it was made, checked against today's account policy: a policy tightened since
  // the first issuance applies to renewals too.
  CertificateRequest r{.name = cert.name,
                       .domains = cert.domains,
                       .key_type = cert.key_type,
                       .profile = cert.profile,
                       .exportable = cert.exportable,
                       .tags = cert.tags,
                       .issuer = cert.issuer};
  if (cert.validity_seconds) r.validity = Seconds(*cert.validity_seconds);
  CF_ASSIGN_OR_RETURN(Issuer * issuer, ResolveIssuer(cert.account_id, cert.issuer));

  auto issue = [&]() -> Result<CertificateView> {
    CF_TRY(CheckPolicy(caller, r));
    std::optional<crypto::PrivateKey> generated;
    if (!reused) {
      CF_ASSIGN_OR_RETURN(crypto::KeyType key_type, crypto::ParseKeyType(cert.key_type));
      CF_ASSIGN_OR_RETURN(generated, crypto::PrivateKey::Generate(key_type));
    }
    const crypto::PrivateKey& key = reused ? *reused : *generated;
    const int next = previous.version + 1;
    IssueInput input{.account_id = cert.account_id,
                     .certificate_id = cert.id,
                     .profile = cert.profile,
                     .domains = cert.domains,
                     .key = &key,
                     .validity = r.validity,
                     .issuer_config = cert.issuer,
                     .previous_leaf_pem = previous.leaf_pem,
                     .on_step = {}};
    CF_ASSIGN_OR_RETURN(IssueOutcome outcome,
                        issuer->Issue(input, cert.id + "/" + std::to_string(next)));
    if (outcome.pending) {
      return Unavailable("issuer " + cert.issuer + " cannot issue asynchronously yet").ForClients();
    }
    CF_ASSIGN_OR_RETURN(x509::Certificate leaf, x509::Certificate::FromPem(outcome.leaf_pem));
    if (!leaf.MatchesKey(key)) return Internal("issuer returned a certificate for another key");

    TimePoint now = Whole(clock_.Now());
    model::CertificateVersion v = NewVersion(cert.id, next, leaf, outcome);
    v.created_at = now;

    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    // Re-read under the write lock: a concurrent renewal or revocation wins, this one backs off.
    CF_ASSIGN_OR_RETURN(model::Certificate fresh, tx->certificates().Get(cert.id));
    if (fresh.current_version_id != previous.id ||
        fresh.status != model::CertificateStatus::kIssued) {
      return Conflict("certificate " + cert.id + " changed during the renewal");
    }
    if (options.reuse_key) {
      v.key_blob_id = previous.key_blob_id;  // the same sealed key; blobs are immutable
    } else {
      CF_ASSIGN_OR_RETURN(v.key_blob_id,
                          secrets_.SealBlob(*tx, key.ToPkcs8Der(), "certificate-key"));
    }
    CF_TRY(tx->versions().Insert(v));
    fresh.current_version_id = v.id;
    fresh.status_detail = outcome.detail.empty() ? "renewed" : outcome.detail;
    fresh.updated_at = now;
    CF_TRY(tx->certificates().Update(fresh));
    CF_TRY(EmitEvent(*tx, fresh, "certificate.renewed",
                     {{"version", v.version},
                      {"version_id", v.id},
                      {"serial", v.serial_hex},
                      {"previous_version_id", previous.id},
                      {"previous_serial", previous.serial_hex},
                      {"not_after", FormatRfc3339(v.not_after)},
                      {"reused_key", options.reuse_key}}));
    CF_TRY(audit::AppendInTx(caller.audit, *tx,
                             {.account_id = cert.account_id, .resource = cert.id, .status = 200}));
    CF_TRY(tx->Commit());
    Failpoint("renewal.committed");  // crash tests: the event is in the outbox, not yet sent
    log::Info("certificate renewed", {{"certificate_id", fresh.id},
                                      {"account_id", fresh.account_id},
                                      {"version", std::to_string(v.version)},
                                      {"serial", v.serial_hex},
                                      {"previous_serial", previous.serial_hex},
                                      {"not_after", FormatRfc3339(v.not_after)}});
    return CertificateView{std::move(fresh), std::move(v)};
  };

  Result<CertificateView> result = issue();
  if (result.ok() || result.error().code() == ErrorCode::kConflict) return result;
  // A step that ran out of time (a slow CA) is retried by the renewal job; it is a failure too.
  RecordRenewalFailure(cert.id, result.error());
  return result;
}

Result<CertificateView> CertificateService::RecordExternal(
    const Caller& caller, const ExternalVersion& e,
    const std::function<Status(store::Tx&, const CertificateView&)>& in_tx) {
  CF_TRY(ValidateName("name", e.name));
  const TimePoint now = Whole(clock_.Now());
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  Result<model::Certificate> existing = tx->certificates().GetByName(caller.account_id, e.name);
  if (!existing.ok() && existing.error().code() != ErrorCode::kNotFound) {
    return std::move(existing).error();
  }
  IssueOutcome outcome{
      .leaf_pem = e.leaf_pem, .chain_pem = e.chain_pem, .issuer_ref = e.issuer_ca_id};
  CertificateView view;
  std::optional<model::CertificateVersion> previous;
  if (existing.ok()) {
    model::Certificate& cert = *existing;
    if (cert.issuer != e.issuer) {
      return FailedPrecondition("certificate " + cert.id + " is issued by " + cert.issuer);
    }
    if (cert.status == model::CertificateStatus::kRevoked) {
      return FailedPrecondition("certificate " + cert.id + " is revoked");
    }
    if (!cert.current_version_id.empty()) {
      CF_ASSIGN_OR_RETURN(previous, tx->versions().Get(cert.current_version_id));
    }
    model::CertificateVersion v =
        NewVersion(cert.id, previous ? previous->version + 1 : 1, e.leaf, outcome);
    v.created_at = now;
    CF_TRY(tx->versions().Insert(v));
    cert.current_version_id = v.id;
    cert.status = model::CertificateStatus::kIssued;
    cert.status_detail = previous ? "renewed by its ACME client" : "issued";
    cert.updated_at = now;
    CF_TRY(tx->certificates().Update(cert));
    view = CertificateView{cert, v};
  } else {
    model::Certificate cert;
    cert.id = NewId(model::kCertificatePrefix, clock_, random_);
    cert.account_id = caller.account_id;
    cert.name = e.name;
    cert.domains = e.domains;
    cert.key_type = e.key_type;
    cert.profile = e.profile;
    cert.issuer = e.issuer;
    cert.exportable = false;
    cert.tags = e.tags;
    cert.status = model::CertificateStatus::kIssued;
    cert.status_detail = "issued";
    cert.created_by = caller.principal_id;
    cert.created_at = now;
    cert.updated_at = now;
    model::CertificateVersion v = NewVersion(cert.id, 1, e.leaf, outcome);
    v.created_at = now;
    cert.current_version_id = v.id;
    CF_TRY(tx->certificates().Insert(cert));
    CF_TRY(tx->versions().Insert(v));
    view = CertificateView{cert, v};
  }
  const model::CertificateVersion& v = *view.version;
  // The key's holder renews: the scheduler's plan is "never" (the expiry watchers still warn).
  CF_TRY(tx->renewals().Put({.certificate_id = view.certificate.id,
                             .version_id = v.id,
                             .next_attempt_at = v.not_after + std::chrono::hours(24 * 365 * 100),
                             .last_error = "renewed by the holder of its key",
                             .updated_at = now}));
  nlohmann::json data = {{"version", v.version},
                         {"version_id", v.id},
                         {"serial", v.serial_hex},
                         {"not_after", FormatRfc3339(v.not_after)}};
  if (previous) {
    data["previous_version_id"] = previous->id;
    data["previous_serial"] = previous->serial_hex;
  }
  CF_TRY(EmitEvent(*tx, view.certificate, previous ? "certificate.renewed" : "certificate.issued",
                   data));
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = view.certificate.account_id,
                            .resource = view.certificate.id,
                            .status = previous ? 200 : 201}));
  if (in_tx) CF_TRY(in_tx(*tx, view));
  CF_TRY(tx->Commit());
  log::Info(previous ? "certificate renewed" : "certificate issued",
            {{"certificate_id", view.certificate.id},
             {"account_id", view.certificate.account_id},
             {"issuer", view.certificate.issuer},
             {"serial", v.serial_hex},
             {"not_after", FormatRfc3339(v.not_after)}});
  return view;
}

void CertificateService::RecordRenewalFailure(const std::string& id, const Error& error) {
  std::string detail = "renewal failed: " + error.message();
  if (detail.size() > 500) detail.resize(500);
  auto record = [&]() -> Status {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(model::Certificate c, tx->certificates().Get(id));
    c.status_detail = detail;
    c.updated_at = Whole(clock_.Now());
    CF_TRY(tx->certificates().Update(c));
    CF_TRY(EmitEvent(*tx, c, "certificate.renewal_failed",
                     {{"error", detail}, {"code", std::string(ErrorCodeName(error.code()))}}));
    return tx->Commit();
  };
  Status st = record();
  log::Warn("certificate renewal failed", {{"event", "certificate.renewal_failed"},
                                           {"certificate_id", id},
                                           {"error", error.ToString()},
                                           {"recorded", st.ok() ? "true" : st.error().ToString()}});
}

Status CertificateService::RevokeAtCa(const Caller& caller, const std::string& id,
                                      x509::RevocationReason reason) {
  CertificateView view;
  std::vector<model::CertificateVersion> versions;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(view, LoadVisible(*tx, caller, id));
    if (view.certificate.status == model::CertificateStatus::kRevoked) return Ok();
    CF_ASSIGN_OR_RETURN(versions, tx->versions().ListByCertificate(id));
  }
  auto issuer = ResolveIssuer(view.certificate.account_id, view.certificate.issuer);
  if (!issuer.ok()) return Ok();  // e.g. an ACME issuer deleted since: nothing to ask
  auto* revoker = dynamic_cast<RemoteRevoker*>(*issuer);
  if (revoker == nullptr) return Ok();
  const TimePoint now = clock_.Now();
  for (const model::CertificateVersion& v : versions) {
    if (v.not_after <= now) continue;
    CF_TRY(revoker->RevokeAtCa(view.certificate.account_id, view.certificate.issuer, v.leaf_pem,
                               static_cast<int>(reason)));
  }
  return Ok();
}

Result<RevocationView> CertificateService::Revoke(const Caller& caller, const std::string& id,
                                                  x509::RevocationReason reason) {
  // A remote CA (ACME) is asked first, outside any transaction; if it refuses, nothing changes
  // here and the error says why.
  CF_TRY(RevokeAtCa(caller, id, reason));
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(CertificateView view, LoadVisible(*tx, caller, id));
  model::Certificate& cert = view.certificate;
  if (cert.status == model::CertificateStatus::kRevoked) {
    return Conflict("certificate " + id + " is revoked already");
  }
  if (cert.current_version_id.empty()) {
    return FailedPrecondition("certificate " + id + " has no issued version to revoke");
  }
  const TimePoint now = Whole(clock_.Now());
  CF_ASSIGN_OR_RETURN(auto versions, tx->versions().ListByCertificate(id));
  CF_ASSIGN_OR_RETURN(auto already, tx->revocations().ListByCertificate(id));
  std::set<std::string> listed;
  for (const model::Revocation& r : already) listed.insert(r.serial_hex);
  RevocationView out;
  for (const model::CertificateVersion& v : versions) {
    // An expired certificate needs no CRL entry (RFC 5280 3.3: CRLs may drop expired ones).
    if (v.not_after <= now || listed.count(v.serial_hex)) continue;
    model::Revocation r{.serial_hex = v.serial_hex,
                        .ca_id = v.issuer_ca_id,
                        .certificate_id = id,
                        .version_id = v.id,
                        .reason = static_cast<int>(reason),
                        .revoked_at = now};
    CF_TRY(tx->revocations().Insert(r));
    out.revoked.push_back(std::move(r));
  }
  cert.status = model::CertificateStatus::kRevoked;
  cert.status_detail = "revoked: " + std::string(x509::RevocationReasonName(reason));
  cert.updated_at = now;
  CF_TRY(tx->certificates().Update(cert));
  nlohmann::json serial_list = nlohmann::json::array();
  for (const model::Revocation& r : out.revoked) serial_list.push_back(r.serial_hex);
  CF_TRY(EmitEvent(*tx, cert, "certificate.revoked",
                   {{"reason", std::string(x509::RevocationReasonName(reason))},
                    {"serials", serial_list},
                    {"revoked_at", FormatRfc3339(now)}}));
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = cert.account_id, .resource = cert.id, .status = 200}));
  CF_TRY(tx->Commit());
  std::string serials;
  for (const model::Revocation& r : out.revoked)
    serials += (serials.empty() ? "" : ",") + r.serial_hex;
  log::Info("certificate revoked", {{"certificate_id", id},
                                    {"account_id", cert.account_id},
                                    {"reason", std::string(x509::RevocationReasonName(reason))},
                                    {"serials", serials}});
  out.view = std::move(view);
  return out;
}

Result<std::string> CertificateService::CurrentCrl(const std::string& issuer_name) {
  auto issuer = issuers_.Find(issuer_name);
  if (!issuer.ok()) return NotFound("no CRL for issuer " + QuoteForMessage(issuer_name));
  auto* publisher = dynamic_cast<CrlPublisher*>(*issuer);
  if (publisher == nullptr) {
    return NotFound("issuer " + QuoteForMessage(issuer_name) + " publishes no CRL");
  }
  return publisher->CurrentCrl();
}

Result<CertificateView> CertificateService::Get(const Caller& caller, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
  return LoadVisible(*tx, caller, id);
}

Result<CertificatePage> CertificateService::List(const Caller& caller,
                                                 store::CertificateFilter filter) {
  if (!filter.account_id) filter.account_id = caller.account_id;
  const size_t limit = filter.limit;
  // One row more than asked says whether another page follows.
  filter.limit = limit + 1;
  CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
  CF_ASSIGN_OR_RETURN(auto certs, tx->certificates().List(filter));
  CertificatePage page;
  page.more = certs.size() > limit;
  if (page.more) certs.resize(limit);
  page.items.reserve(certs.size());
  for (model::Certificate& c : certs) {
    CertificateView view{std::move(c), std::nullopt};
    if (!view.certificate.current_version_id.empty()) {
      CF_ASSIGN_OR_RETURN(view.version, tx->versions().Get(view.certificate.current_version_id));
    }
    page.items.push_back(std::move(view));
  }
  return page;
}

}  // namespace certfleet::lifecycle
