// The store: repository interfaces and the unit of work (docs/architecture.md "Storage and scale").
// All business logic speaks to these interfaces; SQL stays inside the backends (sqlite/, later
// postgres/). Every backend passes the same conformance suite (store/conformance_test.h).
//
// Usage:
//   CF_ASSIGN_OR_RETURN(auto tx, store.Begin());
//   CF_TRY(tx->certificates().Insert(cert));
//   CF_TRY(tx->Commit());
// A Tx that is destroyed without Commit() rolls back. A Tx is used by one thread at a time;
// Store::Begin() is thread-safe and may be called from many threads (writers are serialized by
// the backend; SQLite uses BEGIN IMMEDIATE with a busy timeout).
//
// Commit() ends the transaction whether it succeeds or not: the backend releases its
// connection and locks at once (a committed Tx left in scope blocks nobody), and every later
// call on the Tx or its repositories returns FailedPrecondition. A repository call that fails
// changes nothing and leaves the Tx usable, so a caller may, say, retry Reserve() with another
// serial in the same Tx (a PostgreSQL backend needs a savepoint per statement for this).
//
// Errors: NotFound for a missing row, Conflict for a unique-key violation (duplicate id, name
// or serial), Unavailable (retryable) when the database is busy or unreachable, Internal for
// anything else. Messages name the table and key, never values of sealed columns.
// Also: FailedPrecondition when a row names an owner that does not exist (principal -> account,
// token -> principal, certificate -> account, version -> certificate, secret -> account,
// grant -> both accounts, policy -> account, agent -> account and principal, enrollment token ->
// account, deployment -> certificate and both accounts, target -> deployment and agent; references
// to blobs, CA records, exports' and audit records' subjects, and grants' and policies' principals
// are not checked), and InvalidArgument for values the backend cannot store (e.g. tags or domains
// that are not valid UTF-8). Lists without a stated order are ordered by id, i.e. by creation time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "model/model.h"
#include "store/acme_server.h"

namespace certfleet::store {

class AccountRepo {
 public:
  virtual ~AccountRepo() = default;
  virtual Status Insert(const model::Account& a) = 0;
  virtual Result<model::Account> Get(const std::string& id) = 0;
  virtual Result<model::Account> GetByName(const std::string& name) = 0;
  virtual Result<std::vector<model::Account>> List() = 0;
};

class PrincipalRepo {
 public:
  virtual ~PrincipalRepo() = default;
  virtual Status Insert(const model::Principal& p) = 0;
  virtual Result<model::Principal> Get(const std::string& id) = 0;
  // Name is unique within an account.
  virtual Result<model::Principal> GetByName(const std::string& account_id,
                                             const std::string& name) = 0;
  virtual Result<std::vector<model::Principal>> ListByAccount(const std::string& account_id) = 0;
  // Updates name, kind, role, tags and disabled; never account_id or created_at. NotFound if
  // absent, Conflict if the new name is taken in the account.
  virtual Status Update(const model::Principal& p) = 0;
};

class TokenRepo {
 public:
  virtual ~TokenRepo() = default;
  virtual Status Insert(const model::ApiToken& t) = 0;
  // hash_hex is unique.
  virtual Result<model::ApiToken> GetByHash(const std::string& hash_hex) = 0;
  virtual Result<std::vector<model::ApiToken>> ListByPrincipal(const std::string& principal_id) = 0;
  // NotFound if absent; revoking a revoked token succeeds.
  virtual Status Revoke(const std::string& id) = 0;
  // NotFound if absent.
  virtual Result<model::ApiToken> Get(const std::string& id) = 0;
};

// Tags a listed row must carry: each (key, value) among its tags (all of them, exact match).
using TagFilter = std::vector<std::pair<std::string, std::string>>;

// The order of CertificateRepo::List. Every order ends with the id, so it is total and a page
// boundary (the last row's key and id) resumes the listing exactly (keyset pagination).
enum class CertificateSort {
  kId,         // id ascending (ids sort by creation time)
  kCreatedAt,  // (created_at, id) ascending
  // (not_after of the current version, id) ascending; certificates without a version last.
  kNotAfter,
};

// The sort key that CertificateSort::kNotAfter gives a certificate without a current version:
// 9999-12-31T23:59:59Z, after every real not_after.
inline constexpr int64_t kNoVersionNotAfter = 253402300799;

struct CertificateFilter {
  std::optional<std::string> account_id;
  std::optional<model::CertificateStatus> status;
  TagFilter tags;
  // Some domain contains this text, ASCII case-insensitively. Must not hold '"' or '\'
  // (InvalidArgument): the match runs on the stored JSON array.
  std::string domain_contains;
  std::optional<std::string> issuer;
  // On the current version's not_after (seconds): expires_before exclusive, expires_after
  // inclusive. A certificate without a version matches neither.
  std::optional<TimePoint> expires_before;
  std::optional<TimePoint> expires_after;
  CertificateSort sort = CertificateSort::kId;
  size_t limit = 1000;   // 0 returns no rows
  std::string after_id;  // keyset pagination: only rows after (after_key, after_id) in `sort`
  // The sort key (seconds) of the row named by after_id, for kCreatedAt and kNotAfter; ignored
  // for kId and when after_id is empty.
  int64_t after_key = 0;
};

class CertificateRepo {
 public:
  virtual ~CertificateRepo() = default;
  // (account_id, name) is unique.
  virtual Status Insert(const model::Certificate& c) = 0;
  virtual Result<model::Certificate> Get(const std::string& id) = 0;
  // The certificate named `name` in `account_id`; NotFound if none.
  virtual Result<model::Certificate> GetByName(const std::string& account_id,
                                               const std::string& name) = 0;
  // Ordered by f.sort, at most f.limit rows after (f.after_key, f.after_id). InvalidArgument for
  // a domain_contains the match cannot take.
  virtual Result<std::vector<model::Certificate>> List(const CertificateFilter& f) = 0;
  // Updates status, status_detail, current_version_id, tags, renew_before_seconds and
  // updated_at. Never changes exportable, account_id, domains, key_type or profile (nor any
  // other field). NotFound if absent.
  virtual Status Update(const model::Certificate& c) = 0;
};

class VersionRepo {
 public:
  virtual ~VersionRepo() = default;
  // (certificate_id, version) is unique; serial_hex is unique.
  virtual Status Insert(const model::CertificateVersion& v) = 0;
  virtual Result<model::CertificateVersion> Get(const std::string& id) = 0;
  // The version with serial `serial_hex` (lower-case hex, as stored); NotFound if none.
  virtual Result<model::CertificateVersion> GetBySerial(const std::string& serial_hex) = 0;
  // Ordered by version ascending.
  virtual Result<std::vector<model::CertificateVersion>> ListByCertificate(
      const std::string& certificate_id) = 0;
};

// Sealed values. The backend stores the binary columns as they are and never looks inside.
class BlobRepo {
 public:
  virtual ~BlobRepo() = default;
  virtual Status Insert(const model::SealedBlob& b) = 0;
  virtual Result<model::SealedBlob> Get(const std::string& id) = 0;
  // Re-wrapping after a KEK rotation: replaces kek_id and wrapped_dek only. NotFound if absent.
  virtual Status UpdateWrapping(const std::string& id, const std::string& kek_id,
                                const std::string& wrapped_dek) = 0;
  // Ids of blobs wrapped by any KEK other than `kek_id`, at most `limit`, ordered by id.
  virtual Result<std::vector<std::string>> ListNotWrappedBy(const std::string& kek_id,
                                                            size_t limit) = 0;
};

struct SecretFilter {
  std::optional<std::string> account_id;
  TagFilter tags;
  std::optional<model::SecretKind> kind;
  std::string name_contains;  // ASCII case-insensitive substring of the name; empty: any
  size_t limit = 1000;        // 0 returns no rows
  std::string after_id;       // keyset pagination: only ids > after_id
};

class SecretRepo {
 public:
  virtual ~SecretRepo() = default;
  // (account_id, name) is unique.
  virtual Status Insert(const model::Secret& s) = 0;
  virtual Result<model::Secret> Get(const std::string& id) = 0;
  virtual Result<std::vector<model::Secret>> ListByAccount(const std::string& account_id) = 0;
  // Ordered by id, at most f.limit rows with ids > f.after_id. Conditions are ANDed.
  virtual Result<std::vector<model::Secret>> List(const SecretFilter& f) = 0;
  // Inserts the version and sets the secret's current_version and updated_at to match.
  // Conflict if that version exists already, NotFound if the secret does not; either way
  // nothing changes.
  virtual Status AddVersion(const model::SecretVersion& v, TimePoint updated_at) = 0;
  virtual Result<model::SecretVersion> GetVersion(const std::string& secret_id, int version) = 0;
};

struct ExportFilter {
  std::optional<std::string> account_id;
  std::optional<std::string> certificate_id;
  std::optional<TimePoint> since;  // inclusive: records with at >= since
  std::optional<std::string> principal_id;
  std::optional<TimePoint> until;  // exclusive: records with at < until
  size_t limit = 100000;           // 0 returns no rows
  // Keyset pagination. List: only rows after (after_key = at in seconds, after_id) in its
  // order. Summarize: only certificates with ids > after_id (after_key unused).
  std::string after_id;
  int64_t after_key = 0;
};

// The allowed exports of one certificate (chargeback, GET /v1/reports/exports).
struct ExportSummary {
  std::string account_id;
  std::string certificate_id;
  int64_t exports = 0;
  int64_t fqdns = 0;      // sum of fqdn_count
  int64_t wildcards = 0;  // sum of wildcard_count
};

class ExportRepo {
 public:
  virtual ~ExportRepo() = default;
  virtual Status Insert(const model::ExportRecord& e) = 0;
  // Ordered by time, then id; at most f.limit rows after (f.after_key, f.after_id).
  virtual Result<std::vector<model::ExportRecord>> List(const ExportFilter& f) = 0;
  // The allowed records matching f grouped per certificate, ordered by certificate id, at most
  // f.limit groups with certificate ids > f.after_id. Grouping runs in SQL.
  virtual Result<std::vector<ExportSummary>> Summarize(const ExportFilter& f) = 0;
};

class CaRepo {
 public:
  virtual ~CaRepo() = default;
  virtual Status Insert(const model::CaRecord& c) = 0;
  virtual Result<model::CaRecord> Get(const std::string& id) = 0;
  // The newest active record with this role (ties on created_at go to the greater id);
  // NotFound if none.
  virtual Result<model::CaRecord> GetActive(model::CaRole role) = 0;
  virtual Result<std::vector<model::CaRecord>> List() = 0;
};

// Serials are reserved (persisted) before signing so that a serial is never used twice, even
// across crashes (BR 7.1: serials unique per CA).
class SerialRepo {
 public:
  virtual ~SerialRepo() = default;
  // Conflict if the serial exists already.
  virtual Status Reserve(const std::string& serial_hex, const std::string& ca_id, TimePoint at) = 0;
  virtual Result<bool> Exists(const std::string& serial_hex) = 0;
};

// Small named settings (e.g. the active KEK id, the schema's bootstrap markers).
class SettingRepo {
 public:
  virtual ~SettingRepo() = default;
  virtual Result<std::optional<std::string>> Get(const std::string& key) = 0;
  virtual Status Put(const std::string& key, const std::string& value) = 0;
};

class GrantRepo {
 public:
  virtual ~GrantRepo() = default;
  // Conflict if an active (not revoked) grant with the same (from, to) exists.
  virtual Status Insert(const model::Grant& g) = 0;
  virtual Result<model::Grant> Get(const std::string& id) = 0;
  // Grants where the account is either side, revoked ones included, ordered by id.
  virtual Result<std::vector<model::Grant>> ListByAccount(const std::string& account_id) = 0;
  // Active grants from `from_account_id` to `to_account_id` (at most one).
  virtual Result<std::vector<model::Grant>> ListActive(const std::string& from_account_id,
                                                       const std::string& to_account_id) = 0;
  // Sets revoked and revoked_at; NotFound if absent; repeating it changes nothing (revoked_at
  // keeps the first time).
  virtual Status Revoke(const std::string& id, TimePoint at) = 0;
};

class PolicyRepo {
 public:
  virtual ~PolicyRepo() = default;
  // NotFound if the account has no policy document.
  virtual Result<model::PolicyDocument> Get(const std::string& account_id) = 0;
  // Inserts or replaces the account's document (the caller sets version).
  virtual Status Put(const model::PolicyDocument& doc) = 0;
};

struct AuditFilter {
  std::optional<std::string> account_id;
  std::optional<std::string> principal_id;
  std::optional<std::string> resource;
  std::optional<TimePoint> since;     // inclusive
  std::optional<TimePoint> until;     // exclusive
  int64_t after_seq = 0;              // records with seq > after_seq
  size_t limit = 1000;                // 0 returns no rows
  std::optional<std::string> action;  // exact, e.g. "certificate.export"
  // Records whose resource is an id of this kind: "crt" matches "crt_...".
  std::optional<std::string> resource_type;
  std::optional<model::AuditOutcome> outcome;
};

// Append-only audit records (SQL table "audit_records", ordered by "seq").
class AuditRepo {
 public:
  virtual ~AuditRepo() = default;
  // Conflict if the seq exists already.
  virtual Status Insert(const model::AuditRecord& r) = 0;
  // Ordered by seq ascending.
  virtual Result<std::vector<model::AuditRecord>> List(const AuditFilter& f) = 0;
};

struct JobFilter {
  std::optional<std::string> account_id;
  std::optional<model::JobState> state;
  std::optional<std::string> type;
  size_t limit = 1000;  // 0 returns no rows
};

// Durable jobs (src/jobs). Claim() is the only way a job moves to running: it is how several
// workers (threads, or certfleetd replicas on PostgreSQL) share the queue without running a job
// twice at the same time. The SQLite backend gets that from its single writer (every Tx is
// BEGIN IMMEDIATE); the PostgreSQL backend will implement Claim with
// "SELECT ... FOR UPDATE SKIP LOCKED" followed by the UPDATE, in the caller's Tx.
class JobRepo {
 public:
  virtual ~JobRepo() = default;
  // Conflict on a duplicate id, or on a duplicate (type, idempotency_key) when the key is
  // non-empty.
  virtual Status Insert(const model::Job& j) = 0;
  virtual Result<model::Job> Get(const std::string& id) = 0;
  // NotFound if no job of `type` has that (non-empty) key.
  virtual Result<model::Job> GetByIdempotencyKey(const std::string& type,
                                                 const std::string& key) = 0;
  // Replaces every field except id, created_at, account_id, type and idempotency_key.
  // NotFound if absent.
  virtual Status Update(const model::Job& j) = 0;
  // Claims up to `limit` jobs of the given types (all types when `types` is empty) that are
  // pending with run_after <= now, or running with lease_expires_at < now (their worker died
  // or stalled). Each is marked running, lease_owner = owner, lease_expires_at = now + lease,
  // attempts + 1, updated_at = now, and returned as it is after that change, ordered by
  // run_after, then id. The claim is durable only once the caller's Tx commits.
  virtual Result<std::vector<model::Job>> Claim(const std::string& owner, TimePoint now,
                                                Seconds lease,
                                                const std::vector<std::string>& types,
                                                size_t limit) = 0;
  // Extends a claim while its step runs (issue #15: a slow step is never claimed twice while
  // its owner is alive): sets lease_expires_at = `until` only if the job is still running under
  // `owner` with lease_expires_at == `expected`, i.e. nobody took it over or finished it.
  // Returns whether it did.
  virtual Result<bool> ExtendLease(const std::string& id, const std::string& owner,
                                   TimePoint expected, TimePoint until) = 0;
  // Ordered by id ascending.
  virtual Result<std::vector<model::Job>> List(const JobFilter& f) = 0;
};

struct AgentFilter {
  std::optional<std::string> account_id;
  TagFilter tags;
  std::optional<model::AgentStatus> status;
  std::string hostname_contains;          // ASCII case-insensitive substring; empty: any
  std::optional<TimePoint> seen_since;    // online: last_seen_at >= seen_since
  std::optional<TimePoint> unseen_since;  // offline: never seen, or last_seen_at < unseen_since
  size_t limit = 1000;                    // 0 returns no rows
  std::string after_id;                   // keyset pagination: only ids > after_id
};

class AgentRepo {
 public:
  virtual ~AgentRepo() = default;
  // cert_serial_hex is unique among agents (current serials); Conflict otherwise.
  virtual Status Insert(const model::Agent& a) = 0;
  virtual Result<model::Agent> Get(const std::string& id) = 0;
  // The agent whose current or previous client certificate has this serial; NotFound if none.
  virtual Result<model::Agent> GetByCertSerial(const std::string& serial_hex) = 0;
  // Ordered by id.
  virtual Result<std::vector<model::Agent>> ListByAccount(const std::string& account_id) = 0;
  // Every agent of every account, ordered by id (metrics, benchmarks).
  virtual Result<std::vector<model::Agent>> List() = 0;
  // Ordered by id, at most f.limit rows with ids > f.after_id. Conditions are ANDed.
  virtual Result<std::vector<model::Agent>> List(const AgentFilter& f) = 0;
  // Updates hostname, tags, cert_serial_hex, prev_cert_serial_hex, cert_not_after, last_seq,
  // status, last_seen_at and updated_at; never id, account_id, principal_id,
  // enrollment_token_id or created_at. NotFound if absent.
  virtual Status Update(const model::Agent& a) = 0;
  // Increments last_seq and returns the new value. NotFound if absent.
  virtual Result<int64_t> NextSeq(const std::string& id) = 0;
};

class EnrollmentTokenRepo {
 public:
  virtual ~EnrollmentTokenRepo() = default;
  // hash_hex is unique.
  virtual Status Insert(const model::EnrollmentToken& t) = 0;
  virtual Result<model::EnrollmentToken> Get(const std::string& id) = 0;
  virtual Result<model::EnrollmentToken> GetByHash(const std::string& hash_hex) = 0;
  // Ordered by id.
  virtual Result<std::vector<model::EnrollmentToken>> ListByAccount(
      const std::string& account_id) = 0;
  // Sets used_at and used_by_agent_id, only if the token is unused: Conflict if it was used
  // already (so two racing enrollments cannot both win), NotFound if absent.
  virtual Status MarkUsed(const std::string& id, const std::string& agent_id, TimePoint at) = 0;
  // Records the SHA-256 (hex) of the public key that used the token. NotFound if absent.
  virtual Status SetUsedKey(const std::string& id, const std::string& key_sha256) = 0;
  // Sets revoked_at unless it is set already (the first time is kept). NotFound if absent.
  virtual Status Revoke(const std::string& id, TimePoint at) = 0;
};

// Every client certificate issued to an agent (kMigrationAgentCertificates).
class AgentCertificateRepo {
 public:
  virtual ~AgentCertificateRepo() = default;
  // serial_hex is unique: Conflict. FailedPrecondition if the agent does not exist.
  virtual Status Insert(const model::AgentCertificate& c) = 0;
  // NotFound if no certificate has this serial.
  virtual Result<model::AgentCertificate> Get(const std::string& serial_hex) = 0;
  // Ordered by not_after, then serial.
  virtual Result<std::vector<model::AgentCertificate>> ListByAgent(const std::string& agent_id) = 0;
};

struct DeploymentFilter {
  std::optional<std::string> account_id;         // the certificate's account
  std::optional<std::string> target_account_id;  // whose agents receive it
  std::optional<std::string> certificate_id;
  size_t limit = 1000;   // 0 returns no rows
  std::string after_id;  // keyset pagination: only ids > after_id
  // Deployments this account is either side of (the certificate's or the receiving account).
  std::optional<std::string> party_account_id;
  std::optional<model::DeploymentState> state;
};

class DeploymentRepo {
 public:
  virtual ~DeploymentRepo() = default;
  // FailedPrecondition if the certificate or either account does not exist.
  virtual Status Insert(const model::Deployment& d) = 0;
  virtual Result<model::Deployment> Get(const std::string& id) = 0;
  // Ordered by id ascending. Conditions are ANDed.
  virtual Result<std::vector<model::Deployment>> List(const DeploymentFilter& f) = 0;
  // Updates state, state_detail, generation, version_id, key_blob_id, secret_id,
  // secret_version, job_id, deadline and updated_at; never id, the accounts, certificate_id,
  // selector, profile, created_by or created_at. NotFound if absent.
  virtual Status Update(const model::Deployment& d) = 0;
};

class DeploymentTargetRepo {
 public:
  virtual ~DeploymentTargetRepo() = default;
  // (deployment_id, agent_id) is unique: Conflict. FailedPrecondition if the deployment or the
  // agent does not exist.
  virtual Status Insert(const model::DeploymentTarget& t) = 0;
  virtual Result<model::DeploymentTarget> Get(const std::string& id) = 0;
  virtual Result<model::DeploymentTarget> GetByDeploymentAgent(const std::string& deployment_id,
                                                               const std::string& agent_id) = 0;
  // Ordered by id.
  virtual Result<std::vector<model::DeploymentTarget>> ListByDeployment(
      const std::string& deployment_id) = 0;
  // Ordered by id.
  virtual Result<std::vector<model::DeploymentTarget>> ListByAgent(const std::string& agent_id) = 0;
  // The agent's targets in state pending, ordered by seq ascending.
  virtual Result<std::vector<model::DeploymentTarget>> ListPendingByAgent(
      const std::string& agent_id) = 0;
  // Updates generation, version_id, seq, state, reason, paths, delivered_at, installed_at,
  // verified_at and updated_at; never id, deployment_id, agent_id, account_id or created_at.
  // NotFound if absent.
  virtual Status Update(const model::DeploymentTarget& t) = 0;
};

// The transactional outbox (issue #5). Events are appended in the Tx of the change they report
// and never updated or deleted by the lifecycle code.
class EventRepo {
 public:
  virtual ~EventRepo() = default;
  // Assigns and returns the next seq (strictly increasing in commit order for SQLite; a
  // PostgreSQL backend must make a reader never skip a seq that commits later). Conflict on a
  // duplicate id.
  virtual Result<int64_t> Append(const model::Event& e) = 0;
  virtual Result<model::Event> Get(const std::string& id) = 0;
  // Events with seq > after_seq in seq order, at most `limit`.
  virtual Result<std::vector<model::Event>> ListAfter(int64_t after_seq, size_t limit) = 0;
};

class WebhookRepo {
 public:
  virtual ~WebhookRepo() = default;
  // Conflict on a duplicate id; FailedPrecondition for an unknown account.
  virtual Status Insert(const model::WebhookSubscription& w) = 0;
  virtual Result<model::WebhookSubscription> Get(const std::string& id) = 0;
  // Ordered by id.
  virtual Result<std::vector<model::WebhookSubscription>> ListByAccount(
      const std::string& account_id) = 0;
  // Active subscriptions of every account, ordered by id (for the dispatcher).
  virtual Result<std::vector<model::WebhookSubscription>> ListActive() = 0;
  // Changes `active` and `updated_at` only. NotFound for an unknown id.
  virtual Status SetActive(const std::string& id, bool active, TimePoint at) = 0;
};

class WebhookDeliveryRepo {
 public:
  virtual ~WebhookDeliveryRepo() = default;
  // Conflict on a duplicate id or a second row for the same (subscription, event).
  virtual Status Insert(const model::WebhookDelivery& d) = 0;
  virtual Result<model::WebhookDelivery> Get(const std::string& id) = 0;
  // Newest first (by id, descending), ids below `before_id` when it is non-empty, at most `limit`.
  virtual Result<std::vector<model::WebhookDelivery>> ListBySubscription(
      const std::string& subscription_id, const std::string& before_id, size_t limit) = 0;
  // Pending deliveries with next_attempt_at <= now, oldest due first, at most `limit`.
  virtual Result<std::vector<model::WebhookDelivery>> ListDue(TimePoint now, size_t limit) = 0;
  // Changes attempt, status, http_status, error, next_attempt_at, delivered_at and updated_at.
  // NotFound for an unknown id.
  virtual Status Update(const model::WebhookDelivery& d) = 0;
};

// Renewal bookkeeping (issue #5), one row per certificate.
//
// At fleet scale (issue #14) neither query reads every certificate. The store keeps, in the
// transaction of every change, the set of certificates that need planning (issued, with a
// current version and no state for that version): inserting or updating a certificate, and
// putting a state, update it. ListUnplanned is a range scan over that set, ListDue a range scan
// over next_attempt_at; an idle sweep reads nothing but two empty index ranges. A certificate
// that leaves the issued status (revoked, expired, failed) loses its state in the same
// transaction, so stale states never accumulate inside the due range.
struct RenewalCandidate {
  std::string certificate_id;
  std::string version_id;  // the certificate's current version
  // What planning needs, read with the candidate (no further read per certificate).
  std::string account_id;
  int version = 0;
  TimePoint not_before;
  TimePoint not_after;
  TimePoint created_at;  // the version's, by certfleetd's clock
  std::optional<int64_t> renew_before_seconds;
};

class RenewalRepo {
 public:
  virtual ~RenewalRepo() = default;
  // NotFound if the certificate has no state.
  virtual Result<model::RenewalState> Get(const std::string& certificate_id) = 0;
  // Inserts or replaces the certificate's state. FailedPrecondition if the certificate does not
  // exist. A state for the certificate's current version takes it out of the unplanned set.
  virtual Status Put(const model::RenewalState& s) = 0;
  // Issued certificates whose current version has no state (none at all, or one for an older
  // version), with ids > after_id (keyset pagination: a sweep passes the last id of the previous
  // page, so each page starts where the last ended instead of rescanning), ordered by
  // certificate id, at most `limit`. Reads only the unplanned set (see above).
  virtual Result<std::vector<RenewalCandidate>> ListUnplanned(const std::string& after_id,
                                                              size_t limit) = 0;
  // States with next_attempt_at <= now whose certificate is issued and still has that version
  // current, ordered by next_attempt_at then certificate id, at most `limit`.
  virtual Result<std::vector<model::RenewalState>> ListDue(TimePoint now, size_t limit) = 0;
  // How many certificates need planning now (the size of the unplanned set).
  virtual Result<int64_t> CountUnplanned() = 0;
};

// Named leases; the holder's logic lives above (lifecycle::StoreLeaseLock).
class LeaseRepo {
 public:
  virtual ~LeaseRepo() = default;
  virtual Result<std::optional<model::Lease>> Get(const std::string& name) = 0;
  // Inserts or replaces.
  virtual Status Put(const model::Lease& l) = 0;
  // Deletes the lease if `owner` holds it; otherwise nothing changes (not an error).
  virtual Status Delete(const std::string& name, const std::string& owner) = 0;
};

class RevocationRepo {
 public:
  virtual ~RevocationRepo() = default;
  // serial_hex is unique: Conflict.
  virtual Status Insert(const model::Revocation& r) = 0;
  // Ordered by serial_hex.
  virtual Result<std::vector<model::Revocation>> ListByCa(const std::string& ca_id) = 0;
  // Ordered by serial_hex.
  virtual Result<std::vector<model::Revocation>> ListByCertificate(
      const std::string& certificate_id) = 0;
};

// Notices already given (issue #5): which expiry warning, expiry or offline event was emitted
// for which subject, so that the watchers emit each one once. One row per (kind, subject).
struct Notice {
  std::string kind;        // e.g. "certificate.approaching_expiration"
  std::string subject_id;  // a certificate or agent id
  std::string marker;      // what was noticed, e.g. "<version id>/<days left>"
  TimePoint updated_at;
};

class NoticeRepo {
 public:
  virtual ~NoticeRepo() = default;
  virtual Result<std::optional<Notice>> Get(const std::string& kind,
                                            const std::string& subject_id) = 0;
  // Inserts or replaces.
  virtual Status Put(const Notice& n) = 0;
};

// ACME configuration (issue #6, migration 8): per-account issuers and solvers. One table for
// both kinds; `config_json` holds the non-secret settings, secrets are sealed blobs (an issuer's
// ACME account key and EAB HMAC key, a solver's TSIG secret).
struct AcmeConfig {
  std::string id;  // "acm_..."
  std::string account_id;
  std::string kind;             // "issuer" or "solver"
  std::string name;             // unique per (account, kind)
  std::string type;             // issuer: "acme"; solver: "rfc2136", "http01", "exec"
  std::string config_json;      // non-secret settings
  std::string secret_blob_id;   // issuer: account key (PKCS#8); solver: TSIG secret; may be empty
  std::string secret2_blob_id;  // issuer: EAB HMAC key; may be empty
  std::string created_by;
  TimePoint created_at;
  TimePoint updated_at;
};

class AcmeConfigRepo {
 public:
  virtual ~AcmeConfigRepo() = default;
  // Conflict if (account, kind, name) is taken.
  virtual Status Insert(const AcmeConfig& c) = 0;
  // NotFound.
  virtual Result<AcmeConfig> GetByName(const std::string& account_id, const std::string& kind,
                                       const std::string& name) = 0;
  // Ordered by name.
  virtual Result<std::vector<AcmeConfig>> List(const std::string& account_id,
                                               const std::string& kind) = 0;
  // Replaces config_json and updated_at (e.g. the ACME account URL once registered). NotFound.
  virtual Status UpdateConfig(const std::string& id, const std::string& config_json,
                              TimePoint updated_at) = 0;
};

// One ACME order per certificate version being issued (issue #6, migration 8): the order URL is
// recorded before any challenge is answered, so a job resumed after a crash continues the same
// order; the ARI window (RFC 9773) the CA suggested for the issued certificate is kept with it.
struct AcmeOrder {
  std::string order_key;  // "<certificate id>/<version>"
  std::string certificate_id;
  std::string order_url;
  std::optional<TimePoint> ari_start;
  std::optional<TimePoint> ari_end;
  TimePoint updated_at;
};

class AcmeOrderRepo {
 public:
  virtual ~AcmeOrderRepo() = default;
  virtual Result<std::optional<AcmeOrder>> Get(const std::string& order_key) = 0;
  // Inserts or replaces.
  virtual Status Put(const AcmeOrder& o) = 0;
};

// http-01 challenges answered by agents (issue #6, migration 9): one row per (agent, token).
// certfleetd writes "present" (the agent should serve the token) or "remove" (it should withdraw
// it); the agent's acknowledgement moves "present" to "presented" or "failed" and deletes the row
// on "removed". Key authorizations are not secret (the CA reads them over plain HTTP).
struct AgentChallenge {
  std::string agent_id;
  std::string token;
  std::string account_id;
  std::string key_authorization;
  std::string state;   // "present", "presented", "failed", "remove"
  std::string reason;  // the agent's words for "failed"
  TimePoint created_at;
  TimePoint updated_at;
  // The DNS name the ordering account's authorization is for (issue #13): the agent's listener
  // answers the token only for a request whose Host is this name. Empty in rows written before
  // migration kMigrationDomainClaims.
  std::string identifier;
};

class AgentChallengeRepo {
 public:
  virtual ~AgentChallengeRepo() = default;
  virtual Result<std::optional<AgentChallenge>> Get(const std::string& agent_id,
                                                    const std::string& token) = 0;
  // Inserts or replaces (agent_id, token); created_at is kept on replace.
  virtual Status Put(const AgentChallenge& c) = 0;
  // The agent's rows in state "present" or "remove" (work to hand out), oldest first, at most
  // `limit`.
  virtual Result<std::vector<AgentChallenge>> ListWork(const std::string& agent_id,
                                                       size_t limit) = 0;
  // Every agent's row for `token` in `account_id`, ordered by agent id.
  virtual Result<std::vector<AgentChallenge>> ListByToken(const std::string& account_id,
                                                          const std::string& token) = 0;
  // Rows of `account_id` not being withdrawn (state other than "remove") last updated before
  // `updated_before`, oldest first, at most `limit`: challenges a crashed issuance left behind.
  virtual Result<std::vector<AgentChallenge>> ListStale(const std::string& account_id,
                                                        TimePoint updated_before, size_t limit) = 0;
  // Absent is Ok.
  virtual Status Delete(const std::string& agent_id, const std::string& token) = 0;
};

// Tokens of certfleetd's own http-01 listener (issue #15, SQLite migration
// kMigrationHttp01Tokens): in the store, so that whichever replica the CA's request reaches
// answers it. One row per (identifier, token), owned by the account whose order presented it.
struct Http01Token {
  std::string identifier;  // normalized DNS name
  std::string token;
  std::string owner;  // the ordering account's id ("" for system orders)
  std::string key_authorization;
  TimePoint created_at;
};

class Http01TokenRepo {
 public:
  virtual ~Http01TokenRepo() = default;
  virtual Result<std::optional<Http01Token>> Get(const std::string& identifier,
                                                 const std::string& token) = 0;
  // Inserts or replaces (identifier, token); created_at is replaced too.
  virtual Status Put(const Http01Token& t) = 0;
  // Deletes the row if `owner` holds it; otherwise nothing changes (not an error).
  virtual Status Delete(const std::string& identifier, const std::string& token,
                        const std::string& owner) = 0;
  // Deletes rows created before `before` (left behind by a crash between present and clean-up);
  // returns how many.
  virtual Result<int64_t> DeleteCreatedBefore(TimePoint before) = 0;
  virtual Result<int64_t> Count() = 0;
};

// Domain claims (issue #13, migration kMigrationDomainClaims): which names each account may hold.
class DomainClaimRepo {
 public:
  virtual ~DomainClaimRepo() = default;
  // Conflict if the account holds a claim on the same domain already; FailedPrecondition for an
  // unknown account.
  virtual Status Insert(const model::DomainClaim& c) = 0;
  virtual Result<model::DomainClaim> Get(const std::string& id) = 0;
  // Ordered by id.
  virtual Result<std::vector<model::DomainClaim>> ListByAccount(const std::string& account_id) = 0;
  // Every account's claims, ordered by id (overlap checks, the system admin's list).
  virtual Result<std::vector<model::DomainClaim>> List() = 0;
  // NotFound if absent.
  virtual Status Delete(const std::string& id) = 0;
};

// Read-only aggregates for GET /metrics and the expiry watchers (issue #5). Cheap enough to run
// on every scrape: counts use indexes, lists are paginated.
struct CertificateExpiry {
  std::string certificate_id;
  std::string account_id;
  std::string name;
  std::string version_id;
  model::Tags tags;
  TimePoint not_after;  // the current version's
};

struct NamedCount {
  std::string name;  // a state, status or type
  int64_t count = 0;
};

struct JobQueueStats {
  int64_t due = 0;      // pending jobs whose run_after has passed
  int64_t waiting = 0;  // pending jobs not yet due
  int64_t running = 0;
  std::optional<TimePoint> oldest_due;  // the smallest run_after among due jobs
};

// GET /v1/counts (issue #17): the console dashboard's numbers, for one account or every account,
// each dimension one GROUP BY query.
struct DashboardQuery {
  std::optional<std::string> account_id;  // nullopt: every account
  TimePoint now;                          // a current version ending before it has "expired"
  TimePoint weeks_start;                  // start of the first expiry week
  int weeks = 13;                         // expiry weeks counted from weeks_start
  TimePoint agents_seen_since;            // active agents seen at or after it are online
};

struct DashboardCounts {
  // Every certificate, by (status, issuer): the sums give the total and both breakdowns.
  struct StatusIssuer {
    std::string status;
    std::string issuer;
    int64_t count = 0;
  };
  std::vector<StatusIssuer> certificates;
  // Certificates not revoked, by their current version's notAfter: "expired" (before now),
  // "lt_7d", "lt_30d", "lt_90d" (days from now), "later". Certificates without a version are
  // not counted.
  std::vector<NamedCount> by_expiry;
  // The same certificates whose current version ends in week `week` (0-based, 7-day weeks from
  // weeks_start), by issuer; weeks with no certificate are absent.
  struct WeekIssuer {
    int week = 0;
    std::string issuer;
    int64_t count = 0;
  };
  std::vector<WeekIssuer> expiry_weeks;
  int64_t agents = 0;                            // agents not revoked
  int64_t agents_online = 0;                     // active agents seen since agents_seen_since
  std::vector<NamedCount> deployments_by_state;  // deployments owned by the account(s)
  int64_t renewals_failing = 0;  // certificates whose renewal has failed at least once since
                                 // their current version (renewal_states.failures > 0)
};

class StatsRepo {
 public:
  virtual ~StatsRepo() = default;
  // Issued certificates with their current version, ids > after_id, ordered by id, at most
  // `limit`; when `not_after_before` is set, only those whose current version ends before it.
  virtual Result<std::vector<CertificateExpiry>> ListCertificateExpiry(
      std::optional<TimePoint> not_after_before, const std::string& after_id, size_t limit) = 0;
  // Certificates by status ("issued", "pending", ...).
  virtual Result<std::vector<NamedCount>> CountCertificatesByStatus() = 0;
  virtual Result<std::vector<NamedCount>> CountDeploymentsByState() = 0;
  virtual Result<std::vector<NamedCount>> CountTargetsByState() = 0;
  virtual Result<std::vector<NamedCount>> CountDeliveriesByStatus() = 0;
  // Outbox events by type (renewals, renewal failures, ... since the store was created).
  virtual Result<std::vector<NamedCount>> CountEventsByType() = 0;
  // Sum over webhook deliveries of their failed attempts (attempts that did not deliver).
  virtual Result<int64_t> CountFailedDeliveryAttempts() = 0;
  virtual Result<JobQueueStats> JobQueue(TimePoint now) = 0;
  // Active agents last seen at or after `since`.
  virtual Result<int64_t> CountAgentsSeenSince(TimePoint since) = 0;
  virtual Result<int64_t> CountAgents() = 0;
  // The dashboard's counts (see DashboardCounts), read in this transaction.
  virtual Result<DashboardCounts> CountDashboard(const DashboardQuery& q) = 0;
};

// The unit of work.
class Tx {
 public:
  virtual ~Tx() = default;
  virtual Status Commit() = 0;

  virtual AccountRepo& accounts() = 0;
  virtual PrincipalRepo& principals() = 0;
  virtual TokenRepo& tokens() = 0;
  virtual CertificateRepo& certificates() = 0;
  virtual VersionRepo& versions() = 0;
  virtual BlobRepo& blobs() = 0;
  virtual SecretRepo& secrets() = 0;
  virtual ExportRepo& exports() = 0;
  virtual CaRepo& cas() = 0;
  virtual SerialRepo& serials() = 0;
  virtual SettingRepo& settings() = 0;
  virtual GrantRepo& grants() = 0;
  virtual PolicyRepo& policies() = 0;
  virtual AuditRepo& audit() = 0;
  virtual JobRepo& jobs() = 0;
  virtual AgentRepo& agents() = 0;
  virtual EnrollmentTokenRepo& enrollment_tokens() = 0;
  virtual DeploymentRepo& deployments() = 0;
  virtual DeploymentTargetRepo& deployment_targets() = 0;
  virtual EventRepo& events() = 0;
  virtual WebhookRepo& webhooks() = 0;
  virtual WebhookDeliveryRepo& webhook_deliveries() = 0;
  virtual RenewalRepo& renewals() = 0;
  virtual LeaseRepo& leases() = 0;
  virtual RevocationRepo& revocations() = 0;
  virtual NoticeRepo& notices() = 0;
  virtual AcmeConfigRepo& acme_configs() = 0;
  virtual AcmeOrderRepo& acme_orders() = 0;
  virtual AgentChallengeRepo& agent_challenges() = 0;
  virtual StatsRepo& stats() = 0;
  virtual AgentCertificateRepo& agent_certificates() = 0;
  virtual DomainClaimRepo& domain_claims() = 0;
  virtual Http01TokenRepo& http01_tokens() = 0;
  virtual AcmeServerRepo& acme_server() = 0;
};

// A named lock that at most one replica holds at a time (issue #15): the renewal scheduler, the
// expiry watchers and the event dispatcher run where it is held. PostgreSQL: a session-level
// advisory lock on a connection of its own, so a replica that dies (or loses its connection)
// loses it at once and another takes it at its next Hold().
class Leadership {
 public:
  virtual ~Leadership() = default;
  // True while this replica holds the lock, taking it if it is free. An error (the database is
  // unreachable) means not held.
  virtual Result<bool> Hold() = 0;
  // Gives the lock up (shutdown); harmless if not held.
  virtual void Release() = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // Cross-replica coordination. The defaults are those of a store used by one process (SQLite):
  // no leadership to share (null: whoever asks leads), and notifications stay in the process
  // (Publish does nothing; the publisher wakes its own listeners directly).
  //
  // A lock named `name`, shared by every replica of this store.
  virtual std::unique_ptr<Leadership> NewLeadership(const std::string& /*name*/) { return nullptr; }
  // Tells every replica subscribed to `channel` (this one included) about `payload`. Call it
  // after the commit of the change it announces. Best effort: a notification lost with a
  // connection is covered by the subscribers' periodic rechecks.
  virtual void Publish(const std::string& /*channel*/, const std::string& /*payload*/) {}
  // Calls `fn` with every payload any replica publishes on `channel`, on a thread of the store's,
  // until the store is destroyed. `fn` must be cheap and thread-safe.
  virtual Status Subscribe(const std::string& /*channel*/,
                           std::function<void(const std::string&)> /*fn*/) {
    return Ok();
  }
  // Unavailable (retryable) if no transaction could start within the backend's busy timeout.
  // Commit() returns OK only once the transaction is durable; concurrent transactions may
  // share one durable commit (SQLite: store/sqlite/writer.h).
  virtual Result<std::unique_ptr<Tx>> Begin() = 0;
  // A transaction for reading only: it sees committed data only, runs beside writers and
  // other readers, and every write through it fails. For lookups that change nothing
  // (authentication, authorization, GETs); anything that reads in order to write uses Begin().
  virtual Result<std::unique_ptr<Tx>> BeginRead() { return Begin(); }
  // The schema version after migrations (for /healthz and tests).
  virtual Result<int> SchemaVersion() = 0;
};

}  // namespace certfleet::store
