// Export records and settings.
#include "store/sql/codec.h"
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

Result<std::vector<model::ExportRecord>> SqlExports::List(const ExportFilter& f) {
  // As in certificates: only the filters in use appear, so each shape gets its index.
  std::string sql = "SELECT " + std::string(kExportCols) + " FROM exports WHERE 1 = 1";
  if (f.account_id) sql += " AND account_id = ?1";
  if (f.certificate_id) sql += " AND certificate_id = ?2";
  if (f.since) sql += " AND at >= ?3";
  sql += " ORDER BY at, id";
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(sql, "exports"));
  if (f.account_id) s.Bind(1, *f.account_id);
  if (f.certificate_id) s.Bind(2, *f.certificate_id);
  if (f.since) s.Bind(3, EncodeTime(*f.since));
  return CollectRows<model::ExportRecord>(s, ReadExport);
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
