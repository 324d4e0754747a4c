// Renewal states, leases and revocations (issue #5, migration 6).
#include "store/sql/codec.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

// One query in both dialects: PostgreSQL takes SQLite's CROSS JOIN planner hints as plain JOINs
// (it has no such hint, and its CROSS JOIN takes no ON clause).
struct DialectSql {
  std::string sqlite;
  std::string postgres;
};

DialectSql WithPlainJoins(std::string sqlite_sql) {
  std::string pg = sqlite_sql;
  for (size_t at = pg.find("CROSS JOIN"); at != std::string::npos; at = pg.find("CROSS JOIN", at)) {
    pg.replace(at, 10, "JOIN");
  }
  return DialectSql{std::move(sqlite_sql), std::move(pg)};
}

constexpr char kRenewalColumns[] =
    "r.certificate_id, r.version_id, r.next_attempt_at, r.failures, r.last_error, r.job_id, "
    "r.updated_at";

Result<model::RenewalState> ReadRenewal(const Stmt& s) {
  model::RenewalState r;
  r.certificate_id = s.Text(0);
  r.version_id = s.Text(1);
  r.next_attempt_at = DecodeTime(s.Int(2));
  r.failures = static_cast<int>(s.Int(3));
  r.last_error = s.Text(4);
  r.job_id = s.Text(5);
  r.updated_at = DecodeTime(s.Int(6));
  return r;
}

constexpr char kRevocationColumns[] =
    "serial_hex, ca_id, certificate_id, version_id, reason, revoked_at";

Result<model::Revocation> ReadRevocation(const Stmt& s) {
  model::Revocation r;
  r.serial_hex = s.Text(0);
  r.ca_id = s.Text(1);
  r.certificate_id = s.Text(2);
  r.version_id = s.Text(3);
  r.reason = static_cast<int>(s.Int(4));
  r.revoked_at = DecodeTime(s.Int(5));
  return r;
}

}  // namespace

Result<model::RenewalState> SqlRenewals::Get(const std::string& certificate_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(std::string("SELECT ") + kRenewalColumns +
                                             " FROM renewal_states r WHERE r.certificate_id = ?1",
                                         "renewal_states"));
  s.Bind(1, certificate_id);
  return SingleRow<model::RenewalState>(s, ReadRenewal,
                                        "renewal state of " + certificate_id + " not found");
}

Status SqlRenewals::Put(const model::RenewalState& r) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("INSERT INTO renewal_states (certificate_id, version_id, next_attempt_at, "
                         "failures, last_error, job_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, "
                         "?6, ?7) ON CONFLICT (certificate_id) DO UPDATE SET "
                         "version_id = excluded.version_id, "
                         "next_attempt_at = excluded.next_attempt_at, "
                         "failures = excluded.failures, last_error = excluded.last_error, "
                         "job_id = excluded.job_id, updated_at = excluded.updated_at",
                         "renewal_states"));
  return s.Bind(1, r.certificate_id)
      .Bind(2, r.version_id)
      .Bind(3, EncodeTime(r.next_attempt_at))
      .Bind(4, r.failures)
      .Bind(5, r.last_error)
      .Bind(6, r.job_id)
      .Bind(7, EncodeTime(r.updated_at))
      .Run();
}

// Driven by renewal_unplanned (migration kMigrationRenewalDue), which triggers keep equal to
// the set of certificates needing a plan: a range on its primary key, then point reads of the
// certificate and its current version. The conditions are checked again here so that the
// answer follows the contract even if the set held a stray row. In SQLite, CROSS JOIN fixes the
// loop order (renewal_unplanned outermost), so no other index can be picked to drive the query;
// PostgreSQL has no such hint (nor needs it) and takes a plain JOIN.
const std::string& RenewalUnplannedSql(Dialect d) {
  static const auto* const kSql = new DialectSql(WithPlainJoins(
      "SELECT c.id, c.current_version_id, c.account_id, v.version, v.not_before, "
      "v.not_after, v.created_at, c.renew_before_seconds "
      "FROM renewal_unplanned u CROSS JOIN certificates c ON c.id = u.certificate_id "
      "CROSS JOIN certificate_versions v ON v.id = c.current_version_id "
      "WHERE u.certificate_id > ?1 AND c.status = 'issued' "
      "AND NOT EXISTS (SELECT 1 FROM renewal_states r WHERE r.certificate_id = c.id "
      "AND r.version_id = c.current_version_id) "
      "ORDER BY u.certificate_id LIMIT ?2"));
  return d == Dialect::kSqlite ? kSql->sqlite : kSql->postgres;
}

// CROSS JOIN keeps renewal_states the outer loop, so the range on renewal_states_due drives the
// query and no sort is needed (SQLite's planner otherwise scans certificates_by_status).
const std::string& RenewalDueSql(Dialect d) {
  static const auto* const kSql = new DialectSql(
      WithPlainJoins("SELECT r.certificate_id, r.version_id, r.next_attempt_at, r.failures, "
                     "r.last_error, r.job_id, r.updated_at "
                     "FROM renewal_states r CROSS JOIN certificates c ON c.id = r.certificate_id "
                     "WHERE r.next_attempt_at <= ?1 AND c.status = 'issued' AND "
                     "c.current_version_id = r.version_id "
                     "ORDER BY r.next_attempt_at, r.certificate_id LIMIT ?2"));
  return d == Dialect::kSqlite ? kSql->sqlite : kSql->postgres;
}

Result<std::vector<RenewalCandidate>> SqlRenewals::ListUnplanned(const std::string& after_id,
                                                                 size_t limit) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(RenewalUnplannedSql(s_.dialect()), "renewal_states"));
  s.Bind(1, after_id).Bind(2, EncodeLimit(limit));
  return CollectRows<RenewalCandidate>(s, [](const Stmt& row) -> Result<RenewalCandidate> {
    return RenewalCandidate{.certificate_id = row.Text(0),
                            .version_id = row.Text(1),
                            .account_id = row.Text(2),
                            .version = static_cast<int>(row.Int(3)),
                            .not_before = DecodeTime(row.Int(4)),
                            .not_after = DecodeTime(row.Int(5)),
                            .created_at = DecodeTime(row.Int(6)),
                            .renew_before_seconds = row.OptInt(7)};
  });
}

Result<std::vector<model::RenewalState>> SqlRenewals::ListDue(TimePoint now, size_t limit) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(RenewalDueSql(s_.dialect()), "renewal_states"));
  s.Bind(1, EncodeTime(now)).Bind(2, EncodeLimit(limit));
  return CollectRows<model::RenewalState>(s, ReadRenewal);
}

Result<int64_t> SqlRenewals::CountUnplanned() {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("SELECT COUNT(*) FROM renewal_unplanned", "renewal_unplanned"));
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Internal("renewal_unplanned: no count");
  return s.Int(0);
}

Result<std::optional<model::Lease>> SqlLeases::Get(const std::string& name) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("SELECT name, owner, expires_at FROM leases WHERE name = ?1", "leases"));
  s.Bind(1, name);
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<model::Lease>();
  return std::optional<model::Lease>(
      model::Lease{.name = s.Text(0), .owner = s.Text(1), .expires_at = DecodeTime(s.Int(2))});
}

Status SqlLeases::Put(const model::Lease& l) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("INSERT INTO leases (name, owner, expires_at) VALUES (?1, ?2, ?3) "
                                 "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, "
                                 "expires_at = excluded.expires_at",
                                 "leases"));
  return s.Bind(1, l.name).Bind(2, l.owner).Bind(3, EncodeTime(l.expires_at)).Run();
}

Status SqlLeases::Delete(const std::string& name, const std::string& owner) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("DELETE FROM leases WHERE name = ?1 AND owner = ?2", "leases"));
  return s.Bind(1, name).Bind(2, owner).Run();
}

Status SqlRevocations::Insert(const model::Revocation& r) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO revocations (serial_hex, ca_id, "
                                         "certificate_id, version_id, reason, revoked_at) "
                                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                         "revocations"));
  return s.Bind(1, r.serial_hex)
      .Bind(2, r.ca_id)
      .Bind(3, r.certificate_id)
      .Bind(4, r.version_id)
      .Bind(5, r.reason)
      .Bind(6, EncodeTime(r.revoked_at))
      .Run();
}

Result<std::vector<model::Revocation>> SqlRevocations::ListByCa(const std::string& ca_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(std::string("SELECT ") + kRevocationColumns +
                                             " FROM revocations WHERE ca_id = ?1 ORDER BY "
                                             "serial_hex",
                                         "revocations"));
  s.Bind(1, ca_id);
  return CollectRows<model::Revocation>(s, ReadRevocation);
}

Result<std::vector<model::Revocation>> SqlRevocations::ListByCertificate(
    const std::string& certificate_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(std::string("SELECT ") + kRevocationColumns +
                                             " FROM revocations WHERE certificate_id = ?1 "
                                             "ORDER BY serial_hex",
                                         "revocations"));
  s.Bind(1, certificate_id);
  return CollectRows<model::Revocation>(s, ReadRevocation);
}

}  // namespace certfleet::store::sql
