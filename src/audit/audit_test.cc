#include <gtest/gtest.h>
#include <sqlite3.h>

#include "audit/audit_log.h"
#include "base/encoding.h"
#include "crypto/hash.h"
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

  void SetUp() override { ASSERT_TRUE(log_.Start().ok()); }

  // Rewrites records from `from` on as the unkeyed scheme of issue #3 computed them: one global
  // chain, hash = SHA-256(prev_hash || CanonicalBytes), optionally claiming that scheme, and
  // moves the unkeyed head to the end. This is what someone with write access to the file but
  // without the key can do.
  void RecomputeUnkeyed(int64_t from, bool claim_unkeyed) {
    auto tx = env_.store->Begin();
    auto all = (*tx)->audit().List({.limit = 100000});
    ASSERT_TRUE(all.ok());
    tx->reset();
    std::string prev(64, '0');
    std::string sql;
    for (model::AuditRecord r : *all) {
      if (r.seq >= from) {
        if (claim_unkeyed) r.scheme = kSchemeUnkeyed;
        r.prev_hash = prev;
        r.hash = ChainHash(prev, r);
        sql += "UPDATE audit_records SET prev_hash='" + r.prev_hash + "', hash='" + r.hash +
               "', scheme='" + r.scheme + "' WHERE seq=" + std::to_string(r.seq) + ";";
      }
      prev = r.hash;
    }
    sql += "UPDATE settings SET value='" + std::to_string(all->back().seq) + ":" + prev +
           "' WHERE key='audit.head';";
    Sql(sql);
  }

  testing::PkiEnv env_;
  AuditLog log_{*env_.store, env_.clock, SystemRandomSource(),
                SecretBytes::FromView(std::string(32, 'k'))};
};

TEST_F(AuditTest, RecordsAreKeyed) {
  AppendN(3);
  auto tx = env_.store->Begin();
  auto all = (*tx)->audit().List({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  for (const auto& r : *all) {
    EXPECT_EQ(r.scheme, kSchemeKeyed);
    EXPECT_EQ(r.hash, KeyedChainHash(SecretBytes::FromView(std::string(32, 'k')), r.prev_hash, r));
    EXPECT_NE(r.hash, ChainHash(r.prev_hash, r));
  }
  EXPECT_EQ((*all)[1].prev_seq, 1);
  EXPECT_EQ((*all)[1].prev_hash, (*all)[0].hash);
}

TEST_F(AuditTest, RewriteWithUnkeyedHashesIsDetected) {
  AppendN(8);
  Sql("UPDATE audit_records SET detail = 'innocent' WHERE seq = 5");
  RecomputeUnkeyed(5, /*claim_unkeyed=*/false);
  auto r = log_.Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->first_bad_seq, 5) << r->reason;
}

TEST_F(AuditTest, RecordsClaimingTheOldSchemeAfterKeyingAreDetected) {
  AppendN(8);
  Sql("UPDATE audit_records SET detail = 'innocent' WHERE seq = 5");
  RecomputeUnkeyed(5, /*claim_unkeyed=*/true);
  auto r = log_.Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->first_bad_seq, 5);
  EXPECT_NE(r->reason.find("unkeyed scheme after keying began"), std::string::npos) << r->reason;
  // Rewriting all of it, as if keying never began, leaves the keying marker behind...
  RecomputeUnkeyed(1, /*claim_unkeyed=*/true);
  r = log_.Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->first_bad_seq, 1);
  // ...and removing that marker is detected too: the key exists, so the marker must.
  Sql("DELETE FROM settings WHERE key = 'audit.keyed_from'");
  r = log_.Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->reason.find("missing"), std::string::npos) << r->reason;
}

TEST_F(AuditTest, AnotherKeyDoesNotVerify) {
  AppendN(3);
  AuditLog other(*env_.store, env_.clock, SystemRandomSource(),
                 SecretBytes::FromView(std::string(32, 'x')));
  auto r = other.Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
}

TEST_F(AuditTest, AccountsHaveTheirOwnChains) {
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(log_.Record({.account_id = i % 2 ? "acc_b" : "acc_a", .action = "x"}).ok());
  }
  ASSERT_TRUE(log_.Record({.action = "auth.failed", .status = 401}).ok());  // system chain
  auto tx = env_.store->Begin();
  auto b = (*tx)->audit().List({.account_id = "acc_b"});
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 3u);
  EXPECT_EQ((*b)[1].prev_seq, (*b)[0].seq);  // linked within the account, not globally
  tx->reset();
  for (const char* account : {"acc_a", "acc_b", ""}) {
    auto r = log_.VerifyAccount(account);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->ok) << account << ": " << r->reason;
  }
  EXPECT_EQ(log_.VerifyAccount("acc_a")->checked, 3);

  // Record 4 belongs to acc_b: acc_a's chain stays intact, acc_b's and the global view name it.
  Sql("UPDATE audit_records SET detail = 'innocent' WHERE seq = 4");
  EXPECT_TRUE(log_.VerifyAccount("acc_a")->ok);
  auto rb = log_.VerifyAccount("acc_b");
  EXPECT_FALSE(rb->ok);
  EXPECT_EQ(rb->first_bad_seq, 4);
  EXPECT_EQ(log_.Verify()->first_bad_seq, 4);
}

TEST_F(AuditTest, RecordRemovedFromAnAccountChainIsNamed) {
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(log_.Record({.account_id = i % 2 ? "acc_b" : "acc_a", .action = "x"}).ok());
  }
  Sql("DELETE FROM audit_records WHERE seq = 3");  // acc_a's second record
  auto r = log_.VerifyAccount("acc_a");
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->first_bad_seq, 3) << r->reason;
  EXPECT_TRUE(log_.VerifyAccount("acc_b")->ok);
  // Moving a record to another account breaks both chains.
  Sql("UPDATE audit_records SET account_id = 'acc_a' WHERE seq = 4");
  EXPECT_FALSE(log_.VerifyAccount("acc_b")->ok);
}

// A database written before keying: its unkeyed records verify as before, keyed records
// follow, and the boundary is enforced both ways.
class UnkeyedHistoryTest : public AuditTest {
 protected:
  void SetUp() override {
    // Records as issue #3's AuditLog wrote them (one global SHA-256 chain, head in audit.head).
    auto tx = env_.store->Begin();
    std::string prev(64, '0');
    for (int i = 1; i <= 4; ++i) {
      model::AuditRecord r;
      r.seq = i;
      r.id = "aud_old" + std::to_string(i);
      r.at = env_.clock.Now();
      r.account_id = i % 2 ? "acc_a" : "acc_b";
      r.action = "certificate.request";
      r.status = 201;
      r.prev_hash = prev;
      r.hash = ChainHash(prev, r);
      r.scheme = kSchemeUnkeyed;
      ASSERT_TRUE((*tx)->audit().Insert(r).ok());
      prev = r.hash;
    }
    ASSERT_TRUE((*tx)->settings().Put(kHeadSetting, "4:" + prev).ok());
    ASSERT_TRUE((*tx)->Commit().ok());
    ASSERT_TRUE(log_.Start().ok());  // the upgrade: keying begins at 5
    AppendN(3);
  }
};

TEST_F(UnkeyedHistoryTest, OldRecordsStillVerify) {
  auto r = log_.Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->reason;
  EXPECT_EQ(r->checked, 7);
  auto a = log_.VerifyAccount("acc_a");
  EXPECT_TRUE(a->ok) << a->reason;
  EXPECT_EQ(a->checked, 2 + 3);
  auto tx = env_.store->Begin();
  auto all = (*tx)->audit().List({});
  EXPECT_EQ((*all)[3].scheme, kSchemeUnkeyed);
  EXPECT_EQ((*all)[4].scheme, kSchemeKeyed);
  EXPECT_EQ((*all)[4].seq, 5);
}

TEST_F(UnkeyedHistoryTest, ChangedOldRecordIsNamed) {
  Sql("UPDATE audit_records SET detail = 'innocent' WHERE seq = 2");
  EXPECT_EQ(log_.Verify()->first_bad_seq, 2);
  // acc_b's own record: named to acc_b; acc_a learns only that the shared range is broken.
  EXPECT_EQ(log_.VerifyAccount("acc_b")->first_bad_seq, 2);
  auto a = log_.VerifyAccount("acc_a");
  EXPECT_FALSE(a->ok);
  EXPECT_FALSE(a->first_bad_seq.has_value());
}

TEST_F(UnkeyedHistoryTest, KeyedRecordRewrittenAsUnkeyedIsDetected) {
  Sql("UPDATE audit_records SET detail = 'innocent' WHERE seq = 6");
  RecomputeUnkeyed(6, /*claim_unkeyed=*/true);
  auto r = log_.Verify();
  EXPECT_FALSE(r->ok);
  EXPECT_EQ(r->first_bad_seq, 6) << r->reason;
  // Moving the keying marker forward would need the key: its MAC no longer matches.
  Sql("UPDATE settings SET value = '7:' || substr(value, 3) WHERE key = 'audit.keyed_from'");
  r = log_.Verify();
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->reason.find("altered"), std::string::npos) << r->reason;
}

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
