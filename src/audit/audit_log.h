// The audit trail (issue #3): who did what to which resource, when, from where, with what
// outcome. Records are hash-chained: record n stores hash(n-1) and
//   hash(n) = SHA-256(hash(n-1) || canonical encoding of record n's fields),
// and the newest (seq, hash) is kept as the chain head in the settings table, so a changed,
// removed (including the last), inserted or reordered record is detected by Verify().
//
// Append() works inside the caller's transaction, so the record commits or rolls back with the
// state change it describes. Writers are serialized by the store (SQLite: BEGIN IMMEDIATE; the
// PostgreSQL backend must lock the head row). Records never contain secret values: callers pass
// ids, names and reasons only. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
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
  int64_t checked = 0;
  std::optional<int64_t> first_bad_seq;  // the first record that fails, if any
  std::string reason;                    // why it fails
};

inline constexpr char kHeadSetting[] = "audit.head";

// The canonical, unambiguous byte encoding of the hashed fields (length-prefixed).
std::string CanonicalBytes(const model::AuditRecord& r);
std::string ChainHash(const std::string& prev_hash_hex, const model::AuditRecord& r);

class AuditLog {
 public:
  AuditLog(store::Store& store, const Clock& clock, Random& random)
      : store_(store), clock_(clock), random_(random) {}

  // Appends within `tx`; the caller commits.
  Result<model::AuditRecord> Append(store::Tx& tx, const AuditEntry& entry);
  // Appends in a transaction of its own (for denials and failures, where the caller's own
  // transaction, if any, rolls back).
  Status Record(const AuditEntry& entry);
  // Walks the whole chain in pages.
  Result<VerifyReport> Verify();

 private:
  store::Store& store_;
  const Clock& clock_;
  Random& random_;
};

}  // namespace certfleet::audit
