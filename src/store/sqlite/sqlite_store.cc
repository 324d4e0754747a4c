#include "store/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <system_error>

#include "base/log.h"
#include "store/sql/pool.h"
#include "store/sql/sql_tx.h"
#include "store/sqlite/db.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/writer.h"

namespace certfleet::store {
namespace {

using sqlite::Db;
using Pool = sql::Pool<Db>;
using sqlite::TxLease;
using sqlite::Writer;

constexpr char kMemoryPath[] = ":memory:";
// Readers (BeginRead, SchemaVersion) share these; the writer has a connection of its own.
constexpr int kMaxReaderConnections = 8;

std::string ErrnoText(int e) { return std::generic_category().message(e); }

// Creates the database file with mode 0600 if it does not exist. Creating it ourselves, rather
// than letting SQLite do it under the process umask, means no window in which it is readable
// by others; SQLite gives the -wal and -shm files the database file's mode.
Status CreateDatabaseFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) {
    // A restrictive umask may have removed the owner's bits; put them back.
    int rc = ::fchmod(fd, 0600);
    int saved = errno;
    ::close(fd);
    if (rc != 0) {
      return Unavailable("sqlite: cannot chmod new database file " + path + ": " +
                         ErrnoText(saved));
    }
    return Ok();
  }
  if (errno != EEXIST) {
    return Unavailable("sqlite: cannot create database file " + path + ": " + ErrnoText(errno));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
    // Not changed behind the operator's back, but said loudly: the file holds token hashes
    // and sealed keys.
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 0777));
    log::Warn("sqlite database file is accessible to group or others",
              {{"path", path}, {"mode", mode}});
  }
  return Ok();
}

// Per-connection settings. journal_mode is persistent in the file but reported per
// connection, which lets us verify that WAL is really on.
Status Configure(Db& db, const SqliteOptions& o, bool memory) {
  sqlite3* h = db.get();
  // Defensive mode: no writable_schema or other ways to corrupt the file through SQL.
  sqlite3_db_config(h, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_busy_timeout(h, o.busy_timeout_ms);
  CF_TRY(db.Exec("PRAGMA foreign_keys = ON", "configure"));
  CF_TRY(db.Exec(o.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                 "configure"));
  if (memory) return Ok();
  CF_ASSIGN_OR_RETURN(auto s, db.Prepare("PRAGMA journal_mode = WAL", "configure"));
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row || s.Text(0) != "wal") {
    return Unavailable("sqlite: cannot enable WAL journal mode on " + o.path);
  }
  return Ok();
}

// A read-only transaction on a reader connection: BEGIN (deferred) takes a snapshot of the
// last committed state at the first read; COMMIT or ROLLBACK ends it. The connection has
// query_only set, so a write through it fails instead of racing the writer.
class ReadLease final : public TxLease {
 public:
  explicit ReadLease(Pool::Lease lease) : lease_(std::move(lease)) {}
  ~ReadLease() override {
    if (lease_ && lease_->db().InTransaction() && !lease_->db().Exec("ROLLBACK", "rollback").ok()) {
      lease_->Discard();
    }
  }
  sql::Conn& conn() override { return lease_->db(); }
  Status Commit() override {
    Status st = lease_->db().Exec("COMMIT", "commit");
    if (!st.ok() && lease_->db().InTransaction() &&
        !lease_->db().Exec("ROLLBACK", "rollback").ok()) {
      lease_->Discard();
    }
    lease_.reset();
    return st;
  }

 private:
  std::optional<Pool::Lease> lease_;
};

class SqliteStore final : public Store {
 public:
  // `readers` is null for an in-memory store, whose one connection belongs to the writer.
  SqliteStore(std::shared_ptr<Writer> writer, std::shared_ptr<Pool> readers)
      : writer_(std::move(writer)), readers_(std::move(readers)) {}

  Result<std::unique_ptr<Tx>> Begin() override {
    CF_ASSIGN_OR_RETURN(auto lease, writer_->Begin());
    return std::unique_ptr<Tx>(new sql::SqlTx(std::move(lease)));
  }

  Result<std::unique_ptr<Tx>> BeginRead() override {
    if (!readers_) return Begin();
    CF_ASSIGN_OR_RETURN(auto lease, readers_->Acquire());
    CF_TRY(lease.db().Exec("BEGIN", "begin"));
    return std::unique_ptr<Tx>(
        new sql::SqlTx(std::unique_ptr<TxLease>(new ReadLease(std::move(lease)))));
  }

  Result<int> SchemaVersion() override {
    CF_ASSIGN_OR_RETURN(auto tx, BeginRead());
    // Every connection of this store is an sqlite::Db.
    return sqlite::ReadSchemaVersion(static_cast<Db&>(static_cast<sql::SqlTx&>(*tx).conn()));
  }

  sqlite::WriterStats stats() { return writer_->stats(); }

 private:
  std::shared_ptr<Writer> writer_;
  std::shared_ptr<Pool> readers_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& o) {
  if (o.path.empty()) return InvalidArgument("sqlite: path must not be empty");
  if (o.busy_timeout_ms < 0) return InvalidArgument("sqlite: busy_timeout_ms must be >= 0");
  const bool memory = o.path == kMemoryPath;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
  if (memory) {
    flags |= SQLITE_OPEN_CREATE;
  } else {
    // No SQLITE_OPEN_CREATE: SQLite must never create the file itself (see above).
    CF_TRY(CreateDatabaseFile(o.path));
  }
  auto open = [o, flags, memory](bool reader) -> Result<std::unique_ptr<Db>> {
    CF_ASSIGN_OR_RETURN(auto db, Db::Open(o.path, flags));
    CF_TRY(Configure(*db, o, memory));
    // A replacement for a discarded in-memory connection starts empty and needs the schema.
    if (memory) CF_TRY(sqlite::ApplyMigrations(*db));
    if (reader) CF_TRY(db->Exec("PRAGMA query_only = ON", "configure"));
    return db;
  };
  CF_ASSIGN_OR_RETURN(auto first, open(false));
  CF_ASSIGN_OR_RETURN(int version, sqlite::ApplyMigrations(*first));
  log::Debug("sqlite store open", {{"path", o.path}, {"schema_version", std::to_string(version)}});
  const auto wait = std::chrono::milliseconds(o.busy_timeout_ms);
  if (memory) {
    // An in-memory database lives and dies with its one connection: the writer's. Readers use
    // it through the writer slot.
    auto only = std::make_shared<std::unique_ptr<Db>>(std::move(first));
    auto writer = Writer::Create(
        [only, open]() -> Result<std::unique_ptr<Db>> {
          if (*only) return std::move(*only);
          return open(false);
        },
        wait);
    return std::unique_ptr<Store>(new SqliteStore(std::move(writer), nullptr));
  }
  auto readers = Pool::Create([open] { return open(true); }, kMaxReaderConnections, wait);
  CF_TRY(first->Exec("PRAGMA query_only = ON", "configure"));
  readers->Adopt(std::move(first));
  auto writer = Writer::Create([open] { return open(false); }, wait);
  return std::unique_ptr<Store>(new SqliteStore(std::move(writer), std::move(readers)));
}

std::optional<SqliteWriterStats> SqliteStatsOf(Store& store) {
  auto* s = dynamic_cast<SqliteStore*>(&store);
  if (s == nullptr) return std::nullopt;
  sqlite::WriterStats w = s->stats();
  return SqliteWriterStats{.transactions = w.transactions,
                           .batches = w.batches,
                           .failed_batches = w.failed_batches,
                           .waiting = w.waiting};
}

}  // namespace certfleet::store
