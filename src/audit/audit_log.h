// The audit trail (issues #3, #13): who did what to which resource, when, from where, with what
// outcome. Records never contain secret values: callers pass ids, names and reasons only.
//
// Chains. Every record has a global, gap-free `seq` (listing order, cursors) and belongs to one
// chain: the chain of its account, or the system chain for records with no account (failed
// authentication). Since issue #13 a record is keyed:
//   hash(n) = HMAC-SHA256(audit key, hash(prev) || KeyedCanonicalBytes(n))     scheme "hmac-sha256"
// where prev is the previous record OF THE SAME CHAIN (`prev_seq`, 64 zeros for the first). The
// newest (seq, hash) of each chain is kept in the settings table ("audit.head:<account>" or
// "audit.head:system"), the newest seq in "audit.seq". So a tenant's verification reads only its
// own records, and a changed, removed (including the last), inserted, reordered or re-homed record
// is detected. The audit key is 256 random bits generated at first start, stored as a sealed blob
// (secrets::LoadOrCreateAuditKey), so it is re-wrapped with every other blob when the KEK rotates
// (secrets::RewrapAll); without the KEK nobody can compute a hash that verifies.
//
// Older records. Records written before keying use the unkeyed global chain of issue #3
// (hash = SHA-256(prev_hash || CanonicalBytes), scheme "sha256", head in "audit.head") and still
// verify as before. The seq at which keying began is written once, when the key is first used
// (Start), as "audit.keyed_from" = "<seq>:<HMAC of it>". A record at or after that seq that claims
// the unkeyed scheme, an unkeyed record after it, or a missing or altered marker while the key
// exists, is reported as tampering. (Limit: someone who deletes the key blob AND the marker AND
// rewrites every keyed record as unkeyed makes the database look like one never keyed; certfleetd
// then keys it afresh. Detecting that needs a record outside the database.)
//
// In the transaction of the change. Append() works inside the caller's transaction, so the record
// commits or rolls back with the state change it describes. The API opens a RequestScope per
// request (the entry template: principal, account, action, resource, source) and hands it to
// lifecycle services through lifecycle::Caller::audit; a service that changes state or releases
// a secret calls AppendInTx(caller.audit, tx, note) before it commits. After the handler returns
// the API writes a record itself, in a transaction of its own, only when none was written in the
// request's transaction (denials, failures, reads, and routes whose service does not append yet),
// so no route can end up unaudited; docs/design/2026-12-07-audit-in-transaction.md.
//
// Writers are serialized by the store (SQLite: BEGIN IMMEDIATE; a PostgreSQL backend must lock
// the "audit.seq" row). Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "model/model.h"
#include "store/store.h"

namespace certfleet::audit {

struct AuditEntry {
  std::string account_id;
  std::string principal_id;
  std::string action;
  std::string resource;
  model::AuditOutcome outcome = model::AuditOutcome::kSuccess;
  int status = 0;
  std::string source;
  std::string detail;
};

struct VerifyReport {
  bool ok = true;
  int64_t checked = 0;                   // records checked (of the account, for VerifyAccount)
  std::optional<int64_t> first_bad_seq;  // the first record that fails, if any
  std::string reason;                    // why it fails
};

inline constexpr char kSchemeUnkeyed[] = "sha256";
inline constexpr char kSchemeKeyed[] = "hmac-sha256";
inline constexpr char kHeadSetting[] = "audit.head";  // the unkeyed chain's head, "seq:hash"
inline constexpr char kSeqSetting[] = "audit.seq";    // the newest seq
inline constexpr char kKeyedFromSetting[] = "audit.keyed_from";
inline constexpr char kChainHeadPrefix[] = "audit.head:";  // + account id, or "system"

// The unkeyed scheme (records before keying): canonical, length-prefixed encoding and hash.
std::string CanonicalBytes(const model::AuditRecord& r);
std::string ChainHash(const std::string& prev_hash_hex, const model::AuditRecord& r);
// The keyed scheme: the encoding adds the scheme and prev_seq; the hash is an HMAC.
std::string KeyedCanonicalBytes(const model::AuditRecord& r);
std::string KeyedChainHash(const SecretBytes& key, const std::string& prev_hash_hex,
                           const model::AuditRecord& r);

class AuditLog {
 public:
  // `key`: the audit key (32 bytes), opened by the composition root.
  AuditLog(store::Store& store, const Clock& clock, Random& random, SecretBytes key)
      : store_(store), clock_(clock), random_(random), key_(std::move(key)) {}

  // Writes the keying marker if there is none yet (first start with a key): records from the
  // next seq on are keyed. Call once at start-up, in the transaction that created the key.
  Status Start(store::Tx& tx);
  Status Start();

  // Appends within `tx`; the caller commits.
  Result<model::AuditRecord> Append(store::Tx& tx, const AuditEntry& entry);
  // Appends in a transaction of its own (for denials and failures, where the caller's own
  // transaction, if any, rolls back).
  Status Record(const AuditEntry& entry);
  // Every chain (the system auditor's view): walks all records in pages.
  Result<VerifyReport> Verify();
  // One account's chain ("" = the system chain) and its records in the unkeyed range. A broken
  // record of another account is reported without naming it.
  Result<VerifyReport> VerifyAccount(const std::string& account_id);

 private:
  struct Marker {
    bool present = false;
    bool valid = false;
    int64_t keyed_from = 0;
  };
  Result<Marker> ReadMarker(store::Tx& tx) const;
  std::string MarkerMac(int64_t seq) const;
  // Fills `report` on a broken record; a moved unkeyed head goes to `deferred_head_failure`.
  Status VerifyUnkeyed(store::Tx& tx, int64_t keyed_from, const std::string* only_account,
                       VerifyReport& report, std::string& deferred_head_failure);

  store::Store& store_;
  const Clock& clock_;
  Random& random_;
  const SecretBytes key_;
};

// Set on a record appended in a request's transaction; unset fields come from the template.
struct ScopeNote {
  std::optional<std::string> account_id;
  std::optional<std::string> resource;
  model::AuditOutcome outcome = model::AuditOutcome::kSuccess;
  int status = 200;  // the HTTP status the request will answer with
  std::string detail;
};

// One API request's audit scope: created by the API before the handler runs, reached by lifecycle
// services through lifecycle::Caller::audit. Used by the request's thread only.
class RequestScope {
 public:
  RequestScope(AuditLog& log, AuditEntry entry_template)
      : log_(log), template_(std::move(entry_template)) {}

  Result<model::AuditRecord> Append(store::Tx& tx, const ScopeNote& note);
  // Records appended in a transaction (committed or not: the API checks).
  const std::vector<model::AuditRecord>& appended() const { return appended_; }
  const AuditEntry& entry_template() const { return template_; }

 private:
  AuditLog& log_;
  AuditEntry template_;
  std::vector<model::AuditRecord> appended_;
};

// Appends the request's record inside `tx` when the call comes from an API request (`scope` set);
// does nothing for work the platform schedules itself (no scope: jobs audit differently).
Status AppendInTx(RequestScope* scope, store::Tx& tx, const ScopeNote& note);

}  // namespace certfleet::audit
