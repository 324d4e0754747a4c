// Export records and settings.
#include "store/sql/codec.h"
#include "store/sql/list_sql.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

constexpr std::string_view kExportCols =
    "id, account_id, certificate_id, version_id, principal_id, allowed, reason, fqdn_count, "
    "wildcard_count, secret_id, at";

Result<model::ExportRecord> ReadExport(const Stmt& s) {
  return model::ExportRecord{.id = s.Text(0),
                             .account_id = s.Text(1),
                             .certificate_id = s.Text(2),
                             .version_id = s.Text(3),
                             .principal_id = s.Text(4),
                             .allowed = s.Int(5) != 0,
                             .reason = s.Text(6),
                             .fqdn_count = static_cast<int>(s.Int(7)),
                             .wildcard_count = static_cast<int>(s.Int(8)),
                             .secret_id = s.Text(9),
                             .at = DecodeTime(s.Int(10))};
}

}  // namespace

// ---- exports

Status SqlExports::Insert(const model::ExportRecord& e) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO exports (" + std::string(kExportCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                             "?11)",
                                         "exports"));
  return s.Bind(1, e.id)
      .Bind(2, e.account_id)
      .Bind(3, e.certificate_id)
      .Bind(4, e.version_id)
      .Bind(5, e.principal_id)
      .Bind(6, e.allowed)
      .Bind(7, e.reason)
      .Bind(8, e.fqdn_count)
      .Bind(9, e.wildcard_count)
      .Bind(10, e.secret_id)
      .Bind(11, EncodeTime(e.at))
      .Run();
}

namespace {

// The conditions of ExportFilter other than pagination.
void ExportConditions(ListSql& q, const ExportFilter& f) {
  if (f.account_id) q.And("account_id = " + q.Param(*f.account_id));
  if (f.certificate_id) q.And("certificate_id = " + q.Param(*f.certificate_id));
  if (f.principal_id) q.And("principal_id = " + q.Param(*f.principal_id));
  if (f.since) q.And("at >= " + q.Param(EncodeTime(*f.since)));
  if (f.until) q.And("at < " + q.Param(EncodeTime(*f.until)));
}

}  // namespace

Result<std::vector<model::ExportRecord>> SqlExports::List(const ExportFilter& f) {
  ListSql q(s_.dialect());
  q.After("at", "id", f.after_key, f.after_id);
  ExportConditions(q, f);
  const std::string sql = "SELECT " + std::string(kExportCols) + " FROM exports" + q.Where() +
                          " ORDER BY at, id LIMIT " + q.Param(EncodeLimit(f.limit));
  CF_ASSIGN_OR_RETURN(auto s, q.Prepare(s_, sql, "exports"));
  return CollectRows<model::ExportRecord>(s, ReadExport);
}

Result<std::vector<ExportSummary>> SqlExports::Summarize(const ExportFilter& f) {
  ListSql q(s_.dialect());
  q.After("", "certificate_id", 0, f.after_id);
  q.And("allowed = " + q.Param(int64_t{1}));
  ExportConditions(q, f);
  // account_id is the certificate's, so it is one per group; MIN() names it in both dialects.
  const std::string sql =
      "SELECT MIN(account_id), certificate_id, COUNT(*), SUM(fqdn_count), SUM(wildcard_count) "
      "FROM exports" +
      q.Where() + " GROUP BY certificate_id ORDER BY certificate_id LIMIT " +
      q.Param(EncodeLimit(f.limit));
  CF_ASSIGN_OR_RETURN(auto s, q.Prepare(s_, sql, "exports"));
  return CollectRows<ExportSummary>(s, [](const Stmt& r) -> Result<ExportSummary> {
    return ExportSummary{.account_id = r.Text(0),
                         .certificate_id = r.Text(1),
                         .exports = r.Int(2),
                         .fqdns = r.Int(3),
                         .wildcards = r.Int(4)};
  });
}

// ---- settings

Result<std::optional<std::string>> SqlSettings::Get(const std::string& key) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT value FROM settings WHERE key = ?1", "settings"));
  s.Bind(1, key);
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(s.Text(0));
}

Status SqlSettings::Put(const std::string& key, const std::string& value) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO settings (key, value) VALUES (?1, ?2) "
                                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                                         "settings"));
  return s.Bind(1, key).Bind(2, value).Run();
}

}  // namespace certfleet::store::sql
