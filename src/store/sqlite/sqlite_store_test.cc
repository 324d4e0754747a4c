// The SQLite backend: the conformance suite over an in-memory and a file database, then what
// only SQLite has: file modes, persistence, migrations, WAL, busy handling across connections.
#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/conformance_test.h"
#include "store/sql/rows.h"
#include "store/sqlite/db.h"
#include "store/sqlite/migrations.h"

namespace certfleet::store {
namespace {

using testing::HasCode;
using testing::IsOk;
using testing::MakeAccount;
using testing::MakeAudit;
using testing::MakeCertificate;
using testing::MakeGrant;
using testing::MakePolicy;
using testing::StoreBackend;
using testing::StoreConformanceTest;
using testing::TestId;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "cf-store-XXXXXX";
    CF_CHECK(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// One directory for every file-backed conformance store in this process.
TempDir& SharedDir() {
  static auto* dir = new TempDir();
  return *dir;
}

// Removes SharedDir at exit (it is leaked on purpose so no test outlives it).
class SharedDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(SharedDir().File("")), ec);
  }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new SharedDirCleanup);

std::unique_ptr<Store> OpenOrDie(const SqliteOptions& o) {
  auto s = OpenSqliteStore(o);
  CF_CHECK(s.ok());
  return std::move(*s);
}

INSTANTIATE_TEST_SUITE_P(
    Sqlite, StoreConformanceTest,
    ::testing::Values(StoreBackend{"Memory", [] { return OpenOrDie({.path = ":memory:"}); }},
                      StoreBackend{"File",
                                   [] {
                                     static std::atomic<int> n{0};
                                     return OpenOrDie({.path = SharedDir().File(
                                                           "conf-" + std::to_string(++n) + ".db")});
                                   }}),
    testing::StoreBackendName);

// ---- raw access, for checking what the store wrote

struct RawDb {
  explicit RawDb(const std::string& path) {
    CF_CHECK(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db); }
  int Exec(const std::string& sql) {
    return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  }
  std::string Scalar(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    CF_CHECK(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return out;
  }
  sqlite3* db = nullptr;
};

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

TEST(SqliteStoreTest, DatabaseWalAndShmAreOwnerOnlyWhateverTheUmask) {
  TempDir dir;
  const std::string path = dir.File("c.db");
  const mode_t old = ::umask(0);  // the most permissive umask: modes must not depend on it
  auto store = OpenSqliteStore({.path = path});
  ::umask(old);
  ASSERT_TRUE(IsOk(store));
  auto tx = (*store)->Begin();
  ASSERT_TRUE(IsOk(tx));
  ASSERT_TRUE(IsOk((*tx)->accounts().Insert(MakeAccount(1))));
  ASSERT_TRUE(IsOk((*tx)->Commit()));
  for (const char* suffix : {"", "-wal", "-shm"}) {
    SCOPED_TRACE(suffix);
    ASSERT_TRUE(std::filesystem::exists(path + suffix));
    EXPECT_EQ(ModeOf(path + suffix), 0600u);
  }
}

TEST(SqliteStoreTest, DataPersistsAfterReopen) {
  TempDir dir;
  const std::string path = dir.File("c.db");
  {
    auto store = OpenOrDie({.path = path});
    auto tx = store->Begin();
    ASSERT_TRUE(IsOk(tx));
    ASSERT_TRUE(IsOk((*tx)->accounts().Insert(MakeAccount(1))));
    ASSERT_TRUE(IsOk((*tx)->certificates().Insert(MakeCertificate(MakeAccount(1).id, 1))));
    ASSERT_TRUE(IsOk((*tx)->Commit()));
  }
  auto store = OpenOrDie({.path = path});
  auto tx = store->Begin();
  ASSERT_TRUE(IsOk(tx));
  auto c = (*tx)->certificates().Get(TestId(model::kCertificatePrefix, 1));
  ASSERT_TRUE(IsOk(c));
  EXPECT_EQ(c->domains, MakeCertificate(MakeAccount(1).id, 1).domains);
}

TEST(SqliteStoreTest, MigrationsAreIdempotentOnReopen) {
  TempDir dir;
  const std::string path = dir.File("c.db");
  for (int i = 0; i < 3; ++i) {
    auto store = OpenOrDie({.path = path});
    auto v = store->SchemaVersion();
    ASSERT_TRUE(IsOk(v));
    EXPECT_EQ(*v, sqlite::LatestSchemaVersion());
  }
  RawDb raw(path);
  EXPECT_EQ(raw.Scalar("SELECT COUNT(*) FROM schema_migrations"),
            std::to_string(sqlite::LatestSchemaVersion()));
  EXPECT_EQ(raw.Scalar("PRAGMA journal_mode"), "wal");
}

TEST(SqliteStoreTest, SchemaVersionIsLatest) {
  auto store = OpenOrDie({.path = ":memory:"});
  auto v = store->SchemaVersion();
  ASSERT_TRUE(IsOk(v));
  EXPECT_EQ(*v, sqlite::LatestSchemaVersion());
  EXPECT_GE(*v, 1);
}

TEST(SqliteStoreTest, RefusesADatabaseFromANewerBinary) {
  TempDir dir;
  const std::string path = dir.File("c.db");
  OpenOrDie({.path = path}).reset();
  {
    RawDb raw(path);
    ASSERT_EQ(raw.Exec("INSERT INTO schema_migrations VALUES (999, 0)"), SQLITE_OK);
  }
  auto store = OpenSqliteStore({.path = path});
  EXPECT_TRUE(HasCode(store, ErrorCode::kFailedPrecondition));
}

TEST(SqliteStoreTest, ImmutableCertificateColumnsResistRawSql) {
  TempDir dir;
  const std::string path = dir.File("c.db");
  {
    auto store = OpenOrDie({.path = path});
    auto tx = store->Begin();
    ASSERT_TRUE(IsOk(tx));
    ASSERT_TRUE(IsOk((*tx)->accounts().Insert(MakeAccount(1))));
    auto c = MakeCertificate(MakeAccount(1).id, 1);
    c.exportable = false;
    ASSERT_TRUE(IsOk((*tx)->certificates().Insert(c)));
    ASSERT_TRUE(IsOk((*tx)->Commit()));
  }
  RawDb raw(path);
  for (const char* set : {"exportable = 1", "profile = 'x'", "key_type = 'x'", "domains = '[]'",
                          "account_id = 'acc_x'"}) {
    SCOPED_TRACE(set);
    EXPECT_EQ(raw.Exec(std::string("UPDATE certificates SET ") + set) & 0xff, SQLITE_CONSTRAINT);
  }
  EXPECT_EQ(raw.Scalar("SELECT exportable FROM certificates"), "0");
  // Unchanged values pass (the trigger compares old and new).
  EXPECT_EQ(raw.Exec("UPDATE certificates SET exportable = 0, status = 'issued'"), SQLITE_OK);
}

TEST(SqliteStoreTest, Migration2UpgradesAVersion1DatabaseKeepingItsRows) {
  TempDir dir;
  const std::string path = dir.File("c.db");
  {
    // A database as a binary that knew only migration 1 left it.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const std::string v1(sqlite::Migrations()[0]);
    const std::string sql =
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT "
        "NULL) STRICT;" +
        v1 + "INSERT INTO schema_migrations VALUES (1, 0);" + "INSERT INTO accounts VALUES ('" +
        MakeAccount(1).id + "', 'account-1', 0);";
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  ::chmod(path.c_str(), 0600);
  auto store = OpenOrDie({.path = path});
  auto v = store->SchemaVersion();
  ASSERT_TRUE(IsOk(v));
  EXPECT_EQ(*v, sqlite::LatestSchemaVersion());
  EXPECT_GE(*v, 2);
  auto tx = store->Begin();
  ASSERT_TRUE(IsOk(tx));
  ASSERT_TRUE(IsOk((*tx)->accounts().Get(MakeAccount(1).id)));
  ASSERT_TRUE(IsOk((*tx)->accounts().Insert(MakeAccount(2))));
  EXPECT_TRUE(IsOk((*tx)->grants().Insert(MakeGrant(MakeAccount(1).id, MakeAccount(2).id, 1))));
  EXPECT_TRUE(IsOk((*tx)->policies().Put(MakePolicy(MakeAccount(1).id, 1, testing::T()))));
  EXPECT_TRUE(IsOk((*tx)->audit().Insert(MakeAudit(1, MakeAccount(1).id, "", testing::T()))));
  EXPECT_TRUE(IsOk((*tx)->Commit()));
}

TEST(SqliteStoreTest, Migration4UpgradesAVersion3DatabaseWithStrictTables) {
  TempDir dir;
  const std::string path = dir.File("c.db");
  {
    // A database as a binary that knew only migrations 1 to 3 left it.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    std::string sql =
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT "
        "NULL) STRICT;";
    for (int v = 1; v <= 3; ++v) {
      sql += std::string(sqlite::Migrations()[v - 1]);
      sql += "INSERT INTO schema_migrations VALUES (" + std::to_string(v) + ", 0);";
    }
    sql += "INSERT INTO accounts VALUES ('" + MakeAccount(1).id + "', 'account-1', 0);";
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  ::chmod(path.c_str(), 0600);
  {
    auto store = OpenOrDie({.path = path});
    auto v = store->SchemaVersion();
    ASSERT_TRUE(IsOk(v));
    EXPECT_EQ(*v, sqlite::LatestSchemaVersion());
    EXPECT_GE(*v, 4);
    auto tx = store->Begin();
    ASSERT_TRUE(IsOk(tx));
    ASSERT_TRUE(IsOk((*tx)->accounts().Get(MakeAccount(1).id)));
    model::EnrollmentToken t{.id = TestId(model::kEnrollmentTokenPrefix, 1),
                             .account_id = MakeAccount(1).id,
                             .hash_hex = "h1",
                             .created_at = testing::T(),
                             .expires_at = testing::T(3600)};
    EXPECT_TRUE(IsOk((*tx)->enrollment_tokens().Insert(t)));
    EXPECT_TRUE(IsOk((*tx)->Commit()));
  }
  RawDb raw(path);
  for (const char* table : {"agents", "enrollment_tokens", "deployments", "deployment_targets"}) {
    SCOPED_TRACE(table);
    EXPECT_EQ(raw.Scalar(std::string("SELECT strict FROM pragma_table_list WHERE name = '") +
                         table + "'"),
              "1");
  }
  // STRICT: a wrongly typed value is refused rather than coerced.
  EXPECT_EQ(raw.Exec("UPDATE enrollment_tokens SET expires_at = 'soon'") & 0xff, SQLITE_CONSTRAINT);
}

// The audit log's tamper evidence is its hash chain (src/audit), and its tests prove that by
// editing rows with raw SQL. The schema must therefore not refuse such edits: a trigger would
// stop only honest SQL, never someone who can write the file.
TEST(SqliteStoreTest, AuditRecordsCanBeEditedWithRawSql) {
  TempDir dir;
  const std::string path = dir.File("c.db");
  {
    auto store = OpenOrDie({.path = path});
    auto tx = store->Begin();
    ASSERT_TRUE(IsOk(tx));
    for (int seq = 1; seq <= 7; ++seq) {
      ASSERT_TRUE(IsOk((*tx)->audit().Insert(MakeAudit(seq, "acc_a", "prn_a", testing::T()))));
    }
    ASSERT_TRUE(IsOk((*tx)->Commit()));
  }
  RawDb raw(path);
  EXPECT_EQ(raw.Exec("UPDATE audit_records SET detail = 'innocent' WHERE seq = 4"), SQLITE_OK);
  EXPECT_EQ(raw.Exec("DELETE FROM audit_records WHERE seq = 6"), SQLITE_OK);
  EXPECT_EQ(raw.Exec("UPDATE audit_records SET seq = -3 WHERE seq = 3;"
                     "UPDATE audit_records SET seq = 3 WHERE seq = 7;"
                     "UPDATE audit_records SET seq = 7 WHERE seq = -3;"),
            SQLITE_OK);
  auto store = OpenOrDie({.path = path});
  auto tx = store->Begin();
  ASSERT_TRUE(IsOk(tx));
  auto all = (*tx)->audit().List({});
  ASSERT_TRUE(IsOk(all));
  ASSERT_EQ(all->size(), 6u);
  EXPECT_EQ((*all)[2].seq, 3);
  EXPECT_EQ((*all)[2].id, TestId(model::kAuditPrefix, 7));
  EXPECT_EQ((*all)[3].detail, "innocent");
  EXPECT_EQ((*all)[5].id, TestId(model::kAuditPrefix, 3));
}

TEST(SqliteStoreTest, RejectsBadOptionsAndSymlinks) {
  EXPECT_TRUE(HasCode(OpenSqliteStore({.path = ""}), ErrorCode::kInvalidArgument));
  EXPECT_TRUE(HasCode(OpenSqliteStore({.path = ":memory:", .busy_timeout_ms = -1}),
                      ErrorCode::kInvalidArgument));
  TempDir dir;
  OpenOrDie({.path = dir.File("real.db")}).reset();
  ASSERT_EQ(::symlink(dir.File("real.db").c_str(), dir.File("link.db").c_str()), 0);
  EXPECT_FALSE(OpenSqliteStore({.path = dir.File("link.db")}).ok());
  EXPECT_TRUE(
      HasCode(OpenSqliteStore({.path = dir.File("no/such/dir.db")}), ErrorCode::kUnavailable));
}

TEST(SqliteStoreTest, InvalidUtf8InTagsIsInvalidArgument) {
  auto store = OpenOrDie({.path = ":memory:"});
  auto tx = store->Begin();
  ASSERT_TRUE(IsOk(tx));
  ASSERT_TRUE(IsOk((*tx)->accounts().Insert(MakeAccount(1))));
  auto c = MakeCertificate(MakeAccount(1).id, 1);
  c.tags = {{"env", "\xff\xfe"}};
  EXPECT_TRUE(HasCode((*tx)->certificates().Insert(c), ErrorCode::kInvalidArgument));
}

TEST(SqliteStoreTest, WriterInAnotherProcessGivesRetryableUnavailable) {
  TempDir dir;
  const std::string path = dir.File("c.db");
  // Two stores on one file behave like two processes: only SQLite's lock arbitrates.
  auto a = OpenOrDie({.path = path, .busy_timeout_ms = 100});
  auto b = OpenOrDie({.path = path, .busy_timeout_ms = 100});
  auto held = a->Begin();
  ASSERT_TRUE(IsOk(held));
  const auto start = std::chrono::steady_clock::now();
  auto blocked = b->Begin();
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(HasCode(blocked, ErrorCode::kUnavailable));
  EXPECT_TRUE(blocked.error().retryable());
  EXPECT_GE(waited, std::chrono::milliseconds(90));
  // Readers are not blocked by the writer (WAL).
  EXPECT_TRUE(IsOk(b->SchemaVersion()));
  held->reset();
  EXPECT_TRUE(IsOk(b->Begin()));
}

TEST(SqliteStoreTest, InProcessBeginWaitsForTheWriterSlotThenGivesUp) {
  auto store = OpenOrDie({.path = ":memory:", .busy_timeout_ms = 50});
  auto held = store->Begin();
  ASSERT_TRUE(IsOk(held));
  auto blocked = store->Begin();
  ASSERT_TRUE(HasCode(blocked, ErrorCode::kUnavailable));
  EXPECT_TRUE(blocked.error().retryable());
}

// The query plan's detail lines (EXPLAIN QUERY PLAN) for `sql`.
std::vector<std::string> QueryPlan(RawDb& raw, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  CF_CHECK(sqlite3_prepare_v2(raw.db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &s, nullptr) ==
           SQLITE_OK);
  std::vector<std::string> details;
  while (sqlite3_step(s) == SQLITE_ROW) {
    details.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 3)));
  }
  sqlite3_finalize(s);
  return details;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

// Issue #14: the renewal sweep must never read each certificate. Both of its queries are range
// scans over an index (the due time, the unplanned set) with point reads per row found, and
// sort nothing; with or without ANALYZE statistics.
TEST(SqliteStoreTest, RenewalSweepQueriesAreIndexRangeScans) {
  TempDir dir;
  const std::string path = dir.File("plan.db");
  {
    auto store = OpenOrDie({.path = path});
    auto tx = store->Begin();
    ASSERT_TRUE(IsOk(tx));
    ASSERT_TRUE(IsOk((*tx)->accounts().Insert(MakeAccount(1))));
    for (int n = 1; n <= 20; ++n) {
      model::Certificate c = MakeCertificate(MakeAccount(1).id, n);
      model::CertificateVersion v = testing::MakeVersion(c.id, 1, n);
      c.status = model::CertificateStatus::kIssued;
      c.current_version_id = v.id;
      ASSERT_TRUE(IsOk((*tx)->certificates().Insert(c)));
      ASSERT_TRUE(IsOk((*tx)->versions().Insert(v)));
      if (n % 2 == 0) {
        ASSERT_TRUE(IsOk((*tx)->renewals().Put(
            {.certificate_id = c.id, .version_id = v.id, .next_attempt_at = testing::T(n)})));
      }
    }
    ASSERT_TRUE(IsOk((*tx)->Commit()));
  }
  RawDb raw(path);
  for (bool analyzed : {false, true}) {
    SCOPED_TRACE(analyzed ? "after ANALYZE" : "no statistics");
    if (analyzed) {
      ASSERT_EQ(raw.Exec("ANALYZE"), SQLITE_OK);
    }
    const auto due = QueryPlan(raw, sql::RenewalDueSql(sql::Dialect::kSqlite));
    const auto unplanned = QueryPlan(raw, sql::RenewalUnplannedSql(sql::Dialect::kSqlite));
    ASSERT_FALSE(due.empty());
    ASSERT_FALSE(unplanned.empty());
    EXPECT_EQ(due[0].rfind("SEARCH r USING INDEX renewal_states_due (next_attempt_at<?)", 0), 0u)
        << Joined(due);
    EXPECT_EQ(unplanned[0].rfind("SEARCH u USING PRIMARY KEY (certificate_id>?)", 0), 0u)
        << Joined(unplanned);
    for (const auto* plan : {&due, &unplanned}) {
      for (const std::string& line : *plan) {
        EXPECT_NE(line.rfind("SCAN", 0), 0u) << Joined(*plan);
        EXPECT_EQ(line.find("TEMP B-TREE"), std::string::npos) << Joined(*plan);
      }
    }
  }
}

TEST(SqliteStoreTest, ConcurrentCommitsShareDurableCommitsAndAllSurvive) {
  TempDir dir;
  const std::string path = dir.File("group.db");
  constexpr int kThreads = 16, kPerThread = 40;
  {
    auto store = OpenOrDie({.path = path});
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          auto tx = store->Begin();
          if (!tx.ok() ||
              !(*tx)
                   ->serials()
                   .Reserve("g" + std::to_string(t) + "-" + std::to_string(i), "cak", testing::T())
                   .ok() ||
              !(*tx)->Commit().ok()) {
            ++failures;
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    auto stats = SqliteStatsOf(*store);
    ASSERT_TRUE(stats.has_value());
    EXPECT_EQ(stats->transactions, uint64_t{kThreads * kPerThread});
    // Sixteen writers contending: far fewer durable commits than transactions.
    EXPECT_LT(stats->batches, stats->transactions);
    std::printf("[ measure  ] %llu transactions in %llu durable commits\n",
                static_cast<unsigned long long>(stats->transactions),
                static_cast<unsigned long long>(stats->batches));
  }
  // Every acknowledged commit is in the file, read back by a fresh store.
  auto reopened = OpenOrDie({.path = path});
  auto tx = reopened->BeginRead();
  ASSERT_TRUE(IsOk(tx));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      auto found = (*tx)->serials().Exists("g" + std::to_string(t) + "-" + std::to_string(i));
      ASSERT_TRUE(IsOk(found));
      EXPECT_TRUE(*found) << t << "-" << i;
    }
  }
}

TEST(SqliteStoreTest, ARolledBackMemberLeavesTheRestOfItsBatch) {
  TempDir dir;
  auto store = OpenOrDie({.path = dir.File("member.db")});
  auto first = store->Begin();
  ASSERT_TRUE(IsOk(first));
  ASSERT_TRUE(IsOk((*first)->serials().Reserve("kept", "cak", testing::T())));
  // A second writer queues for the slot; the first commit hands the slot over to it and joins
  // the batch it then rolls back.
  std::thread second([&] {
    auto tx = store->Begin();
    ASSERT_TRUE(IsOk(tx));
    ASSERT_TRUE(IsOk((*tx)->serials().Reserve("dropped", "cak", testing::T())));
    // Destroyed without Commit().
  });
  while (SqliteStatsOf(*store)->waiting == 0) std::this_thread::yield();
  EXPECT_TRUE(IsOk((*first)->Commit()));
  second.join();
  auto stats = SqliteStatsOf(*store);
  EXPECT_EQ(stats->transactions, 1u);
  EXPECT_EQ(stats->batches, 1u);
  auto read = store->BeginRead();
  ASSERT_TRUE(IsOk(read));
  EXPECT_TRUE(*(*read)->serials().Exists("kept"));
  EXPECT_FALSE(*(*read)->serials().Exists("dropped"));
}

TEST(SqliteStoreTest, ReadersSeeOnlyCommittedDataAndCannotWrite) {
  TempDir dir;
  auto store = OpenOrDie({.path = dir.File("read.db")});
  auto writer = store->Begin();
  ASSERT_TRUE(IsOk(writer));
  ASSERT_TRUE(IsOk((*writer)->serials().Reserve("pending", "cak", testing::T())));
  auto reader = store->BeginRead();  // does not wait for the writer
  ASSERT_TRUE(IsOk(reader));
  EXPECT_FALSE(*(*reader)->serials().Exists("pending"));
  EXPECT_FALSE(IsOk((*reader)->serials().Reserve("sneaky", "cak", testing::T())));
  reader->reset();
  ASSERT_TRUE(IsOk((*writer)->Commit()));
  auto after = store->BeginRead();
  ASSERT_TRUE(IsOk(after));
  EXPECT_TRUE(*(*after)->serials().Exists("pending"));
  EXPECT_FALSE(*(*after)->serials().Exists("sneaky"));
}

// Prints (does not assert) single-row commits per second, the cost that matters for
// throughput of the durable path (RECIPES.md: group operations per Tx on hot paths).
TEST(SqliteStoreTest, MeasureSyncedSingleRowCommitsPerSecond) {
  for (bool full : {true, false}) {
    TempDir dir;
    auto store = OpenOrDie({.path = dir.File("bench.db"), .synchronous_full = full});
    constexpr int kCommits = 500;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kCommits; ++i) {
      auto tx = store->Begin();
      ASSERT_TRUE(IsOk(tx));
      ASSERT_TRUE(IsOk((*tx)->serials().Reserve("s" + std::to_string(i), "cak", testing::T())));
      ASSERT_TRUE(IsOk((*tx)->Commit()));
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[ measure  ] synchronous=%s: %d single-row commits in %.3f s = %.0f commits/s\n",
                full ? "FULL" : "NORMAL", kCommits, secs, kCommits / secs);
  }
}

}  // namespace
}  // namespace certfleet::store
