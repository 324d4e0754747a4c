// Grants between accounts, per-account policy documents and audit records (migration 2).
#include "store/sql/codec.h"
#include "store/sql/list_sql.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

constexpr std::string_view kGrantCols =
    "id, from_account_id, to_account_id, created_by, created_at, revoked, revoked_at";

Result<model::Grant> ReadGrant(const Stmt& s) {
  return model::Grant{.id = s.Text(0),
                      .from_account_id = s.Text(1),
                      .to_account_id = s.Text(2),
                      .created_by = s.Text(3),
                      .created_at = DecodeTime(s.Int(4)),
                      .revoked = s.Int(5) != 0,
                      .revoked_at = DecodeTime(s.OptInt(6))};
}

constexpr std::string_view kPolicyCols = "account_id, toml, version, updated_by, updated_at";

Result<model::PolicyDocument> ReadPolicy(const Stmt& s) {
  return model::PolicyDocument{.account_id = s.Text(0),
                               .toml = s.Text(1),
                               .version = static_cast<int>(s.Int(2)),
                               .updated_by = s.Text(3),
                               .updated_at = DecodeTime(s.Int(4))};
}

constexpr std::string_view kAuditCols =
    "seq, id, at, account_id, principal_id, action, resource, outcome, status, source, detail, "
    "prev_hash, hash, scheme, prev_seq";

Result<model::AuditRecord> ReadAudit(const Stmt& s) {
  model::AuditRecord r;
  r.seq = s.Int(0);
  r.id = s.Text(1);
  r.at = DecodeTime(s.Int(2));
  r.account_id = s.Text(3);
  r.principal_id = s.Text(4);
  r.action = s.Text(5);
  r.resource = s.Text(6);
  CF_ASSIGN_OR_RETURN(r.outcome,
                      DecodeEnum(model::ParseAuditOutcome(s.Text(7)), "audit_records.outcome"));
  r.status = static_cast<int>(s.Int(8));
  r.source = s.Text(9);
  r.detail = s.Text(10);
  r.prev_hash = s.Text(11);
  r.hash = s.Text(12);
  r.scheme = s.Text(13);
  r.prev_seq = s.Int(14);
  return r;
}

std::string Select(std::string_view cols, std::string_view rest) {
  return "SELECT " + std::string(cols) + " " + std::string(rest);
}

}  // namespace

// ---- grants

Status SqlGrants::Insert(const model::Grant& g) {
  // A second active grant for the same pair violates the partial unique index
  // grants_active_pair (migration 2) and comes back as Conflict; unknown accounts violate the
  // foreign keys and come back as FailedPrecondition.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO grants (" + std::string(kGrantCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                         "grants"));
  return s.Bind(1, g.id)
      .Bind(2, g.from_account_id)
      .Bind(3, g.to_account_id)
      .Bind(4, g.created_by)
      .Bind(5, EncodeTime(g.created_at))
      .Bind(6, g.revoked)
      .Bind(7, EncodeTime(g.revoked_at))
      .Run();
}

Result<model::Grant> SqlGrants::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kGrantCols, "FROM grants WHERE id = ?1"), "grants"));
  s.Bind(1, id);
  return SingleRow<model::Grant>(s, ReadGrant, "grant " + id + " not found");
}

Result<std::vector<model::Grant>> SqlGrants::ListByAccount(const std::string& account_id) {
  // The OR over two indexed columns runs as a union of grants_by_from and grants_by_to.
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare(Select(kGrantCols,
                                "FROM grants WHERE from_account_id = ?1 OR to_account_id = ?1 "
                                "ORDER BY id"),
                         "grants"));
  s.Bind(1, account_id);
  return CollectRows<model::Grant>(s, ReadGrant);
}

Result<std::vector<model::Grant>> SqlGrants::ListActive(const std::string& from_account_id,
                                                        const std::string& to_account_id) {
  // "revoked = 0" matches the partial index's WHERE, so SQLite may use grants_active_pair.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kGrantCols,
                                                "FROM grants WHERE from_account_id = ?1 "
                                                "AND to_account_id = ?2 AND revoked = 0 "
                                                "ORDER BY id"),
                                         "grants"));
  s.Bind(1, from_account_id).Bind(2, to_account_id);
  return CollectRows<model::Grant>(s, ReadGrant);
}

Status SqlGrants::Revoke(const std::string& id, TimePoint at) {
  // One statement, so that the row is matched (Changes() counts matched rows) whether or not
  // it was revoked already, while a repeated revoke keeps the first revoked_at.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE grants SET revoked = 1, revoked_at = "
                                         "CASE WHEN revoked = 0 THEN ?2 ELSE revoked_at END "
                                         "WHERE id = ?1",
                                         "grants"));
  CF_TRY(s.Bind(1, id).Bind(2, EncodeTime(at)).Run());
  if (s_.db().Changes() == 0) return NotFound("grant " + id + " not found");
  return Ok();
}

// ---- policies

Result<model::PolicyDocument> SqlPolicies::Get(const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare(Select(kPolicyCols, "FROM policies WHERE account_id = ?1"), "policies"));
  s.Bind(1, account_id);
  return SingleRow<model::PolicyDocument>(s, ReadPolicy,
                                          "policy of account " + account_id + " not found");
}

Status SqlPolicies::Put(const model::PolicyDocument& doc) {
  // An upsert rather than DELETE + INSERT: one statement, and the row keeps its identity.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO policies (" + std::string(kPolicyCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5) "
                                             "ON CONFLICT (account_id) DO UPDATE SET "
                                             "toml = excluded.toml, version = excluded.version, "
                                             "updated_by = excluded.updated_by, "
                                             "updated_at = excluded.updated_at",
                                         "policies"));
  return s.Bind(1, doc.account_id)
      .Bind(2, doc.toml)
      .Bind(3, doc.version)
      .Bind(4, doc.updated_by)
      .Bind(5, EncodeTime(doc.updated_at))
      .Run();
}

// ---- audit records

Status SqlAudit::Insert(const model::AuditRecord& r) {
  // seq is bound explicitly (never NULL), so SQLite does not pick a rowid: a taken seq is a
  // primary-key violation, i.e. Conflict, as is a taken id.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO audit_records (" + std::string(kAuditCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                             "?11, ?12, ?13, ?14, ?15)",
                                         "audit_records"));
  return s.Bind(1, r.seq)
      .Bind(2, r.id)
      .Bind(3, EncodeTime(r.at))
      .Bind(4, r.account_id)
      .Bind(5, r.principal_id)
      .Bind(6, r.action)
      .Bind(7, r.resource)
      .Bind(8, model::AuditOutcomeName(r.outcome))
      .Bind(9, r.status)
      .Bind(10, r.source)
      .Bind(11, r.detail)
      .Bind(12, r.prev_hash)
      .Bind(13, r.hash)
      .Bind(14, r.scheme)
      .Bind(15, r.prev_seq)
      .Run();
}

Result<std::vector<model::AuditRecord>> SqlAudit::List(const AuditFilter& f) {
  // seq is the rowid (SQLite) or leads each index (PostgreSQL), so an equality filter on an
  // indexed column delivers rows in seq order and a page reads about `limit` rows.
  ListSql q(s_.dialect());
  q.And("seq > " + q.Param(f.after_seq));
  if (f.account_id) q.And("account_id = " + q.Param(*f.account_id));
  if (f.principal_id) q.And("principal_id = " + q.Param(*f.principal_id));
  if (f.resource) q.And("resource = " + q.Param(*f.resource));
  if (f.resource_type) {
    // Ids are "<type>_...": a range on the resource index ('`' follows '_' in ASCII).
    q.And("resource >= " + q.Param(*f.resource_type + "_") + " AND resource < " +
          q.Param(*f.resource_type + "`"));
  }
  if (f.action) q.And("action = " + q.Param(*f.action));
  if (f.outcome) q.And("outcome = " + q.Param(std::string(model::AuditOutcomeName(*f.outcome))));
  if (f.since) q.And("at >= " + q.Param(EncodeTime(*f.since)));
  if (f.until) q.And("at < " + q.Param(EncodeTime(*f.until)));
  const std::string sql = Select(kAuditCols, "FROM audit_records") + q.Where() +
                          " ORDER BY seq LIMIT " + q.Param(EncodeLimit(f.limit));
  CF_ASSIGN_OR_RETURN(auto s, q.Prepare(s_, sql, "audit_records"));
  return CollectRows<model::AuditRecord>(s, ReadAudit);
}

}  // namespace certfleet::store::sql
