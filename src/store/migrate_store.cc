#include "store/migrate_store.h"

#include <sys/stat.h>

#include <map>
#include <set>
#include <utility>

#include "base/log.h"
#include "store/postgres/conn.h"
#include "store/postgres/replicas.h"
#include "store/sqlite/db.h"
#include "store/sqlite/sqlite_store.h"

namespace certfleet::store {
namespace {

using postgres::PgConn;

// Tables the copy leaves out: bookkeeping each backend keeps for itself, and the derived
// renewal_unplanned set (the destination's triggers rebuild it from certificates and states).
const std::set<std::string>& Skipped() {
  static const auto* const kSkipped =
      new std::set<std::string>{"schema_migrations", "sqlite_sequence", "renewal_unplanned"};
  return *kSkipped;
}

struct Column {
  std::string name;
  std::string pg_type;  // "bigint", "text" or "bytea"
};

// The source's tables in creation order, which is an order that respects foreign keys (a table
// is created after the tables it references).
Result<std::vector<std::string>> SourceTables(sqlite::Db& db) {
  CF_ASSIGN_OR_RETURN(auto s, db.Prepare("SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "ORDER BY rowid",
                                         "sqlite_master"));
  std::vector<std::string> out;
  while (true) {
    CF_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    std::string name = s.Text(0);
    if (Skipped().count(name) == 0 && name.rfind("sqlite_", 0) != 0) out.push_back(name);
  }
  return out;
}

Result<std::vector<std::string>> SourceColumns(sqlite::Db& db, const std::string& table) {
  // Table names come from sqlite_master and are checked against the destination's below; they
  // are plain identifiers, never user input.
  const std::string sql = "SELECT name FROM pragma_table_info('" + table + "') ORDER BY cid";
  CF_ASSIGN_OR_RETURN(auto s, db.Prepare(sql, "sqlite_master"));
  std::vector<std::string> out;
  while (true) {
    CF_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(s.Text(0));
  }
  return out;
}

Result<std::map<std::string, std::string>> DestinationColumns(PgConn& pg, const std::string& schema,
                                                              const std::string& table) {
  CF_ASSIGN_OR_RETURN(auto s, pg.Prepare("SELECT column_name, data_type FROM "
                                         "information_schema.columns WHERE table_schema = ?1 "
                                         "AND table_name = ?2",
                                         "information_schema"));
  s.Bind(1, schema).Bind(2, table);
  std::map<std::string, std::string> out;
  while (true) {
    CF_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out[s.Text(0)] = s.Text(1);
  }
  return out;
}

bool IsIdentifier(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

Result<int64_t> CountRows(sql::Conn& conn, const std::string& table) {
  CF_ASSIGN_OR_RETURN(auto s, conn.Prepare("SELECT COUNT(*) FROM " + table, "count"));
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Internal("count of " + table + " returned no row");
  return s.Int(0);
}

// Copies one table's rows; returns how many.
Result<int64_t> CopyTable(sqlite::Db& src, PgConn& dst, const std::string& table,
                          const std::vector<Column>& columns) {
  std::string names, params, select;
  for (size_t i = 0; i < columns.size(); ++i) {
    const std::string sep = i == 0 ? "" : ", ";
    names += sep + columns[i].name;
    params += sep + "?" + std::to_string(i + 1) + "::" + columns[i].pg_type;
  }
  CF_ASSIGN_OR_RETURN(
      auto read, src.Prepare("SELECT " + names + " FROM " + table + " ORDER BY rowid", "copy"));
  const std::string insert = "INSERT INTO " + table + " (" + names + ") VALUES (" + params + ")";
  int64_t n = 0;
  while (true) {
    CF_ASSIGN_OR_RETURN(bool row, read.Step());
    if (!row) break;
    CF_ASSIGN_OR_RETURN(auto w, dst.Prepare(insert, "copy"));
    for (size_t i = 0; i < columns.size(); ++i) {
      const int col = static_cast<int>(i);
      const int param = col + 1;
      if (read.IsNull(col)) {
        w.BindNull(param);
      } else if (columns[i].pg_type == "bigint") {
        w.Bind(param, read.Int(col));
      } else if (columns[i].pg_type == "bytea") {
        w.BindBlob(param, read.Blob(col));
      } else {
        w.Bind(param, read.Text(col));
      }
    }
    Status st = w.Run();
    if (!st.ok()) {
      return Error(st.error().code(), table + ": row " + std::to_string(n + 1) +
                                          " could not be copied: " + st.error().message());
    }
    ++n;
  }
  return n;
}

Result<MigrateReport> Copy(sqlite::Db& src, PgConn& dst, const std::string& schema) {
  CF_ASSIGN_OR_RETURN(std::vector<std::string> tables, SourceTables(src));
  // The destination's writer lock: no replica writes while the copy runs.
  const std::string lock = "SELECT pg_advisory_xact_lock(" +
                           std::to_string(postgres::AdvisoryKey("certfleet.writer:" + schema)) +
                           ")";
  CF_TRY(dst.Exec(lock.c_str(), "copy"));
  MigrateReport report;
  std::vector<std::pair<std::string, std::vector<Column>>> plan;
  std::vector<std::string> not_empty;
  for (const std::string& table : tables) {
    if (!IsIdentifier(table)) return FailedPrecondition("source table name " + table);
    CF_ASSIGN_OR_RETURN(auto src_cols, SourceColumns(src, table));
    CF_ASSIGN_OR_RETURN(auto dst_cols, DestinationColumns(dst, schema, table));
    if (dst_cols.empty()) {
      return FailedPrecondition("the destination has no table " + table +
                                " (is it from an older certfleetd?)");
    }
    if (dst_cols.size() != src_cols.size()) {
      return FailedPrecondition("table " + table + " has " + std::to_string(src_cols.size()) +
                                " columns in the source and " + std::to_string(dst_cols.size()) +
                                " in the destination");
    }
    std::vector<Column> columns;
    for (const std::string& c : src_cols) {
      auto it = dst_cols.find(c);
      if (it == dst_cols.end() || !IsIdentifier(c)) {
        return FailedPrecondition("column " + table + "." + c + " is not in the destination");
      }
      if (it->second != "bigint" && it->second != "text" && it->second != "bytea") {
        return FailedPrecondition("column " + table + "." + c + " has an unexpected type");
      }
      columns.push_back({c, it->second});
    }
    CF_ASSIGN_OR_RETURN(int64_t existing, CountRows(dst, table));
    if (existing > 0) not_empty.push_back(table);
    plan.emplace_back(table, std::move(columns));
  }
  if (!not_empty.empty()) {
    std::string list;
    for (const auto& t : not_empty) list += (list.empty() ? "" : ", ") + t;
    return FailedPrecondition("the destination already holds data (" + list +
                              "); migrate-store copies into an empty store only");
  }
  for (const auto& [table, columns] : plan) {
    CF_ASSIGN_OR_RETURN(int64_t n, CopyTable(src, dst, table, columns));
    CF_ASSIGN_OR_RETURN(int64_t source_rows, CountRows(src, table));
    CF_ASSIGN_OR_RETURN(int64_t copied, CountRows(dst, table));
    if (n != source_rows || copied != source_rows) {
      return Internal("table " + table + ": " + std::to_string(source_rows) + " rows in the " +
                      "source, " + std::to_string(copied) + " in the destination");
    }
    report.tables.push_back({table, n});
    report.total_rows += n;
    log::Info("table copied", {{"table", table}, {"rows", std::to_string(n)}});
  }
  // New events continue after the highest copied seq.
  CF_TRY(
      dst.Exec("SELECT setval(pg_get_serial_sequence('events', 'seq'), "
               "GREATEST((SELECT COALESCE(MAX(seq), 0) FROM events), 1), "
               "(SELECT COUNT(*) > 0 FROM events))",
               "copy"));
  return report;
}

}  // namespace

Result<MigrateReport> MigrateSqliteToPostgres(const std::string& sqlite_path,
                                              const PostgresOptions& to) {
  struct stat st {};
  if (::stat(sqlite_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return InvalidArgument("migrate-store: no SQLite database at " + sqlite_path);
  }
  // Both sides at their latest schema (the source is migrated as certfleetd would on start).
  { CF_ASSIGN_OR_RETURN(auto source, OpenSqliteStore({.path = sqlite_path})); }
  { CF_ASSIGN_OR_RETURN(auto dest, OpenPostgresStore(to)); }
  CF_ASSIGN_OR_RETURN(auto connect, postgres::ConnectOptionsFor(to));
  CF_ASSIGN_OR_RETURN(auto src, sqlite::Db::Open(sqlite_path, SQLITE_OPEN_READONLY));
  CF_ASSIGN_OR_RETURN(auto dst, PgConn::Open(connect));
  // One snapshot of the source; one transaction on the destination.
  CF_TRY(src->Exec("BEGIN", "copy"));
  CF_TRY(dst->Exec("BEGIN", "copy"));
  auto report = Copy(*src, *dst, to.schema);
  (void)src->Exec("COMMIT", "copy");
  if (!report.ok()) {
    (void)dst->Exec("ROLLBACK", "copy");
    return report;
  }
  CF_TRY(dst->Exec("COMMIT", "copy"));
  return report;
}

}  // namespace certfleet::store
