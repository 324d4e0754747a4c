#include "store/sqlite/db.h"

#include <memory>
#include <string>
#include <utility>

namespace certfleet::store::sqlite {

Error SqliteError(sqlite3* db, int rc, std::string_view context) {
  // sqlite3_errmsg names tables, columns and constraints; values are always bound parameters,
  // so they never appear in it.
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string msg = std::string(context) + ": " + detail;
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return Conflict(std::string(context) + ": already exists (" + detail + ")");
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return FailedPrecondition(std::string(context) + ": referenced row does not exist (" +
                                detail + ")");
    case SQLITE_CONSTRAINT_TRIGGER:
      return FailedPrecondition(std::move(msg));
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Unavailable(std::move(msg)).WithRetry();
    case SQLITE_CANTOPEN:
      return Unavailable(std::move(msg)).WithRetry();
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
      return InvalidArgument(std::move(msg));
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
      return Unavailable(std::move(msg));
    default:
      return Internal(std::move(msg));
  }
}

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_EXRESCODE, nullptr);
  // sqlite3_open_v2 allocates a handle even on failure; it must be closed either way.
  std::unique_ptr<Db> db(new Db(raw));
  if (rc != SQLITE_OK) return SqliteError(raw, rc, "open database");
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Db::~Db() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  // Every Stmt is finalized or returned above, so close cannot report SQLITE_BUSY.
  sqlite3_close_v2(db_);
}

Status Db::Exec(const char* sql, std::string_view context) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  sqlite3_free(err);  // sqlite3_errmsg still holds the same text
  if (rc != SQLITE_OK) return SqliteError(db_, rc, context);
  return Ok();
}

namespace {

// A prepared statement for one execution: a cached one is reset when the execution ends, an
// uncached one finalized.
class SqliteStmt final : public sql::StmtImpl {
 public:
  SqliteStmt(sqlite3_stmt* s, bool owned, std::string_view context)
      : stmt_(s), owned_(owned), context_(context) {}
  ~SqliteStmt() override {
    if (owned_) {
      sqlite3_finalize(stmt_);
    } else {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;

  Status BindText(int i, std::string_view text) override {
    return Check(
        i, sqlite3_bind_text64(stmt_, i, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  Status BindInt(int i, int64_t v) override { return Check(i, sqlite3_bind_int64(stmt_, i, v)); }
  Status BindBlob(int i, std::string_view bytes) override {
    // A null pointer would bind NULL; an empty value must stay an empty BLOB.
    static const char kEmpty = 0;
    const char* p = bytes.empty() ? &kEmpty : bytes.data();
    return Check(i, sqlite3_bind_blob64(stmt_, i, p, bytes.size(), SQLITE_TRANSIENT));
  }
  Status BindNull(int i) override { return Check(i, sqlite3_bind_null(stmt_, i)); }

  Result<bool> Step() override {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(sqlite3_db_handle(stmt_), rc, context_);
  }

  bool IsNull(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const override { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const override {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    if (p == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::string Blob(int col) const override {
    const void* p = sqlite3_column_blob(stmt_, col);
    // A zero-length BLOB reads back as a null pointer.
    if (p == nullptr) return {};
    return std::string(static_cast<const char*>(p),
                       static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }

 private:
  Status Check(int i, int rc) {
    if (rc == SQLITE_OK) return Ok();
    return SqliteError(sqlite3_db_handle(stmt_), rc,
                       std::string(context_) + " (parameter " + std::to_string(i) + ")");
  }

  sqlite3_stmt* stmt_;
  bool owned_;
  std::string_view context_;  // callers pass string literals
};

Stmt MakeStmt(sqlite3_stmt* s, bool owned, std::string_view context) {
  return Stmt(std::make_unique<SqliteStmt>(s, owned, context));
}

}  // namespace

Result<Stmt> Db::Prepare(std::string_view sql, std::string_view context) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end()) {
    // A cached statement still stepping (a nested use of the same SQL) cannot be shared.
    if (!sqlite3_stmt_busy(it->second)) return MakeStmt(it->second, false, context);
  }
  sqlite3_stmt* s = nullptr;
  const bool cache = it == cache_.end();
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              cache ? SQLITE_PREPARE_PERSISTENT : 0, &s, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, context);
  if (cache) {
    cache_.emplace(std::string(sql), s);
    return MakeStmt(s, false, context);
  }
  return MakeStmt(s, true, context);
}

}  // namespace certfleet::store::sqlite
