#include "store/postgres/pg_store.h"

#include <libpq-fe.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>

#include "base/files.h"
#include "base/log.h"
#include "store/postgres/conn.h"
#include "store/postgres/migrations.h"
#include "store/postgres/replicas.h"
#include "store/sql/pool.h"
#include "store/sql/sql_tx.h"

namespace certfleet::store {
namespace {

using postgres::PgConn;
using Pool = sql::Pool<PgConn>;

constexpr size_t kMaxPasswordFileBytes = 4096;

// A transaction on a pooled connection. Destroying it without Commit() rolls back; a connection
// that fails on the way is discarded rather than reused.
class PgLease final : public sql::TxLease {
 public:
  explicit PgLease(Pool::Lease lease) : lease_(std::move(lease)) {}
  ~PgLease() override {
    if (!lease_) return;
    PgConn& c = lease_->db();
    c.set_statement_savepoints(false);
    if (c.Broken() || !c.Exec("ROLLBACK", "rollback").ok()) lease_->Discard();
  }
  sql::Conn& conn() override { return lease_->db(); }
  Status Commit() override {
    PgConn& c = lease_->db();
    c.set_statement_savepoints(false);
    Status st = c.Exec("COMMIT", "commit");
    if (!st.ok()) {
      // A COMMIT that fails on a healthy connection has rolled back (e.g. a deferred check);
      // on a lost connection its outcome is unknown, so the caller gets Unavailable and the
      // connection is dropped.
      if (c.Broken() || !c.Exec("ROLLBACK", "rollback").ok()) lease_->Discard();
    }
    lease_.reset();
    return st;
  }
  PgConn& pg() { return lease_->db(); }

 private:
  std::optional<Pool::Lease> lease_;
};

class PostgresStore final : public Store {
 public:
  PostgresStore(std::shared_ptr<Pool> pool, postgres::ConnectOptions options)
      : pool_(std::move(pool)),
        options_(std::move(options)),
        // Per schema, so that installations sharing a database in different schemas do not
        // serialize each other.
        writer_key_(postgres::AdvisoryKey("certfleet.writer:" + options_.schema)) {}

  std::unique_ptr<Leadership> NewLeadership(const std::string& name) override {
    return std::make_unique<postgres::AdvisoryLeadership>(options_, name);
  }

  void Publish(const std::string& channel, const std::string& payload) override {
    auto lease = Acquire();
    if (!lease.ok()) return;  // best effort: subscribers recheck periodically
    auto s = lease->db().Prepare("SELECT pg_notify(?1, ?2)", "notify");
    if (!s.ok()) return;
    s->Bind(1, "cf_" + options_.schema + "_" + channel).Bind(2, payload);
    if (!s->Run().ok() && lease->db().Broken()) lease->Discard();
  }

  Status Subscribe(const std::string& channel,
                   std::function<void(const std::string&)> fn) override {
    {
      std::lock_guard lock(listener_mu_);
      if (!listener_) {
        listener_ = std::make_unique<postgres::Listener>(options_, "cf_" + options_.schema + "_");
      }
    }
    return listener_->Subscribe(channel, std::move(fn));
  }

  Result<std::unique_ptr<Tx>> Begin() override {
    CF_ASSIGN_OR_RETURN(auto lease, Acquire());
    PgConn& c = lease.db();
    // The writer lock is waited for at most lock_timeout (the busy timeout), then Unavailable.
    const std::string begin =
        "BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(writer_key_) + ")";
    Status st = c.Exec(begin.c_str(), "begin");
    if (!st.ok()) {
      if (c.Broken() || !c.Exec("ROLLBACK", "rollback").ok()) lease.Discard();
      return std::move(st).error();
    }
    c.set_statement_savepoints(true);
    return std::unique_ptr<Tx>(new sql::SqlTx(std::make_unique<PgLease>(std::move(lease))));
  }

  Result<std::unique_ptr<Tx>> BeginRead() override {
    CF_ASSIGN_OR_RETURN(auto lease, Acquire());
    PgConn& c = lease.db();
    Status st = c.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin");
    if (!st.ok()) {
      if (c.Broken() || !c.Exec("ROLLBACK", "rollback").ok()) lease.Discard();
      return std::move(st).error();
    }
    return std::unique_ptr<Tx>(new sql::SqlTx(std::make_unique<PgLease>(std::move(lease))));
  }

  Result<int> SchemaVersion() override {
    CF_ASSIGN_OR_RETURN(auto lease, Acquire());
    auto v = postgres::ReadSchemaVersion(lease.db());
    if (!v.ok() && lease.db().Broken()) lease.Discard();
    return v;
  }

 private:
  // A pooled connection that is still alive: one the server closed while it sat idle (a
  // restart, idle timeouts) is dropped and the next one tried.
  Result<Pool::Lease> Acquire() {
    for (int tries = 0;; ++tries) {
      CF_ASSIGN_OR_RETURN(auto lease, pool_->Acquire());
      if (!lease.db().Broken() || tries >= 2) return lease;
      lease.Discard();
    }
  }

  std::shared_ptr<Pool> pool_;
  const postgres::ConnectOptions options_;
  const int64_t writer_key_;
  std::mutex listener_mu_;
  std::unique_ptr<postgres::Listener> listener_;  // created by the first Subscribe()
};

Result<std::string> ReadPasswordFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return InvalidArgument("postgres: cannot read the password file " + path);
  }
  if ((st.st_mode & 077) != 0) {
    return InvalidArgument("postgres: the password file " + path +
                           " must not be accessible to group or others (chmod 600)");
  }
  CF_ASSIGN_OR_RETURN(auto bytes, ReadSecretFile(path, kMaxPasswordFileBytes));
  std::string pw(bytes.view());
  if (auto nl = pw.find_first_of("\r\n"); nl != std::string::npos) pw.resize(nl);
  if (pw.empty()) return InvalidArgument("postgres: the password file " + path + " is empty");
  return pw;
}

// Creates `schema` if it is missing. Only then: CREATE SCHEMA checks the CREATE privilege on the
// database even with IF NOT EXISTS, and a role that owns only its schema (or "public") has none.
Status EnsureSchema(postgres::ConnectOptions co, const std::string& schema) {
  co.schema.clear();
  CF_ASSIGN_OR_RETURN(auto conn, PgConn::Open(co));
  CF_ASSIGN_OR_RETURN(
      auto exists, conn->Prepare("SELECT count(*) FROM pg_namespace WHERE nspname = ?1", "schema"));
  exists.Bind(1, schema);
  CF_ASSIGN_OR_RETURN(bool row, exists.Step());
  if (row && exists.Int(0) > 0) return Ok();
  char* quoted = PQescapeIdentifier(conn->get(), schema.data(), schema.size());
  if (quoted == nullptr) return InvalidArgument("postgres: invalid schema name");
  const std::string create = std::string("CREATE SCHEMA IF NOT EXISTS ") + quoted;
  PQfreemem(quoted);
  Status st = conn->Exec(create.c_str(), "schema");
  // Two replicas creating it at once: one of them sees a unique violation; both go on.
  if (!st.ok() && st.error().code() != ErrorCode::kConflict) return st;
  return Ok();
}

}  // namespace

namespace postgres {
Result<ConnectOptions> ConnectOptionsFor(const PostgresOptions& o) {
  ConnectOptions co{
      .conninfo = o.url, .password = {}, .schema = o.schema, .lock_timeout_ms = o.busy_timeout_ms};
  if (!o.password_file.empty()) {
    CF_ASSIGN_OR_RETURN(co.password, ReadPasswordFile(o.password_file));
  }
  return co;
}
}  // namespace postgres

Status ValidatePostgresUrl(const std::string& url) {
  const bool uri = url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0;
  if (!uri) {
    return InvalidArgument("postgres: the store URL must start with postgres:// or postgresql://");
  }
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    // libpq's message names the part it could not parse; it may quote the URL, so it is not
    // passed on.
    if (err != nullptr) PQfreemem(err);
    return InvalidArgument("postgres: the store URL is not a valid libpq URL");
  }
  bool has_password = false;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (std::string_view(o->keyword) == "password" && o->val != nullptr && *o->val != '\0') {
      has_password = true;
    }
  }
  PQconninfoFree(opts);
  if (has_password) {
    return InvalidArgument(
        "postgres: the store URL must not contain a password (it would show in the process "
        "list and logs); put it in a password file or PGPASSFILE");
  }
  return Ok();
}

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& o) {
  CF_TRY(ValidatePostgresUrl(o.url));
  if (o.max_connections < 1) return InvalidArgument("postgres: max_connections must be >= 1");
  if (o.busy_timeout_ms < 0) return InvalidArgument("postgres: busy_timeout_ms must be >= 0");
  if (o.schema.empty()) return InvalidArgument("postgres: schema must not be empty");
  CF_ASSIGN_OR_RETURN(postgres::ConnectOptions co, postgres::ConnectOptionsFor(o));
  // The schema must exist before search_path can name it.
  CF_TRY(EnsureSchema(co, o.schema));
  CF_ASSIGN_OR_RETURN(auto conn, PgConn::Open(co));
  CF_ASSIGN_OR_RETURN(int version, postgres::ApplyMigrations(*conn));
  log::Debug("postgres store open",
             {{"schema", o.schema}, {"schema_version", std::to_string(version)}});
  auto pool = Pool::Create([co] { return PgConn::Open(co); }, o.max_connections,
                           std::chrono::milliseconds(o.busy_timeout_ms));
  pool->Adopt(std::move(conn));
  return std::unique_ptr<Store>(new PostgresStore(std::move(pool), std::move(co)));
}

}  // namespace certfleet::store
