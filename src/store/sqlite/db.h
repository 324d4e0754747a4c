// Small RAII wrappers over the raw sqlite3 C API, private to the SQLite backend.
//
// Db owns one connection (sqlite3*) and a cache of prepared statements keyed by SQL text.
// Stmt borrows a prepared statement for one execution and resets it when destroyed. Neither is
// thread-safe: a connection is used by one thread at a time (the pool hands it out exclusively).
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

namespace certfleet::store::sqlite {

// Maps an SQLite result code (extended codes enabled) to an Error. `db` may be null.
Error SqliteError(sqlite3* db, int rc, std::string_view context);

class Stmt;

class Db {
 public:
  // Opens `path` with `flags` (SQLITE_OPEN_*). Extended result codes are always on.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, int flags);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* get() const { return db_; }
  // Runs one or more statements without parameters (pragmas, DDL, BEGIN/COMMIT).
  Status Exec(const char* sql, std::string_view context);
  // A statement for `sql`, from the cache when it is idle. `context` (the table name, a string
  // literal that outlives the Stmt) prefixes error messages. The SQL text must not contain
  // values: bind them.
  Result<Stmt> Prepare(std::string_view sql, std::string_view context);
  // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  int64_t Changes() const { return sqlite3_changes64(db_); }
  // True while a transaction is open on this connection.
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  // Persistent statements, finalized before the connection closes.
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// One execution of a prepared statement. Bind* record the first failure, reported by Step/Run,
// so that binding reads as a straight list. Parameter indexes start at 1.
class Stmt {
 public:
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  ~Stmt();

  Stmt& Bind(int i, std::string_view text);
  Stmt& Bind(int i, const char* text) { return Bind(i, std::string_view(text)); }
  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Stmt& Bind(int i, bool v) { return Bind(i, static_cast<int64_t>(v ? 1 : 0)); }
  Stmt& Bind(int i, const std::optional<int64_t>& v);
  Stmt& BindBlob(int i, std::string_view bytes);
  Stmt& BindNull(int i);

  // Advances one row: true when a row is available, false when done.
  Result<bool> Step();
  // Steps to completion, for statements that return no rows.
  Status Run();

  bool IsNull(int col) const;
  int64_t Int(int col) const;
  std::string Text(int col) const;
  std::string Blob(int col) const;
  std::optional<int64_t> OptInt(int col) const;

 private:
  friend class Db;
  Stmt(sqlite3_stmt* s, bool owned, std::string_view context)
      : stmt_(s), owned_(owned), context_(context) {}
  Stmt& Check(int i, int rc);

  sqlite3_stmt* stmt_;
  bool owned_;                // finalize (uncached) or reset (cached) on destruction
  std::string_view context_;  // callers pass string literals
  std::optional<Error> bind_error_;
};

// Reads every row of `s` with `read` (Result<T>(const Stmt&)).
template <typename T, typename F>
Result<std::vector<T>> CollectRows(Stmt& s, F read) {
  std::vector<T> out;
  while (true) {
    CF_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    CF_ASSIGN_OR_RETURN(T v, read(static_cast<const Stmt&>(s)));
    out.push_back(std::move(v));
  }
}

// Reads exactly one row; NotFound(`not_found`) when there is none.
template <typename T, typename F>
Result<T> SingleRow(Stmt& s, F read, std::string not_found) {
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFound(std::move(not_found));
  return read(static_cast<const Stmt&>(s));
}

}  // namespace certfleet::store::sqlite
