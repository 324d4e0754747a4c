// AgentService: enrollment tokens, agent enrollment and client-certificate renewal, and agent
// authentication by client certificate (issue #4, docs/agents.md).
//
// An admin creates a one-time token bound to an account and tags. The agent generates its own key
// and sends a CSR with the token; it gets a tls-client certificate from the internal CA (subject
// CN and SAN derived from its id) and becomes an agent row plus a principal (kind agent, role
// agent) carrying the token's tags, so that secret reads go through the same ABAC rule as for
// people. The tags come from the token, i.e. from an admin, never from the agent. A second use of
// a token is refused (Conflict) and logged as the alert event agent.enrollment_token_reused.
// Agents are authenticated by the serial of the verified client certificate they present (the
// mutual-TLS handshake has already checked that the internal CA issued it). Every certificate
// issued to an agent is recorded (store::AgentCertificateRepo), and each unexpired one of an
// active agent is accepted, so a renewal whose response was lost does not lock the agent out.
//
// Revocation (issue #13): Revoke() makes an agent revoked for good: all of its certificates are
// refused from the next request on (its parked long poll is woken through the notifier and
// answers 401), its pending deployment targets are cancelled, its principal is disabled, and an
// agent.revoked event is emitted. Each redeploy writes a new passphrase version, so the secrets
// it could read are replaced at the next deploy. An unused enrollment token can be revoked.
// Renewal is accepted only in the last third of the presented certificate's lifetime (Conflict,
// rule agent.renew_early, before). A lost enrollment response may be retried with the same token
// by the same key (same CSR public key) within enrollment_retry_window: the retry gets a new
// certificate for the same agent and raises no alert. Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "ca/authority.h"
#include "lifecycle/caller.h"
#include "lifecycle/deployment_service.h"
#include "model/model.h"
#include "store/store.h"

namespace certfleet::lifecycle {

struct AgentServiceOptions {
  Seconds client_cert_validity = std::chrono::days(30);
  Seconds default_token_ttl = std::chrono::hours(1);
  Seconds max_token_ttl = std::chrono::days(30);
  // How long after its first use a token may enroll again with the same key (lost response).
  Seconds enrollment_retry_window = std::chrono::minutes(10);
};

struct IssuedEnrollmentToken {
  model::EnrollmentToken record;
  SecretBytes token;  // shown once
};

struct EnrollRequest {
  std::string token;
  std::string csr_pem;
  std::string hostname;
};

struct AgentCredentials {
  model::Agent agent;
  std::string certificate_pem;
  std::string chain_pem;
  TimePoint not_after;
};

class AgentService {
 public:
  // `deployments` may be null (then enrolling agents join no existing deployment).
  AgentService(store::Store& store, ca::CertificateAuthority& ca, DeploymentService* deployments,
               AgentNotifier* notifier, const Clock& clock, Random& random,
               AgentServiceOptions options = {});

  // InvalidArgument for bad tags (at least one, at most 32) or an expiry outside 1m..max.
  Result<IssuedEnrollmentToken> CreateEnrollmentToken(const Caller& caller,
                                                      const std::string& account_id,
                                                      const model::Tags& tags,
                                                      std::optional<Seconds> ttl);
  Result<std::vector<model::EnrollmentToken>> ListEnrollmentTokens(const std::string& account_id);

  // Unauthorized for an unknown, malformed or expired token; Conflict for a used one;
  // InvalidArgument for a bad CSR (Malformed if its signature does not verify) or host name.
  Result<AgentCredentials> Enroll(const EnrollRequest& request);
  // A new client certificate for `agent`'s new key; the old ones stay valid until they expire.
  // `presented_cert_der` is the certificate the request authenticated with (the agent's current
  // one when unset): Conflict (rule agent.renew_early) unless a third or less of its lifetime
  // remains.
  Result<AgentCredentials> Renew(const model::Agent& agent, const std::string& csr_pem,
                                 const std::optional<std::string>& presented_cert_der = {});
  // Unauthorized without a certificate, for an unknown serial, a disabled or revoked agent or a
  // disabled principal.
  Result<model::Agent> Authenticate(const std::optional<std::string>& client_cert_der);
  // The agent as a caller (its principal: role agent, the agent's tags).
  Caller AgentCaller(const model::Agent& agent, const std::string& source_address) const;

  Result<std::vector<model::Agent>> List(const std::string& account_id);
  // NotFound unless the agent belongs to `account_id`.
  Result<model::Agent> Get(const std::string& account_id, const std::string& id);
  // The account an agent or an enrollment token belongs to (for the API's ownership check);
  // NotFound for an unknown or malformed id.
  Result<std::string> AgentAccount(const std::string& id);
  Result<std::string> EnrollmentTokenAccount(const std::string& id);

  // Revokes agent `id` of `account_id` (see above). NotFound unless it belongs to the account;
  // revoking a revoked agent changes nothing.
  Result<model::Agent> Revoke(const Caller& caller, const std::string& account_id,
                              const std::string& id);
  // Revokes enrollment token `id` of `account_id`: it can no longer enroll (nor retry).
  // `audit_scope`: the API request's audit scope (Caller::audit), or null.
  Result<model::EnrollmentToken> RevokeEnrollmentToken(const std::string& account_id,
                                                       const std::string& id,
                                                       audit::RequestScope* audit_scope = nullptr);
  // Whether the agent may still make requests (not revoked or disabled): the long-poll hub asks
  // before answering a parked poll.
  Result<bool> IsActive(const std::string& agent_id);

 private:
  TimePoint Now() const { return std::chrono::floor<std::chrono::seconds>(clock_.Now()); }
  // Validates the CSR and issues the client certificate for agent `agent_id`.
  // Makes `leaf` the current certificate of agent `agent_id` and records it among the agent's
  // certificates (each stays accepted until it expires), in one transaction. `inactive` answers
  // for an agent that is no longer active.
  Result<model::Agent> AdoptCertificate(const std::string& agent_id, const ca::IssuedLeaf& leaf,
                                        const Error& inactive);
  Result<ca::IssuedLeaf> IssueClientCertificate(const std::string& agent_id,
                                                const std::string& csr_pem);
  // A lost-response retry of an enrollment (see above).
  Result<AgentCredentials> RetryEnrollment(const model::EnrollmentToken& token,
                                           const EnrollRequest& req);
  static model::AgentCertificate CertificateRow(const std::string& agent_id,
                                                const ca::IssuedLeaf& leaf, TimePoint now);

  store::Store& store_;
  ca::CertificateAuthority& ca_;
  DeploymentService* deployments_;
  AgentNotifier* notifier_;
  const Clock& clock_;
  Random& random_;
  AgentServiceOptions options_;
};

// The DNS name in an agent's client certificate: "<id with '_' as '-'>.agent.certfleet".
std::string AgentDnsName(const std::string& agent_id);

}  // namespace certfleet::lifecycle
