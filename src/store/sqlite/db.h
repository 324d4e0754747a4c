// Small RAII wrappers over the raw sqlite3 C API, private to the SQLite backend.
//
// Db owns one connection (sqlite3*) and a cache of prepared statements keyed by SQL text; its
// statements (sql::Stmt over a private SqliteStmt) borrow a prepared statement for one
// execution and reset it when destroyed. Neither is thread-safe: a connection is used by one thread
// at a time (the pool hands it out exclusively).
//
// Errors from SQLite become certfleet Errors in one place (SqliteError): busy/locked ->
// Unavailable (retryable), unique/primary key -> Conflict naming table and columns, foreign key
// -> FailedPrecondition, other constraints -> InvalidArgument, I/O -> Unavailable, anything
// else -> Internal. Messages carry the caller's context and SQLite's text, which names tables
// and columns but never bound values.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "store/sql/stmt.h"

namespace certfleet::store::sqlite {

using sql::CollectRows;
using sql::SingleRow;
using sql::Stmt;

// Maps an SQLite result code (extended codes enabled) to an Error. `db` may be null.
Error SqliteError(sqlite3* db, int rc, std::string_view context);

class Db final : public sql::Conn {
 public:
  // Opens `path` with `flags` (SQLITE_OPEN_*). Extended result codes are always on.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, int flags);
  ~Db() override;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() const { return db_; }
  sql::Dialect dialect() const override { return sql::Dialect::kSqlite; }
  // Runs one or more statements without parameters (pragmas, DDL, BEGIN/COMMIT).
  Status Exec(const char* sql, std::string_view context) override;
  // A statement for `sql`, from the cache when it is idle. `context` (the table name, a string
  // literal that outlives the Stmt) prefixes error messages. The SQL text must not contain
  // values: bind them.
  Result<Stmt> Prepare(std::string_view sql, std::string_view context) override;
  // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  int64_t Changes() const override { return sqlite3_changes64(db_); }
  // True while a transaction is open on this connection.
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  // Persistent statements, finalized before the connection closes.
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace certfleet::store::sqlite
