// One libpq connection, private to the PostgreSQL backend, as the shared row mappers see it
// (store/sql/stmt.h).
//
// Statements: the mappers' `?N` parameters become `$N`; each distinct (SQL, parameter types) is
// prepared once per connection (a named server-side statement) and then only executed. Every
// parameter is sent in binary with an explicit type (text, int8 or bytea), so a text value with
// a NUL byte is refused by the server instead of being cut short, and a parameter the SQL does
// not use is harmless. Results come back as text; bytea is decoded from its hex form.
//
// Failure atomicity: PostgreSQL aborts the whole transaction when one statement fails, while the
// store's contract (store.h) is that a failed repository call changes nothing and leaves the Tx
// usable. In a writing transaction every statement that is not a SELECT therefore runs inside its
// own savepoint, rolled back on failure.
//
// Errors (PgError), by SQLSTATE: unique violation -> Conflict naming the constraint, foreign key
// -> FailedPrecondition, raise_exception (our triggers) -> FailedPrecondition, check/not-null/data
// exceptions (such as invalid UTF-8) -> InvalidArgument, connection loss, shutdown, lock and
// statement timeouts, serialization failures and deadlocks -> Unavailable (retryable), anything
// else -> Internal. Messages carry the caller's context and the server's primary message (which
// names constraints, never the DETAIL line that quotes values).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "store/sql/stmt.h"

namespace certfleet::store::postgres {

// Maps a failed result (may be null) on `conn` to an Error.
Error PgError(PGconn* conn, const PGresult* result, std::string_view context);

// Rewrites SQLite-style numbered parameters (`?1`) to PostgreSQL's (`$1`), outside quoted text.
std::string RewriteParameters(std::string_view sql);

struct ConnectOptions {
  std::string conninfo;  // a postgres:// URL or key=value string, with no password in it
  std::string password;  // from a password file; empty to let libpq use PGPASSFILE/.pgpass
  std::string schema;    // set as the search_path
  int lock_timeout_ms = 5000;
};

class PgConn final : public sql::Conn {
 public:
  static Result<std::unique_ptr<PgConn>> Open(const ConnectOptions& o);
  ~PgConn() override;
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  PGconn* get() const { return conn_; }
  sql::Dialect dialect() const override { return sql::Dialect::kPostgres; }
  Result<sql::Stmt> Prepare(std::string_view sql, std::string_view context) override;
  Status Exec(const char* sql, std::string_view context) override;
  int64_t Changes() const override { return changes_; }

  // True once the connection is lost (it must not go back to the pool).
  bool Broken() const { return PQstatus(conn_) != CONNECTION_OK; }
  // Whether statements other than SELECT get a savepoint each (set for writing transactions).
  void set_statement_savepoints(bool on) { statement_savepoints_ = on; }

 private:
  friend class PgStmt;
  explicit PgConn(PGconn* c) : conn_(c) {}
  // The name of the server-side statement for (sql, types), preparing it on first use.
  Result<std::string> Prepared(const std::string& sql, const std::vector<Oid>& types,
                               std::string_view context);

  PGconn* conn_;
  int64_t changes_ = 0;
  bool statement_savepoints_ = false;
  std::unordered_map<std::string, std::string> prepared_;  // key: types + SQL
};

}  // namespace certfleet::store::postgres
