#include "store/sqlite/db.h"

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

Result<Stmt> Db::Prepare(std::string_view sql, std::string_view context) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end()) {
    // A cached statement still stepping (a nested use of the same SQL) cannot be shared.
    if (!sqlite3_stmt_busy(it->second)) return Stmt(it->second, false, context);
  }
  sqlite3_stmt* s = nullptr;
  const bool cache = it == cache_.end();
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              cache ? SQLITE_PREPARE_PERSISTENT : 0, &s, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, context);
  if (cache) {
    cache_.emplace(std::string(sql), s);
    return Stmt(s, false, context);
  }
  return Stmt(s, true, context);
}

Stmt::Stmt(Stmt&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      owned_(other.owned_),
      context_(other.context_),
      bind_error_(std::move(other.bind_error_)) {}

Stmt::~Stmt() {
  if (stmt_ == nullptr) return;
  if (owned_) {
    sqlite3_finalize(stmt_);
  } else {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Stmt& Stmt::Check(int i, int rc) {
  if (rc != SQLITE_OK && !bind_error_) {
    bind_error_ = SqliteError(sqlite3_db_handle(stmt_), rc,
                              std::string(context_) + " (parameter " + std::to_string(i) + ")");
  }
  return *this;
}

Stmt& Stmt::Bind(int i, std::string_view text) {
  return Check(
      i, sqlite3_bind_text64(stmt_, i, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
}

Stmt& Stmt::Bind(int i, int64_t v) { return Check(i, sqlite3_bind_int64(stmt_, i, v)); }

Stmt& Stmt::Bind(int i, const std::optional<int64_t>& v) { return v ? Bind(i, *v) : BindNull(i); }

Stmt& Stmt::BindBlob(int i, std::string_view bytes) {
  // A null pointer would bind NULL; an empty value must stay an empty BLOB.
  static const char kEmpty = 0;
  const char* p = bytes.empty() ? &kEmpty : bytes.data();
  return Check(i, sqlite3_bind_blob64(stmt_, i, p, bytes.size(), SQLITE_TRANSIENT));
}

Stmt& Stmt::BindNull(int i) { return Check(i, sqlite3_bind_null(stmt_, i)); }

Result<bool> Stmt::Step() {
  if (bind_error_) return *bind_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(sqlite3_db_handle(stmt_), rc, context_);
}

Status Stmt::Run() {
  while (true) {
    CF_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Ok();
  }
}

bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Stmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string Stmt::Blob(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  // A zero-length BLOB reads back as a null pointer.
  if (p == nullptr) return {};
  return std::string(static_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::optional<int64_t> Stmt::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

}  // namespace certfleet::store::sqlite
