// The PostgreSQL backend: the conformance suite against a real server, then what only this
// backend has: URL and password checks, schema versions, several stores (replicas) on one
// database, and recovery after lost connections.
//
// The server is started by the test harness: `test/harness/postgres.sh run -- pg_store_test`
// (CTest does that) sets CERTFLEET_TEST_PG_URL. Each store lives in a fresh schema.
#include "store/postgres/pg_store.h"

#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/conformance_test.h"
#include "store/migrate_store.h"
#include "store/postgres/migrations.h"
#include "store/sqlite/sqlite_store.h"

namespace certfleet::store {
namespace {

using testing::HasCode;
using testing::IsOk;
using testing::MakeAccount;
using testing::StoreBackend;
using testing::StoreConformanceTest;
using testing::T;
using testing::TestId;

std::string ServerUrl() {
  const char* url = std::getenv("CERTFLEET_TEST_PG_URL");
  if (url == nullptr || *url == '\0') {
    std::fprintf(stderr,
                 "CERTFLEET_TEST_PG_URL is not set: run this binary through "
                 "test/harness/postgres.sh run -- %s\n",
                 "pg_store_test");
    std::abort();
  }
  return url;
}

std::string FreshSchema() {
  static std::atomic<int> n{0};
  return "t" + std::to_string(::getpid()) + "_" + std::to_string(++n);
}

PostgresOptions Options(const std::string& schema) {
  return PostgresOptions{.url = ServerUrl(), .schema = schema};
}

std::unique_ptr<Store> OpenOrDie(const PostgresOptions& o) {
  auto s = OpenPostgresStore(o);
  if (!s.ok()) {
    std::fprintf(stderr, "OpenPostgresStore: %s\n", s.error().ToString().c_str());
    std::abort();
  }
  return std::move(*s);
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformanceTest,
                         ::testing::Values(StoreBackend{
                             "Server", [] { return OpenOrDie(Options(FreshSchema())); }}),
                         testing::StoreBackendName);

// Raw SQL on the test server, outside the store.
class RawPg {
 public:
  RawPg() : conn_(PQconnectdb(ServerUrl().c_str())) { CF_CHECK(PQstatus(conn_) == CONNECTION_OK); }
  ~RawPg() { PQfinish(conn_); }
  // The first column of the first row ("" if none); aborts on an SQL error.
  std::string Scalar(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      std::fprintf(stderr, "%s: %s\n", sql.c_str(), PQresultErrorMessage(r));
      PQclear(r);
      std::abort();
    }
    std::string out;
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    PQclear(r);
    return out;
  }

  // Terminates the backends `pids_sql` selects (a query of one column of pids) and waits until
  // they are gone: pg_terminate_backend only signals, and a dying session still holds its locks
  // for a moment (a test that looked at once failed now and then). Returns how many.
  int TerminateAndWait(const std::string& pids_sql) {
    const std::string pids =
        Scalar("SELECT coalesce(string_agg(pid::text, ','), '') FROM (" + pids_sql + ") AS p(pid)");
    if (pids.empty()) return 0;
    Scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid IN (" + pids +
           ")");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (Scalar("SELECT count(*) FROM pg_stat_activity WHERE pid IN (" + pids + ")") != "0") {
      CF_CHECK(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return static_cast<int>(std::count(pids.begin(), pids.end(), ',')) + 1;
  }

 private:
  PGconn* conn_;
};

TEST(PostgresStoreTest, SchemaVersionIsLatestAndReopenIsIdempotent) {
  const auto schema = FreshSchema();
  {
    auto store = OpenOrDie(Options(schema));
    auto v = store->SchemaVersion();
    ASSERT_TRUE(IsOk(v));
    EXPECT_EQ(*v, postgres::LatestSchemaVersion());
  }
  auto again = OpenOrDie(Options(schema));
  auto v = again->SchemaVersion();
  ASSERT_TRUE(IsOk(v));
  EXPECT_EQ(*v, postgres::LatestSchemaVersion());
  RawPg raw;
  EXPECT_EQ(raw.Scalar("SELECT count(*) FROM " + schema + ".schema_migrations"),
            std::to_string(postgres::LatestSchemaVersion()));
}

TEST(PostgresStoreTest, RefusesADatabaseFromANewerBinary) {
  const auto schema = FreshSchema();
  OpenOrDie(Options(schema));
  RawPg raw;
  raw.Scalar("INSERT INTO " + schema + ".schema_migrations VALUES (999, 0)");
  auto store = OpenPostgresStore(Options(schema));
  ASSERT_TRUE(HasCode(store, ErrorCode::kFailedPrecondition));
  EXPECT_NE(store.error().message().find("newer"), std::string::npos);
}

TEST(PostgresStoreTest, UrlMustNotCarryAPassword) {
  auto o = Options(FreshSchema());
  o.url = "postgres://certfleet:hunter2@127.0.0.1:5432/certfleet";
  auto store = OpenPostgresStore(o);
  ASSERT_TRUE(HasCode(store, ErrorCode::kInvalidArgument));
  EXPECT_EQ(store.error().message().find("hunter2"), std::string::npos);
  EXPECT_NE(store.error().message().find("password file"), std::string::npos);
  EXPECT_TRUE(HasCode(ValidatePostgresUrl("mysql://x@y/z"), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(IsOk(ValidatePostgresUrl("postgresql://u@h:5/d?sslmode=verify-full")));
}

TEST(PostgresStoreTest, PasswordFileMustBeOwnerOnly) {
  const std::string path = ::testing::TempDir() + "cf-pgpass-" + std::to_string(::getpid());
  {
    std::ofstream f(path);
    f << "secret\n";
  }
  ::chmod(path.c_str(), 0644);
  auto o = Options(FreshSchema());
  o.password_file = path;
  auto store = OpenPostgresStore(o);
  ASSERT_TRUE(HasCode(store, ErrorCode::kInvalidArgument));
  EXPECT_NE(store.error().message().find("chmod 600"), std::string::npos);
  // Owner-only: accepted (the test server trusts loopback, so any password works).
  ::chmod(path.c_str(), 0600);
  EXPECT_TRUE(IsOk(OpenPostgresStore(o)));
  std::filesystem::remove(path);
}

// An application role that owns its schema but may not create schemas in the database (the
// usual grant) can open the store.
TEST(PostgresStoreTest, ARoleThatOwnsOnlyItsSchemaCanOpenTheStore) {
  const auto schema = FreshSchema();
  const std::string role = "r" + schema;
  RawPg raw;
  raw.Scalar("CREATE ROLE " + role + " LOGIN");
  raw.Scalar("CREATE SCHEMA " + schema + " AUTHORIZATION " + role);
  std::string url = ServerUrl();
  const auto at = url.find("postgres@");
  ASSERT_NE(at, std::string::npos) << url;
  url.replace(at, 8, role);
  auto store = OpenPostgresStore({.url = url, .schema = schema});
  ASSERT_TRUE(IsOk(store));
  auto tx = (*store)->Begin();
  ASSERT_TRUE(IsOk(tx));
  EXPECT_TRUE(IsOk((*tx)->accounts().Insert(MakeAccount(1))));
  EXPECT_TRUE(IsOk((*tx)->Commit()));
  // A schema it may not create is refused with the server's reason.
  auto other = OpenPostgresStore({.url = url, .schema = FreshSchema()});
  EXPECT_FALSE(other.ok());
}

TEST(PostgresStoreTest, UnreachableServerIsUnavailable) {
  PostgresOptions o{.url = "postgres://postgres@127.0.0.1:1/postgres", .schema = "x"};
  auto store = OpenPostgresStore(o);
  ASSERT_TRUE(HasCode(store, ErrorCode::kUnavailable));
}

TEST(PostgresStoreTest, TextWithANulByteIsRefusedNotCut) {
  auto store = OpenOrDie(Options(FreshSchema()));
  auto tx = store->Begin();
  ASSERT_TRUE(IsOk(tx));
  auto a = MakeAccount(1);
  a.name = std::string("ab\0cd", 5);
  EXPECT_TRUE(HasCode((*tx)->accounts().Insert(a), ErrorCode::kInvalidArgument));
  // The failed statement left the transaction usable.
  EXPECT_TRUE(IsOk((*tx)->accounts().Insert(MakeAccount(2))));
  EXPECT_TRUE(IsOk((*tx)->Commit()));
}

// Two stores on one schema are two replicas: a Tx from one waits for the other's writer lock,
// and gives up with Unavailable after the busy timeout.
TEST(PostgresStoreTest, ReplicasTakeTurnsAsWriters) {
  const auto schema = FreshSchema();
  auto o = Options(schema);
  o.busy_timeout_ms = 300;
  auto a = OpenOrDie(o);
  auto b = OpenOrDie(o);
  auto held = a->Begin();
  ASSERT_TRUE(IsOk(held));
  ASSERT_TRUE(IsOk((*held)->accounts().Insert(MakeAccount(1))));
  auto blocked = b->Begin();
  ASSERT_TRUE(HasCode(blocked, ErrorCode::kUnavailable));
  // Readers are not blocked, and do not see the uncommitted row.
  auto read = b->BeginRead();
  ASSERT_TRUE(IsOk(read));
  EXPECT_TRUE(HasCode((*read)->accounts().Get(MakeAccount(1).id), ErrorCode::kNotFound));
  ASSERT_TRUE(IsOk((*held)->Commit()));
  auto next = b->Begin();
  ASSERT_TRUE(IsOk(next));
  EXPECT_TRUE(IsOk((*next)->accounts().Get(MakeAccount(1).id)));
}

// Replicas claiming from one queue at once: every job is claimed exactly once.
TEST(PostgresStoreTest, ConcurrentClaimsFromSeveralReplicasNeverShareAJob) {
  const auto schema = FreshSchema();
  constexpr int kJobs = 60;
  auto seed = OpenOrDie(Options(schema));
  {
    auto tx = seed->Begin();
    ASSERT_TRUE(IsOk(tx));
    for (int i = 1; i <= kJobs; ++i) {
      model::Job j;
      j.id = TestId("job", i);
      j.type = "t";
      j.state = model::JobState::kPending;
      j.max_attempts = 3;
      j.run_after = T(0);
      j.created_at = T(0);
      j.updated_at = T(0);
      ASSERT_TRUE(IsOk((*tx)->jobs().Insert(j)));
    }
    ASSERT_TRUE(IsOk((*tx)->Commit()));
  }
  std::vector<std::unique_ptr<Store>> replicas;
  for (int r = 0; r < 3; ++r) replicas.push_back(OpenOrDie(Options(schema)));
  std::mutex mu;
  std::vector<std::string> claimed;
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&, r] {
      for (int round = 0; round < 40; ++round) {
        auto tx = replicas[static_cast<size_t>(r)]->Begin();
        if (!tx.ok()) continue;
        auto jobs = (*tx)->jobs().Claim("replica-" + std::to_string(r), T(10), Seconds(60), {}, 2);
        if (!jobs.ok() || !(*tx)->Commit().ok()) continue;
        std::lock_guard lock(mu);
        for (const auto& j : *jobs) claimed.push_back(j.id);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(unique.size(), claimed.size()) << "a job was claimed twice";
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kJobs));
}

// A server that drops every connection (a restart, a failover) costs the store nothing but the
// transactions that were open: the next Begin() reconnects.
TEST(PostgresStoreTest, RecoversAfterTheServerDropsItsConnections) {
  const auto schema = FreshSchema();
  auto store = OpenOrDie(Options(schema));
  {
    auto tx = store->Begin();
    ASSERT_TRUE(IsOk(tx));
    ASSERT_TRUE(IsOk((*tx)->accounts().Insert(MakeAccount(1))));
    ASSERT_TRUE(IsOk((*tx)->Commit()));
  }
  auto open = store->Begin();
  ASSERT_TRUE(IsOk(open));
  RawPg raw;
  ASSERT_GT(
      raw.TerminateAndWait("SELECT pid FROM pg_stat_activity "
                           "WHERE application_name = 'certfleetd' AND pid <> pg_backend_pid()"),
      0);
  // The open transaction is lost, and says so as a retryable error.
  auto lost = (*open)->accounts().Insert(MakeAccount(2));
  EXPECT_TRUE(HasCode(lost, ErrorCode::kUnavailable));
  open->reset();
  auto tx = store->Begin();
  ASSERT_TRUE(IsOk(tx));
  EXPECT_TRUE(IsOk((*tx)->accounts().Get(MakeAccount(1).id)));
  EXPECT_TRUE(HasCode((*tx)->accounts().Get(MakeAccount(2).id), ErrorCode::kNotFound));
  auto v = store->SchemaVersion();
  EXPECT_TRUE(IsOk(v));
}

// One replica leads; when its session dies (a crashed replica), another takes over at its next
// Hold().
TEST(PostgresStoreTest, LeadershipIsExclusiveAndMovesWhenTheHolderDies) {
  const auto schema = FreshSchema();
  auto a = OpenOrDie(Options(schema));
  auto b = OpenOrDie(Options(schema));
  auto la = a->NewLeadership("scheduler");
  auto lb = b->NewLeadership("scheduler");
  ASSERT_NE(la, nullptr);
  auto held = la->Hold();
  ASSERT_TRUE(IsOk(held));
  EXPECT_TRUE(*held);
  EXPECT_TRUE(*la->Hold()) << "holding is idempotent";
  EXPECT_FALSE(*lb->Hold());
  // Another name is another lock.
  EXPECT_TRUE(*b->NewLeadership("dispatcher")->Hold());
  la->Release();
  EXPECT_TRUE(*lb->Hold());
  EXPECT_FALSE(*la->Hold());
  // The holder's session is killed, as when its replica dies.
  RawPg raw;
  ASSERT_GT(raw.TerminateAndWait("SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' "
                                 "AND l.granted AND l.pid <> pg_backend_pid()"),
            0);
  EXPECT_TRUE(*la->Hold());
  EXPECT_FALSE(*lb->Hold()) << "a replica whose session died has lost the lock";
}

// A notification published by one replica reaches every replica's subscribers.
TEST(PostgresStoreTest, PublishedNotificationsReachEveryReplica) {
  // Declared before the stores, whose listener threads call into them until they are destroyed.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> got_a, got_b;
  const auto schema = FreshSchema();
  auto a = OpenOrDie(Options(schema));
  auto b = OpenOrDie(Options(schema));
  ASSERT_TRUE(IsOk(a->Subscribe("agents", [&](const std::string& p) {
    std::lock_guard lock(mu);
    got_a.push_back(p);
    cv.notify_all();
  })));
  ASSERT_TRUE(IsOk(b->Subscribe("agents", [&](const std::string& p) {
    std::lock_guard lock(mu);
    got_b.push_back(p);
    cv.notify_all();
  })));
  // LISTEN takes effect when the listener thread has run it: publish until both have heard.
  std::unique_lock lock(mu);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got_a.empty() || got_b.empty()) {
    lock.unlock();
    a->Publish("agents", "agt_1");
    lock.lock();
    if (cv.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() +
                                                   std::chrono::milliseconds(100))) ==
            std::cv_status::timeout &&
        std::chrono::steady_clock::now() >= deadline) {
      break;
    }
  }
  ASSERT_FALSE(got_a.empty());
  ASSERT_FALSE(got_b.empty());
  EXPECT_EQ(got_a.front(), "agt_1");
  EXPECT_EQ(got_b.front(), "agt_1");
  lock.unlock();
}

// migrate-store: an SQLite installation's rows, copied, read back through the PostgreSQL store.
TEST(PostgresStoreTest, MigrateCopiesEveryRowFromSqlite) {
  const std::string path =
      ::testing::TempDir() + "cf-migrate-" + std::to_string(::getpid()) + ".db";
  std::filesystem::remove(path);
  const auto a1 = MakeAccount(1);
  const auto cert = testing::MakeCertificate(a1.id, 1);
  {
    auto sqlite = OpenSqliteStore({.path = path});
    ASSERT_TRUE(IsOk(sqlite));
    auto tx = (*sqlite)->Begin();
    ASSERT_TRUE(IsOk(tx));
    Tx& t = **tx;
    ASSERT_TRUE(IsOk(t.accounts().Insert(a1)));
    ASSERT_TRUE(IsOk(t.blobs().Insert(testing::MakeBlob(1, "kek_a"))));
    ASSERT_TRUE(IsOk(t.certificates().Insert(cert)));
    const auto version = testing::MakeVersion(cert.id, 1, 1);
    ASSERT_TRUE(IsOk(t.versions().Insert(version)));
    auto issued = cert;
    issued.status = model::CertificateStatus::kIssued;
    issued.current_version_id = version.id;
    ASSERT_TRUE(IsOk(t.certificates().Update(issued)));
    for (int64_t seq = 1; seq <= 3; ++seq) {
      ASSERT_TRUE(IsOk(t.audit().Insert(testing::MakeAudit(seq, a1.id, "", T(seq)))));
    }
    for (int i = 1; i <= 2; ++i) {
      model::Event e{.id = TestId("evt", i), .account_id = a1.id, .type = "t", .subject = cert.id};
      e.time = T(i);
      ASSERT_TRUE(IsOk(t.events().Append(e)));
    }
    // The ACME server's chain of rows (issue #16): copied parents first, as the foreign keys
    // need.
    auto& acme = t.acme_server();
    ASSERT_TRUE(IsOk(acme.InsertEabKey({.kid = "eab_1",
                                        .account_id = a1.id,
                                        .principal_id = "prn_1",
                                        .hmac_blob_id = "blb_1",
                                        .tags = {{"env", "prod"}},
                                        .created_by = "prn_1",
                                        .created_at = T(1)})));
    ASSERT_TRUE(IsOk(acme.InsertAccount({.id = "acct_1",
                                         .account_id = a1.id,
                                         .principal_id = "prn_1",
                                         .eab_kid = "eab_1",
                                         .jwk_thumbprint = "thumb",
                                         .jwk = "{}",
                                         .status = "valid",
                                         .contact = {"mailto:a@example.test"},
                                         .created_at = T(2),
                                         .updated_at = T(2)})));
    auto bound = acme.BindEabKey("eab_1", "acct_1", T(2));
    ASSERT_TRUE(IsOk(bound));
    ASSERT_TRUE(*bound);
    ASSERT_TRUE(IsOk(acme.InsertOrder({.id = "ord_1",
                                       .acme_account_id = "acct_1",
                                       .account_id = a1.id,
                                       .status = "pending",
                                       .identifiers = {{.type = "dns", .value = "a.example.test"}},
                                       .profile = "tls-server",
                                       .expires_at = T(100),
                                       .created_at = T(3),
                                       .updated_at = T(3)})));
    ASSERT_TRUE(IsOk(acme.InsertAuthz({.id = "az_1",
                                       .order_id = "ord_1",
                                       .acme_account_id = "acct_1",
                                       .account_id = a1.id,
                                       .identifier = {.type = "dns", .value = "a.example.test"},
                                       .wildcard = true,
                                       .status = "pending",
                                       .expires_at = T(100),
                                       .created_at = T(3),
                                       .updated_at = T(3)})));
    ASSERT_TRUE(IsOk(acme.InsertChallenge({.id = "ch_1",
                                           .authz_id = "az_1",
                                           .account_id = a1.id,
                                           .type = "http-01",
                                           .token = "tok",
                                           .status = "valid",
                                           .validated_at = T(4),
                                           .updated_at = T(4)})));
    ASSERT_TRUE(IsOk(t.Commit()));
  }
  const auto schema = FreshSchema();
  auto report = MigrateSqliteToPostgres(path, Options(schema));
  ASSERT_TRUE(IsOk(report));
  EXPECT_EQ(report->total_rows, 1 + 1 + 1 + 1 + 3 + 2 + 5);
  auto pg = OpenOrDie(Options(schema));
  auto tx = pg->Begin();
  ASSERT_TRUE(IsOk(tx));
  auto got = (*tx)->certificates().Get(cert.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->domains, cert.domains);
  EXPECT_EQ(got->tags, cert.tags);
  auto blob = (*tx)->blobs().Get(testing::MakeBlob(1, "kek_a").id);
  ASSERT_TRUE(IsOk(blob));
  EXPECT_EQ(blob->ciphertext, testing::MakeBlob(1, "kek_a").ciphertext);
  auto audit = (*tx)->audit().List({});
  ASSERT_TRUE(IsOk(audit));
  ASSERT_EQ(audit->size(), 3u);
  EXPECT_EQ(audit->back().hash, testing::MakeAudit(3, a1.id, "", T(3)).hash);
  // The certificate has a current version and no plan: the destination's triggers rebuilt the
  // unplanned set rather than losing it.
  auto unplanned = (*tx)->renewals().CountUnplanned();
  ASSERT_TRUE(IsOk(unplanned));
  EXPECT_EQ(*unplanned, 1);
  auto& acme = (*tx)->acme_server();
  auto eab = acme.GetEabKey("eab_1");
  ASSERT_TRUE(IsOk(eab));
  ASSERT_TRUE(eab->has_value());
  EXPECT_EQ((*eab)->bound_to, "acct_1");
  EXPECT_EQ((*eab)->tags, (model::Tags{{"env", "prod"}}));
  EXPECT_FALSE((*eab)->expires_at.has_value());
  auto acct = acme.FindAccountByThumbprint("thumb");
  ASSERT_TRUE(IsOk(acct));
  ASSERT_TRUE(acct->has_value());
  EXPECT_EQ((*acct)->contact, std::vector<std::string>{"mailto:a@example.test"});
  auto orders = acme.ListOrders("acct_1", "", 10);
  ASSERT_TRUE(IsOk(orders));
  ASSERT_EQ(orders->size(), 1u);
  EXPECT_EQ(orders->front().identifiers[0].value, "a.example.test");
  EXPECT_TRUE((*acme.GetAuthz("az_1"))->wildcard);
  EXPECT_EQ((*acme.GetChallenge("ch_1"))->validated_at, std::optional<TimePoint>(T(4)));
  EXPECT_EQ(*acme.CountPendingAuthzs(a1.id, T(0)), 1);
  // New events continue after the copied ones.
  model::Event next{.id = TestId("evt", 3), .account_id = a1.id, .type = "t", .subject = cert.id};
  next.time = T(3);
  auto seq = (*tx)->events().Append(next);
  ASSERT_TRUE(IsOk(seq));
  EXPECT_EQ(*seq, 3);
  ASSERT_TRUE(IsOk((*tx)->Commit()));
  // A second run finds data and refuses, changing nothing.
  auto again = MigrateSqliteToPostgres(path, Options(schema));
  ASSERT_TRUE(HasCode(again, ErrorCode::kFailedPrecondition));
  EXPECT_NE(again.error().message().find("already holds data"), std::string::npos);
  EXPECT_TRUE(HasCode(MigrateSqliteToPostgres(path + ".absent", Options(FreshSchema())),
                      ErrorCode::kInvalidArgument));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace certfleet::store
