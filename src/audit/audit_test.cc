#include <gtest/gtest.h>
#include <sqlite3.h>

#include "audit/audit_log.h"
#include "fakes/pki_env.h"

namespace certfleet::audit {
namespace {

class AuditTest : public ::testing::Test {
 protected:
  void AppendN(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(log_.Record({.account_id = "acc_a",
                               .principal_id = "prn_" + std::to_string(i % 3),
                               .action = "certificate.request",
                               .resource = "crt_" + std::to_string(i),
                               .status = 201,
                               .source = "127.0.0.1:1"})
                      .ok());
    }
  }
  // Edits the SQLite file directly, as an attacker with file access would.
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(env_.dir.file("certfleet.db").c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }

  testing::PkiEnv env_;
  AuditLog log_{*env_.store, env_.clock, SystemRandomSource()};
};

TEST_F(AuditTest, IntactChainVerifies) {
  AppendN(25);
  auto r = log_.Verify();
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(r->ok) << r->reason;
  EXPECT_EQ(r->checked, 25);
  auto tx = env_.store->Begin();
  auto page = (*tx)->audit().List({.principal_id = "prn_1"});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->size(), 8u);
  EXPECT_EQ((*page)[0].prev_hash.size(), 64u);
}

TEST_F(AuditTest, ChangedRecordIsNamed) {
  AppendN(10);
  Sql("UPDATE audit_records SET detail = 'innocent' WHERE seq = 4");
  auto r = log_.Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->first_bad_seq, 4);
  EXPECT_NE(r->reason.find("changed"), std::string::npos);
}

TEST_F(AuditTest, RemovedRecordIsNamed) {
  AppendN(10);
  Sql("DELETE FROM audit_records WHERE seq = 6");
  auto r = log_.Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->first_bad_seq, 6);
}

TEST_F(AuditTest, TruncatedTailIsDetected) {
  AppendN(10);
  Sql("DELETE FROM audit_records WHERE seq >= 9");
  auto r = log_.Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->first_bad_seq, 9);
}

TEST_F(AuditTest, ReorderedRecordsAreDetected) {
  AppendN(10);
  // Swap the contents of records 3 and 7 while keeping their seq numbers.
  Sql("UPDATE audit_records SET seq = -3 WHERE seq = 3;"
      "UPDATE audit_records SET seq = 3 WHERE seq = 7;"
      "UPDATE audit_records SET seq = 7 WHERE seq = -3;");
  auto r = log_.Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->first_bad_seq, 3);
}

TEST_F(AuditTest, RollbackLeavesNoRecord) {
  {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(log_.Append(**tx, {.action = "x"}).ok());
  }
  AppendN(1);
  auto r = log_.Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->reason;
  EXPECT_EQ(r->checked, 1);
}

}  // namespace
}  // namespace certfleet::audit
