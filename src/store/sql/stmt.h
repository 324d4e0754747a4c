// The small SQL surface that the row mappers (store/sql/rows_*.cc) are written against, so that
// one set of mappers serves every SQL backend (docs/architecture.md "Storage and scale"): SQLite
// (store/sqlite/db.h) and PostgreSQL (store/postgres/conn.h) each implement Conn and StmtImpl.
//
// The SQL the mappers write is the common subset of both dialects: numbered parameters `?N`
// (the PostgreSQL backend rewrites them to `$N`), INTEGER seconds for times, 0/1 for booleans,
// TEXT for JSON, ON CONFLICT ... DO UPDATE/NOTHING, RETURNING. Where the dialects really differ
// (row locking for job claims), a mapper asks Conn::dialect().
//
// Neither Conn nor Stmt is thread-safe: a connection belongs to one transaction at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace certfleet::store::sql {

enum class Dialect { kSqlite, kPostgres };

// One backend's prepared statement, for one execution. Parameter indexes start at 1, columns
// at 0. Bind* report a bad index or value; Step runs the statement on its first call.
class StmtImpl {
 public:
  virtual ~StmtImpl() = default;
  virtual Status BindText(int i, std::string_view text) = 0;
  virtual Status BindInt(int i, int64_t v) = 0;
  virtual Status BindBlob(int i, std::string_view bytes) = 0;
  virtual Status BindNull(int i) = 0;
  // Advances one row: true when a row is available, false when done.
  virtual Result<bool> Step() = 0;
  virtual bool IsNull(int col) const = 0;
  virtual int64_t Int(int col) const = 0;
  virtual std::string Text(int col) const = 0;
  virtual std::string Blob(int col) const = 0;
};

// One execution of a prepared statement. Bind* record the first failure, reported by Step/Run,
// so that binding reads as a straight list.
class Stmt {
 public:
  explicit Stmt(std::unique_ptr<StmtImpl> impl) : impl_(std::move(impl)) {}
  Stmt(Stmt&&) noexcept = default;
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;

  Stmt& Bind(int i, std::string_view text) { return Check(impl_->BindText(i, text)); }
  Stmt& Bind(int i, const char* text) { return Bind(i, std::string_view(text)); }
  Stmt& Bind(int i, const std::string& text) { return Bind(i, std::string_view(text)); }
  Stmt& Bind(int i, int64_t v) { return Check(impl_->BindInt(i, v)); }
  Stmt& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Stmt& Bind(int i, bool v) { return Bind(i, static_cast<int64_t>(v ? 1 : 0)); }
  Stmt& Bind(int i, const std::optional<int64_t>& v) { return v ? Bind(i, *v) : BindNull(i); }
  Stmt& BindBlob(int i, std::string_view bytes) { return Check(impl_->BindBlob(i, bytes)); }
  Stmt& BindNull(int i) { return Check(impl_->BindNull(i)); }

  Result<bool> Step() {
    if (bind_error_) return *bind_error_;
    return impl_->Step();
  }
  // Steps to completion, for statements that return no rows.
  Status Run();

  bool IsNull(int col) const { return impl_->IsNull(col); }
  int64_t Int(int col) const { return impl_->Int(col); }
  std::string Text(int col) const { return impl_->Text(col); }
  std::string Blob(int col) const { return impl_->Blob(col); }
  std::optional<int64_t> OptInt(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Int(col);
  }

 private:
  Stmt& Check(Status s) {
    if (!s.ok() && !bind_error_) bind_error_ = std::move(s).error();
    return *this;
  }

  std::unique_ptr<StmtImpl> impl_;
  std::optional<Error> bind_error_;
};

// One database connection, as the row mappers see it.
class Conn {
 public:
  virtual ~Conn() = default;
  virtual Dialect dialect() const = 0;
  // A statement for `sql`. `context` (the table name, a string literal that outlives the Stmt)
  // prefixes error messages. The SQL text must not contain values: bind them.
  virtual Result<Stmt> Prepare(std::string_view sql, std::string_view context) = 0;
  // Runs one or more statements without parameters (savepoints, DDL).
  virtual Status Exec(const char* sql, std::string_view context) = 0;
  // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  virtual int64_t Changes() const = 0;
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

}  // namespace certfleet::store::sql
