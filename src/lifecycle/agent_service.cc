#include "lifecycle/agent_service.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "audit/audit_log.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "crypto/hash.h"
#include "events/events.h"
#include "lifecycle/status_util.h"
#include "lifecycle/tokens.h"
#include "store/owned.h"
#include "x509/certificate.h"
#include "x509/csr.h"

namespace certfleet::lifecycle {
namespace {

constexpr size_t kMaxTags = 32;
constexpr size_t kMaxCsrPem = 16 << 10;
constexpr size_t kMaxHostname = 253;

Status ValidateHostname(const std::string& h) {
  if (h.empty() || h.size() > kMaxHostname) {
    return InvalidArgument("hostname must be 1-253 characters");
  }
  for (char c : h) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_';
    if (!ok) return InvalidArgument("hostname may contain only letters, digits, '-', '.', '_'");
  }
  return Ok();
}

// The SHA-256 of a CSR's public key: what binds a retried enrollment to the first one.
Result<std::string> CsrKeyHash(const std::string& csr_pem) {
  if (csr_pem.empty() || csr_pem.size() > kMaxCsrPem) {
    return InvalidArgument("csr must be a PEM certificate request of at most 16 KiB");
  }
  CF_ASSIGN_OR_RETURN(x509::Csr csr, x509::Csr::FromPem(csr_pem));
  return crypto::Sha256Hex(csr.public_key().spki_der());
}

AgentCredentials Credentials(model::Agent agent, const ca::IssuedLeaf& leaf) {
  AgentCredentials out;
  out.agent = std::move(agent);
  out.certificate_pem = leaf.leaf.ToPem();
  for (const x509::Certificate& c : leaf.chain) out.chain_pem += c.ToPem();
  out.not_after = leaf.leaf.not_after();
  return out;
}

}  // namespace

std::string AgentDnsName(const std::string& agent_id) {
  std::string label = agent_id;
  std::replace(label.begin(), label.end(), '_', '-');
  std::transform(label.begin(), label.end(), label.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return label + ".agent.certfleet";
}

AgentService::AgentService(store::Store& store, ca::CertificateAuthority& ca,
                           DeploymentService* deployments, AgentNotifier* notifier,
                           const Clock& clock, Random& random, AgentServiceOptions options)
    : store_(store),
      ca_(ca),
      deployments_(deployments),
      notifier_(notifier),
      clock_(clock),
      random_(random),
      options_(std::move(options)) {}

Result<IssuedEnrollmentToken> AgentService::CreateEnrollmentToken(const Caller& caller,
                                                                  const std::string& account_id,
                                                                  const model::Tags& tags,
                                                                  std::optional<Seconds> ttl) {
  if (tags.empty()) {
    return InvalidArgument(
        "an enrollment token needs at least one tag (deployments select "
        "agents by tag)");
  }
  if (tags.size() > kMaxTags) return InvalidArgument("at most 32 tags");
  CF_TRY(ValidateTags(tags));
  const Seconds life = ttl.value_or(options_.default_token_ttl);
  if (life < std::chrono::minutes(1) || life > options_.max_token_ttl) {
    return InvalidArgument("enrollment token expiry must be between 1m and " +
                           FormatDuration(options_.max_token_ttl));
  }
  NewToken t = GenerateEnrollmentToken(random_);
  IssuedEnrollmentToken out;
  out.record.id = NewId(model::kEnrollmentTokenPrefix, clock_, random_);
  out.record.account_id = account_id;
  out.record.hash_hex = t.hash_hex;
  out.record.tags = tags;
  out.record.created_by = caller.principal_id;
  out.record.created_at = Now();
  out.record.expires_at = out.record.created_at + life;
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(tx->enrollment_tokens().Insert(out.record));
  CF_TRY(audit::AppendInTx(
      caller.audit, *tx,
      {.account_id = out.record.account_id, .resource = out.record.id, .status = 201}));
  CF_TRY(tx->Commit());
  out.token = std::move(t.token);
  log::Info("enrollment token created", {{"token_id", out.record.id},
                                         {"account_id", account_id},
                                         {"principal_id", caller.principal_id}});
  return out;
}

Result<std::vector<model::EnrollmentToken>> AgentService::ListEnrollmentTokens(
    const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  return tx->enrollment_tokens().ListByAccount(account_id);
}

Result<ca::IssuedLeaf> AgentService::IssueClientCertificate(const std::string& agent_id,
                                                            const std::string& csr_pem) {
  if (csr_pem.empty() || csr_pem.size() > kMaxCsrPem) {
    return InvalidArgument("csr must be a PEM certificate request of at most 16 KiB");
  }
  CF_ASSIGN_OR_RETURN(x509::Csr csr, x509::Csr::FromPem(csr_pem));
  CF_TRY(csr.VerifySignature());
  const crypto::KeyType type = csr.public_key().type();
  return ca_.Issue({.profile = "tls-client",
                    .dns_names = {AgentDnsName(agent_id)},
                    .subject_public_key_der = csr.public_key().spki_der(),
                    .key_type = type,
                    .validity = options_.client_cert_validity});
}

Result<AgentCredentials> AgentService::Enroll(const EnrollRequest& req) {
  if (!LooksLikeEnrollmentToken(req.token)) {
    return Unauthorized("enrollment token is malformed");
  }
  CF_TRY(ValidateHostname(req.hostname));
  const std::string hash = HashApiToken(req.token);
  model::EnrollmentToken token;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    auto t = tx->enrollment_tokens().GetByHash(hash);
    if (!t.ok()) {
      if (t.error().code() == ErrorCode::kNotFound) {
        return Unauthorized("enrollment token is not valid");
      }
      return std::move(t).error();
    }
    token = std::move(*t);
  }
  // The alert is an event of its own: the refused enrollment changes nothing else.
  auto reused = [&]() -> Error {
    nlohmann::json data = {{"token_id", token.id},
                           {"used_by_agent_id", token.used_by_agent_id},
                           {"hostname", req.hostname}};
    Status emitted = [&]() -> Status {
      CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
      CF_TRY(AsStatus(events::Emit(*tx, clock_, random_,
                                   {.account_id = token.account_id,
                                    .type = "agent.enrollment_token_reused",
                                    .subject = token.id,
                                    .data_json = data.dump(),
                                    .tags = token.tags})));
      return tx->Commit();
    }();
    if (!emitted.ok()) {
      log::Error("enrollment token reuse could not be recorded",
                 {{"token_id", token.id}, {"error", emitted.error().ToString()}});
    }
    return Conflict("enrollment token already used");
  };
  if (token.revoked_at) return Unauthorized("enrollment token has been revoked");
  if (token.used_at) {
    // The same key within the retry window is the same agent whose response was lost; anything
    // else is a second use of a one-time credential.
    auto retried = RetryEnrollment(token, req);
    if (retried.ok() || retried.error().code() != ErrorCode::kConflict) return retried;
    return reused();
  }
  if (Now() >= token.expires_at) return Unauthorized("enrollment token has expired");

  const std::string agent_id = NewId(model::kAgentPrefix, clock_, random_);
  CF_ASSIGN_OR_RETURN(ca::IssuedLeaf leaf, IssueClientCertificate(agent_id, req.csr_pem));
  CF_ASSIGN_OR_RETURN(std::string key_hash, CsrKeyHash(req.csr_pem));

  const TimePoint now = Now();
  model::Principal principal;
  principal.id = NewId(model::kPrincipalPrefix, clock_, random_);
  principal.account_id = token.account_id;
  principal.name = "agent-" + agent_id;
  principal.kind = model::PrincipalKind::kAgent;
  principal.role = model::Role::kAgent;
  principal.tags = token.tags;
  principal.created_at = now;

  model::Agent agent;
  agent.id = agent_id;
  agent.account_id = token.account_id;
  agent.principal_id = principal.id;
  agent.hostname = req.hostname;
  agent.tags = token.tags;
  agent.cert_serial_hex = leaf.leaf.serial_hex();
  agent.cert_not_after = leaf.leaf.not_after();
  agent.enrollment_token_id = token.id;
  agent.status = model::AgentStatus::kActive;
  agent.last_seen_at = now;
  agent.created_at = now;
  agent.updated_at = now;

  bool attached = false;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    Status used = tx->enrollment_tokens().MarkUsed(token.id, agent_id, now);
    if (!used.ok()) {
      if (used.error().code() == ErrorCode::kConflict) {
        auto again = tx->enrollment_tokens().Get(token.id);
        if (again.ok()) token = std::move(*again);
        tx.reset();  // roll back before the alert's own transaction
        return reused();
      }
      return std::move(used).error();
    }
    CF_TRY(tx->enrollment_tokens().SetUsedKey(token.id, key_hash));
    CF_TRY(tx->principals().Insert(principal));
    CF_TRY(tx->agents().Insert(agent));
    CF_TRY(tx->agent_certificates().Insert(CertificateRow(agent.id, leaf, now)));
    nlohmann::json data = {{"agent_id", agent.id},
                           {"hostname", agent.hostname},
                           {"token_id", token.id},
                           {"tags", agent.tags}};
    CF_TRY(AsStatus(events::Emit(*tx, clock_, random_,
                                 {.account_id = agent.account_id,
                                  .type = "agent.enrolled",
                                  .subject = agent.id,
                                  .data_json = data.dump(),
                                  .tags = agent.tags})));
    if (deployments_ != nullptr) {
      CF_ASSIGN_OR_RETURN(attached, deployments_->AttachAgent(*tx, agent));
    }
    CF_TRY(tx->Commit());
  }
  if (attached && notifier_ != nullptr) notifier_->Notify(agent.id);
  log::Info("agent enrolled", {{"agent_id", agent.id},
                               {"account_id", agent.account_id},
                               {"hostname", agent.hostname},
                               {"token_id", token.id}});
  return Credentials(std::move(agent), leaf);
}

model::AgentCertificate AgentService::CertificateRow(const std::string& agent_id,
                                                     const ca::IssuedLeaf& leaf, TimePoint now) {
  return model::AgentCertificate{.serial_hex = leaf.leaf.serial_hex(),
                                 .agent_id = agent_id,
                                 .not_after = leaf.leaf.not_after(),
                                 .created_at = now};
}

Result<model::Agent> AgentService::AdoptCertificate(const std::string& agent_id,
                                                    const ca::IssuedLeaf& leaf,
                                                    const Error& inactive) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(model::Agent fresh, tx->agents().Get(agent_id));
  if (fresh.status != model::AgentStatus::kActive) return inactive;
  const TimePoint now = Now();
  fresh.prev_cert_serial_hex = fresh.cert_serial_hex;
  fresh.cert_serial_hex = leaf.leaf.serial_hex();
  fresh.cert_not_after = leaf.leaf.not_after();
  fresh.updated_at = now;
  CF_TRY(tx->agents().Update(fresh));
  CF_TRY(tx->agent_certificates().Insert(CertificateRow(fresh.id, leaf, now)));
  CF_TRY(tx->Commit());
  return fresh;
}

Result<AgentCredentials> AgentService::RetryEnrollment(const model::EnrollmentToken& token,
                                                       const EnrollRequest& req) {
  const Error not_a_retry = Conflict("enrollment token already used");
  auto key_hash = CsrKeyHash(req.csr_pem);
  if (!key_hash.ok() || token.used_key_sha256.empty() || *key_hash != token.used_key_sha256) {
    return not_a_retry;
  }
  if (!token.used_at || Now() >= *token.used_at + options_.enrollment_retry_window) {
    return not_a_retry;
  }
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    auto agent = tx->agents().Get(token.used_by_agent_id);
    // A revoked or disabled agent does not come back through its old token.
    if (!agent.ok() || agent->status != model::AgentStatus::kActive) return not_a_retry;
  }
  // The CSR's signature proves possession of the key that used the token.
  CF_ASSIGN_OR_RETURN(ca::IssuedLeaf leaf,
                      IssueClientCertificate(token.used_by_agent_id, req.csr_pem));
  CF_ASSIGN_OR_RETURN(model::Agent fresh,
                      AdoptCertificate(token.used_by_agent_id, leaf, not_a_retry));
  log::Info("agent enrollment retried by the same key",
            {{"agent_id", fresh.id}, {"token_id", token.id}});
  return Credentials(std::move(fresh), leaf);
}

Result<AgentCredentials> AgentService::Renew(const model::Agent& agent, const std::string& csr_pem,
                                             const std::optional<std::string>& presented_cert_der) {
  // Renewal only in the last third of the presented certificate's life (issue #13): a stolen
  // key cannot mint itself fresh certificates at will, and the agent renews at exactly that
  // point (agent_runtime.cc RenewPoint).
  TimePoint not_before, not_after;
  if (presented_cert_der) {
    CF_ASSIGN_OR_RETURN(x509::Certificate presented,
                        x509::Certificate::FromDer(*presented_cert_der));
    not_before = presented.not_before();
    not_after = presented.not_after();
  } else {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    auto row = tx->agent_certificates().Get(agent.cert_serial_hex);
    if (row.ok()) {
      not_before = row->created_at;
      not_after = row->not_after;
    } else {
      not_after = agent.cert_not_after;
      not_before = not_after - options_.client_cert_validity;
    }
  }
  const TimePoint renew_from = not_after - (not_after - not_before) / 3;
  if (Now() < renew_from) {
    return Conflict(
        "client certificate renewal is too early: a certificate renews only in the last third "
        "of its lifetime, from " +
        FormatRfc3339(std::chrono::floor<std::chrono::seconds>(renew_from)) +
        " (rule agent.renew_early)");
  }
  CF_ASSIGN_OR_RETURN(ca::IssuedLeaf leaf, IssueClientCertificate(agent.id, csr_pem));
  CF_ASSIGN_OR_RETURN(model::Agent fresh,
                      AdoptCertificate(agent.id, leaf, Unauthorized("agent is not active")));
  log::Info("agent certificate renewed",
            {{"agent_id", fresh.id}, {"serial", fresh.cert_serial_hex}});
  return Credentials(std::move(fresh), leaf);
}

Result<model::Agent> AgentService::Authenticate(const std::optional<std::string>& client_cert_der) {
  if (!client_cert_der) {
    return Unauthorized("this route needs the agent's client certificate (mutual TLS)");
  }
  CF_ASSIGN_OR_RETURN(x509::Certificate cert, x509::Certificate::FromDer(*client_cert_der));
  if (Now() > cert.not_after()) return Unauthorized("client certificate has expired");
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto agent = tx->agents().GetByCertSerial(cert.serial_hex());
  if (!agent.ok() && agent.error().code() == ErrorCode::kNotFound) {
    // Not the current or previous one: any other unexpired certificate issued to the agent
    // (e.g. one whose renewal response never arrived) still identifies it.
    auto issued = tx->agent_certificates().Get(cert.serial_hex());
    if (issued.ok()) agent = tx->agents().Get(issued->agent_id);
  }
  if (!agent.ok()) {
    if (agent.error().code() == ErrorCode::kNotFound) {
      return Unauthorized("client certificate does not belong to an enrolled agent");
    }
    return std::move(agent).error();
  }
  if (agent->status == model::AgentStatus::kRevoked) return Unauthorized("agent has been revoked");
  if (agent->status != model::AgentStatus::kActive) return Unauthorized("agent is disabled");
  CF_ASSIGN_OR_RETURN(model::Principal p, tx->principals().Get(agent->principal_id));
  if (p.disabled) return Unauthorized("agent is disabled");
  return std::move(*agent);
}

Caller AgentService::AgentCaller(const model::Agent& agent,
                                 const std::string& source_address) const {
  Caller c;
  c.principal_id = agent.principal_id;
  c.account_id = agent.account_id;
  c.role = model::Role::kAgent;
  c.tags = agent.tags;
  c.source_address = source_address;
  return c;
}

Result<std::vector<model::Agent>> AgentService::List(const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  return tx->agents().ListByAccount(account_id);
}

Result<model::Agent> AgentService::Get(const std::string& account_id, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  return store::LoadOwned("agent", id, model::kAgentPrefix, account_id,
                          [&](const std::string& k) { return tx->agents().Get(k); });
}

Result<std::string> AgentService::AgentAccount(const std::string& id) {
  if (!IsValidId(id, model::kAgentPrefix)) {
    return NotFound("agent " + QuoteForMessage(id) + " not found");
  }
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(model::Agent a, tx->agents().Get(id));
  return a.account_id;
}

Result<std::string> AgentService::EnrollmentTokenAccount(const std::string& id) {
  if (!IsValidId(id, model::kEnrollmentTokenPrefix)) {
    return NotFound("enrollment token " + QuoteForMessage(id) + " not found");
  }
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(model::EnrollmentToken t, tx->enrollment_tokens().Get(id));
  return t.account_id;
}

Result<bool> AgentService::IsActive(const std::string& agent_id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(model::Agent a, tx->agents().Get(agent_id));
  if (a.status != model::AgentStatus::kActive) return false;
  CF_ASSIGN_OR_RETURN(model::Principal p, tx->principals().Get(a.principal_id));
  return !p.disabled;
}

Result<model::Agent> AgentService::Revoke(const Caller& caller, const std::string& account_id,
                                          const std::string& id) {
  CF_ASSIGN_OR_RETURN(model::Agent agent, Get(account_id, id));
  if (agent.status == model::AgentStatus::kRevoked) return agent;
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(agent, tx->agents().Get(id));
  const TimePoint now = Now();
  agent.status = model::AgentStatus::kRevoked;
  agent.updated_at = now;
  CF_TRY(tx->agents().Update(agent));
  // Its principal too: the agent's identity is refused everywhere, not only on mTLS routes.
  CF_ASSIGN_OR_RETURN(model::Principal p, tx->principals().Get(agent.principal_id));
  if (!p.disabled) {
    p.disabled = true;
    CF_TRY(tx->principals().Update(p));
  }
  if (deployments_ != nullptr) {
    CF_TRY(deployments_->CancelAgentTargets(*tx, agent.id, "the agent has been revoked"));
  }
  nlohmann::json data = {
      {"agent_id", agent.id}, {"hostname", agent.hostname}, {"revoked_by", caller.principal_id}};
  CF_TRY(AsStatus(events::Emit(*tx, clock_, random_,
                               {.account_id = agent.account_id,
                                .type = "agent.revoked",
                                .subject = agent.id,
                                .data_json = data.dump(),
                                .tags = agent.tags})));
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = agent.account_id, .resource = agent.id, .status = 200}));
  CF_TRY(tx->Commit());
  NoteCredentialsChanged();  // its principal is disabled
  // Wakes a parked long poll, which re-checks the agent and answers 401 (routes_agents.cc).
  if (notifier_ != nullptr) notifier_->Notify(agent.id);
  log::Info("agent revoked", {{"agent_id", agent.id},
                              {"account_id", agent.account_id},
                              {"principal_id", caller.principal_id}});
  return agent;
}

Result<model::EnrollmentToken> AgentService::RevokeEnrollmentToken(
    const std::string& account_id, const std::string& id, audit::RequestScope* audit_scope) {
  auto not_found = [&] {
    return NotFound("enrollment token " + QuoteForMessage(id) + " not found");
  };
  if (!IsValidId(id, model::kEnrollmentTokenPrefix)) return not_found();
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto t = tx->enrollment_tokens().Get(id);
  if (!t.ok()) {
    if (t.error().code() == ErrorCode::kNotFound) return not_found();
    return std::move(t).error();
  }
  if (t->account_id != account_id) return not_found();
  CF_TRY(tx->enrollment_tokens().Revoke(id, Now()));
  CF_ASSIGN_OR_RETURN(model::EnrollmentToken revoked, tx->enrollment_tokens().Get(id));
  CF_TRY(audit::AppendInTx(audit_scope, *tx, {.account_id = account_id, .resource = id}));
  CF_TRY(tx->Commit());
  return revoked;
}

}  // namespace certfleet::lifecycle
