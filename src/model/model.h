// Domain value types (docs/architecture.md "Data model"). Plain structs with no behaviour beyond
// enum <-> string mapping; wire shapes live in src/api and row shapes inside store backends
// (CONVENTIONS.md #7). Times are UTC TimePoints with whole seconds.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"

namespace certfleet::model {

using Tags = std::map<std::string, std::string>;

// Id prefixes (base/ids.h).
inline constexpr std::string_view kAccountPrefix = "acc";
inline constexpr std::string_view kPrincipalPrefix = "prn";
inline constexpr std::string_view kTokenPrefix = "tok";
inline constexpr std::string_view kCertificatePrefix = "crt";
inline constexpr std::string_view kVersionPrefix = "crv";
inline constexpr std::string_view kSecretPrefix = "sec";
inline constexpr std::string_view kBlobPrefix = "blb";
inline constexpr std::string_view kExportPrefix = "exp";
inline constexpr std::string_view kCaPrefix = "cak";
inline constexpr std::string_view kGrantPrefix = "grt";
inline constexpr std::string_view kAuditPrefix = "aud";
inline constexpr std::string_view kAgentPrefix = "agt";
inline constexpr std::string_view kEnrollmentTokenPrefix = "enr";
inline constexpr std::string_view kDeploymentPrefix = "dep";
inline constexpr std::string_view kTargetPrefix = "dtg";
inline constexpr std::string_view kEventPrefix = "evt";
inline constexpr std::string_view kWebhookPrefix = "whk";
inline constexpr std::string_view kDeliveryPrefix = "dlv";
inline constexpr std::string_view kDomainClaimPrefix = "dcl";

// The system account: its admins are system admins, and it is not restricted by domain claims.
inline constexpr std::string_view kSystemAccountName = "default";

struct Account {
  std::string id;
  std::string name;
  TimePoint created_at;
};

enum class Role { kAdmin, kOperator, kAuditor, kAgent };
std::string_view RoleName(Role r);
Result<Role> ParseRole(std::string_view s);

enum class PrincipalKind { kUser, kService, kAgent };
std::string_view PrincipalKindName(PrincipalKind k);
Result<PrincipalKind> ParsePrincipalKind(std::string_view s);

struct Principal {
  std::string id;
  std::string account_id;
  std::string name;
  PrincipalKind kind = PrincipalKind::kUser;
  Role role = Role::kOperator;
  Tags tags;  // set by an admin only, never by the principal itself
  bool disabled = false;
  TimePoint created_at;
};

// An API bearer token. Only the SHA-256 of the token is stored; the token itself is shown once.
struct ApiToken {
  std::string id;
  std::string principal_id;
  std::string hash_hex;
  TimePoint created_at;
  std::optional<TimePoint> expires_at;
  bool revoked = false;
};

enum class CertificateStatus { kPending, kIssued, kFailed, kRevoked, kExpired };
std::string_view CertificateStatusName(CertificateStatus s);
Result<CertificateStatus> ParseCertificateStatus(std::string_view s);

struct Certificate {
  std::string id;
  std::string account_id;
  std::string name;
  std::vector<std::string> domains;
  std::string key_type;     // crypto::KeyTypeName
  std::string profile;      // CA profile name: tls-server, tls-client, short-lived
  std::string issuer;       // "internal" or an issuer name
  bool exportable = false;  // fixed at request time; no code path may change it
  Tags tags;
  CertificateStatus status = CertificateStatus::kPending;
  std::string status_detail;                    // current step or failure reason, human readable
  std::optional<int64_t> validity_seconds;      // requested validity; profile default if unset
  std::optional<int64_t> renew_before_seconds;  // renewal override
  std::string current_version_id;               // empty until the first issuance
  std::string created_by;                       // principal id
  TimePoint created_at;
  TimePoint updated_at;
};

struct CertificateVersion {
  std::string id;
  std::string certificate_id;
  int version = 1;
  std::string serial_hex;
  TimePoint not_before;
  TimePoint not_after;
  std::string leaf_pem;
  std::string chain_pem;  // issuing chain without the leaf, leaf's issuer first
  std::string fingerprint_sha256;
  std::string key_blob_id;   // SealedBlob holding the private key (PKCS#8 DER)
  std::string issuer_ca_id;  // internal CA record that signed it, if any
  TimePoint created_at;
};

// An envelope-encrypted value (docs/architecture.md "Security model"): ciphertext under a
// per-record data key, which is wrapped by a key-encryption key identified by kek_id.
struct SealedBlob {
  std::string id;
  std::string kek_id;
  std::string wrapped_dek;  // AEAD-sealed data key (binary)
  std::string ciphertext;   // AEAD-sealed value (binary)
  std::string purpose;      // bound into the AAD, e.g. "certificate-key", "passphrase"
  TimePoint created_at;
};

enum class SecretKind { kPassphrase, kGeneric };
std::string_view SecretKindName(SecretKind k);
Result<SecretKind> ParseSecretKind(std::string_view s);

struct Secret {
  std::string id;
  std::string account_id;
  std::string name;
  SecretKind kind = SecretKind::kPassphrase;
  Tags tags;
  int current_version = 0;
  std::string description;
  TimePoint created_at;
  TimePoint updated_at;
};

struct SecretVersion {
  std::string secret_id;
  int version = 1;
  std::string blob_id;
  TimePoint created_at;
};

// One export of a certificate version, for audit and chargeback.
struct ExportRecord {
  std::string id;
  std::string account_id;
  std::string certificate_id;
  std::string version_id;  // empty when refused before a version was chosen
  std::string principal_id;
  bool allowed = true;
  std::string reason;  // why it was refused, if it was
  int fqdn_count = 0;
  int wildcard_count = 0;
  std::string secret_id;  // generated-passphrase secret, if any
  TimePoint at;
};

enum class CaRole { kRoot, kIntermediate };
std::string_view CaRoleName(CaRole r);
Result<CaRole> ParseCaRole(std::string_view s);

// One key and certificate of the internal CA hierarchy.
struct CaRecord {
  std::string id;
  CaRole role = CaRole::kRoot;
  std::string cert_pem;
  std::string key_blob_id;
  std::string parent_id;  // empty for a root
  bool active = true;
  TimePoint created_at;
};

// Account `to_account_id` lets account `from_account_id` deploy from_account's certificates into
// to_account's hosts. Explicit, revocable and audited.
struct Grant {
  std::string id;
  std::string from_account_id;
  std::string to_account_id;
  std::string created_by;  // principal id
  TimePoint created_at;
  bool revoked = false;
  std::optional<TimePoint> revoked_at;
};

// The per-account policy document (TOML source; src/policy parses it).
struct PolicyDocument {
  std::string account_id;
  std::string toml;
  int version = 1;
  std::string updated_by;
  TimePoint updated_at;
};

enum class AuditOutcome { kSuccess, kDenied, kFailure };
std::string_view AuditOutcomeName(AuditOutcome o);
Result<AuditOutcome> ParseAuditOutcome(std::string_view s);

// One audit record. Records form a hash chain: hash = SHA-256(prev_hash || canonical fields),
// so a changed, removed or reordered record is detectable. Never contains secret values.
struct AuditRecord {
  int64_t seq = 0;  // 1, 2, 3, ... without gaps
  std::string id;
  TimePoint at;
  std::string account_id;    // the account acted on, if any
  std::string principal_id;  // who; empty for failed authentication
  std::string action;        // e.g. "certificate.export", "auth.failed"
  std::string resource;      // resource id or CRN, if any
  AuditOutcome outcome = AuditOutcome::kSuccess;
  int status = 0;         // HTTP status, for API calls
  std::string source;     // remote address
  std::string detail;     // short human-readable reason
  std::string prev_hash;  // hex; 64 zeros for the first record
  std::string hash;       // hex
  // How `hash` is computed (src/audit/audit_log.h): "sha256" (the unkeyed global chain of
  // records written before keying began) or "hmac-sha256" (keyed, one chain per account).
  std::string scheme = "sha256";
  int64_t prev_seq = 0;  // keyed records: seq of the previous record of the same chain, 0 if none
};

// ---- jobs (src/jobs, the durable job engine)

inline constexpr std::string_view kJobPrefix = "job";

enum class JobState { kPending, kRunning, kSucceeded, kFailed, kCancelled };
std::string_view JobStateName(JobState s);
Result<JobState> ParseJobState(std::string_view s);

// A durable workflow instance. `step` names the step to run next; input and output are JSON
// documents owned by the job type (never secret values: docs/architecture.md "Security model").
struct Job {
  std::string id;
  std::string account_id;
  std::string type;
  std::string step;
  JobState state = JobState::kPending;
  int attempts = 0;  // claims so far that counted as attempts (kWait does not count)
  int max_attempts = 5;
  std::string input_json = "{}";
  std::string output_json = "{}";
  std::string last_error;
  std::string idempotency_key;  // empty: none; else unique per type
  std::string lease_owner;      // empty unless running
  std::optional<TimePoint> lease_expires_at;
  TimePoint run_after;  // not claimed before this time
  std::optional<TimePoint> deadline;
  TimePoint created_at;
  TimePoint updated_at;
};

// kRevoked is permanent (POST /v1/agents/{id}/revoke): every certificate issued to the agent is
// refused from then on, and nothing brings it back.
enum class AgentStatus { kActive, kDisabled, kRevoked };
std::string_view AgentStatusName(AgentStatus s);
Result<AgentStatus> ParseAgentStatus(std::string_view s);

// A host running certfleet-agent (issue #4). Its identity is its mTLS client certificate, issued
// by the internal CA at enrollment; its tags come from the enrollment token (an admin), never
// from the agent. Each agent is also a principal (kind agent, role agent) carrying the same tags,
// so secret access (ABAC) treats agents like any other caller.
struct Agent {
  std::string id;
  std::string account_id;
  std::string principal_id;
  std::string hostname;  // as reported at enrollment; display only
  Tags tags;
  std::string cert_serial_hex;       // current client certificate
  std::string prev_cert_serial_hex;  // the certificate it renewed away from (accepted until expiry)
  TimePoint cert_not_after;
  std::string enrollment_token_id;
  int64_t last_seq = 0;  // highest job sequence number handed to this agent (replay defence)
  AgentStatus status = AgentStatus::kActive;
  std::optional<TimePoint> last_seen_at;
  TimePoint created_at;
  TimePoint updated_at;
};

// One-time enrollment token. Only the SHA-256 is stored; the token is shown once.
struct EnrollmentToken {
  std::string id;
  std::string account_id;
  std::string hash_hex;
  Tags tags;  // given to the agent that enrolls with it
  std::string created_by;
  TimePoint created_at;
  TimePoint expires_at;
  std::optional<TimePoint> used_at;
  std::string used_by_agent_id;
  // Set by POST /v1/agents/enrollment-tokens/{id}/revoke: an unused token can no longer enroll.
  std::optional<TimePoint> revoked_at;
  // SHA-256 (hex) of the SubjectPublicKeyInfo of the CSR that used the token: a retry by the
  // same key within the retry window gets a certificate for the same agent (lost response).
  std::string used_key_sha256;
};

// One client certificate issued to an agent (enrollment or renewal). The server accepts every
// unexpired certificate of an active agent, so a renewal whose response was lost does not lock
// the agent out; revoking the agent refuses all of them.
struct AgentCertificate {
  std::string serial_hex;
  std::string agent_id;
  TimePoint not_after;
  TimePoint created_at;
};

enum class DeploymentState { kRunning, kSucceeded, kFailed, kNoTargets };
std::string_view DeploymentStateName(DeploymentState s);
Result<DeploymentState> ParseDeploymentState(std::string_view s);

// A certificate placed on the agents of `target_account_id` that match `selector`, with a named
// agent-side install profile. Each redeploy (on demand or after a renewal) starts a new
// generation with a fresh export and a new passphrase secret version.
struct Deployment {
  std::string id;
  std::string account_id;  // the certificate's account
  std::string certificate_id;
  std::string target_account_id;
  Tags selector;
  std::string profile;
  DeploymentState state = DeploymentState::kRunning;
  std::string state_detail;  // human readable, e.g. "2 of 3 targets verified"
  int generation = 1;
  std::string version_id;   // certificate version of this generation; empty until exported
  std::string key_blob_id;  // sealed encrypted PKCS#8 of this generation
  std::string secret_id;    // the passphrase secret, in the target account
  int secret_version = 0;
  std::string job_id;  // the job running this generation
  std::optional<TimePoint> deadline;
  std::string created_by;
  TimePoint created_at;
  TimePoint updated_at;
};

// kCancelled: the server withdrew the assignment before the agent finished it (the agent was
// revoked, or the grant it was assigned under was revoked); the deployment does not wait on it.
enum class TargetState { kPending, kInstalled, kVerified, kFailed, kRolledBack, kCancelled };
std::string_view TargetStateName(TargetState s);
Result<TargetState> ParseTargetState(std::string_view s);

// One agent within a deployment: where the certificate is (or is to be) placed. One row per
// (deployment, agent); a new generation updates it in place, so an agent that was offline gets
// only the newest desired state.
struct DeploymentTarget {
  std::string id;
  std::string deployment_id;
  std::string agent_id;
  std::string account_id;  // the agent's (target) account
  int generation = 1;
  std::string version_id;
  int64_t seq = 0;  // the agent's sequence number for this assignment
  TargetState state = TargetState::kPending;
  std::string reason;              // failure or rollback reason
  std::vector<std::string> paths;  // installed paths, as reported by the agent
  std::optional<TimePoint> delivered_at;
  std::optional<TimePoint> installed_at;
  std::optional<TimePoint> verified_at;
  TimePoint created_at;
  TimePoint updated_at;
};

// A domain event (issue #5), written through the transactional outbox: in the same store
// transaction as the state change it reports, so it exists exactly when the change does, and is
// delivered at least once afterwards. Consumers deduplicate by id. Payloads never carry secrets.
struct Event {
  std::string id;   // stable; the CloudEvents "id"
  int64_t seq = 0;  // assigned by the store on append: the delivery order
  std::string account_id;
  std::string type;              // "certificate.renewed"; CloudEvents type "io.certfleet." + type
  std::string subject;           // the resource id, e.g. "crt_..."
  std::string data_json = "{}";  // the CloudEvents "data" object
  Tags tags;                     // the resource's tags, for subscription filters
  TimePoint time;
};

// A webhook subscription of one account (docs/events.md). An event matches when its account is
// the subscription's, its type matches one of `types` ("certificate.renewed", "certificate.*" or
// "*"), and every tag in `tags` is present with the same value on the event.
struct WebhookSubscription {
  std::string id;
  std::string account_id;
  std::string url;  // https://, or http:// only with allow_private_address
  std::vector<std::string> types;
  Tags tags;                   // filter; empty matches every event
  std::string secret_blob_id;  // the HMAC key, sealed by the secret store; never returned
  // Delivery to loopback, private and link-local addresses is refused unless set.
  bool allow_private_address = false;
  bool active = true;
  std::string created_by;
  TimePoint created_at;
  TimePoint updated_at;
};

enum class DeliveryStatus { kPending, kDelivered, kFailed };
std::string_view DeliveryStatusName(DeliveryStatus s);
Result<DeliveryStatus> ParseDeliveryStatus(std::string_view s);

// The delivery of one event to one subscription: one row per (subscription, event), updated
// after each attempt, so it is both the retry queue and the delivery log.
struct WebhookDelivery {
  std::string id;
  std::string subscription_id;
  std::string event_id;
  int attempt = 0;  // attempts made so far
  DeliveryStatus status = DeliveryStatus::kPending;
  int http_status = 0;                       // of the last attempt; 0 when no response was received
  std::string error;                         // of the last failed attempt
  std::optional<TimePoint> next_attempt_at;  // set while pending
  std::optional<TimePoint> delivered_at;
  TimePoint created_at;
  TimePoint updated_at;
};

// Renewal bookkeeping of a certificate's current version (issue #5), kept by the renewal
// scheduler: when to try next and how often it failed. A state for an older version is stale
// and replaced when the scheduler next plans.
struct RenewalState {
  std::string certificate_id;
  std::string version_id;  // the version this state plans to replace
  TimePoint next_attempt_at;
  int failures = 0;        // consecutive failed attempts for this version
  std::string last_error;  // human readable, no secrets
  std::string job_id;      // the renewal job last enqueued, if any
  TimePoint updated_at;
};

// A named lease (e.g. the renewal scheduler's leader lock): held by `owner` until expires_at.
struct Lease {
  std::string name;
  std::string owner;
  TimePoint expires_at;
};

// A revoked certificate version as the issuing CA lists it in its CRL (RFC 5280 5.3.1 reason
// code as its number, so the model does not depend on x509).
struct Revocation {
  std::string serial_hex;
  std::string ca_id;  // the CA record that signed the version; empty for external issuers
  std::string certificate_id;
  std::string version_id;
  int reason = 0;
  TimePoint revoked_at;
};

// A domain claim (issue #13): a system admin assigns `domain` to an account. Outside the system
// account, an account may hold certificates only for names its claims cover
// (policy/domain_claims.h). `domain` is a normalized DNS name: lower case, no trailing dot, no
// wildcard label. With include_subdomains the claim also covers every name below `domain`. Two
// accounts' claims may overlap only when both are `shared`.
struct DomainClaim {
  std::string id;  // "dcl_..."
  std::string account_id;
  std::string domain;
  bool include_subdomains = false;
  bool shared = false;
  std::string created_by;  // principal id
  TimePoint created_at;
};

}  // namespace certfleet::model
