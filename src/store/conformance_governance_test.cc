// Conformance: grants between accounts, policy documents and audit records.
#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kAcc2 = TestId(model::kAccountPrefix, 2);
const std::string kAcc3 = TestId(model::kAccountPrefix, 3);
const std::string kPrn1 = TestId(model::kPrincipalPrefix, 1);
const std::string kPrn2 = TestId(model::kPrincipalPrefix, 2);

std::string Grt(int n) { return TestId(model::kGrantPrefix, n); }

std::vector<std::string> Ids(const std::vector<model::Grant>& grants) {
  std::vector<std::string> out;
  for (const auto& g : grants) out.push_back(g.id);
  return out;
}

std::vector<int64_t> Seqs(const std::vector<model::AuditRecord>& records) {
  std::vector<int64_t> out;
  for (const auto& r : records) out.push_back(r.seq);
  return out;
}

// ---- grants

TEST_P(StoreConformanceTest, GrantRoundTrip) {
  SeedAccounts();
  const auto g = MakeGrant(kAcc1, kAcc2, 1);
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.grants().Insert(g))); });
  auto tx = Begin();
  auto got = tx->grants().Get(g.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->id, g.id);
  EXPECT_EQ(got->from_account_id, kAcc1);
  EXPECT_EQ(got->to_account_id, kAcc2);
  EXPECT_EQ(got->created_by, kPrn1);
  EXPECT_EQ(got->created_at, T(1));
  EXPECT_FALSE(got->revoked);
  EXPECT_FALSE(got->revoked_at.has_value());
  EXPECT_TRUE(HasCode(tx->grants().Get("grt_missing"), ErrorCode::kNotFound));
  // The same id again: Conflict, even for another pair.
  EXPECT_TRUE(HasCode(tx->grants().Insert(MakeGrant(kAcc2, kAcc1, 1)), ErrorCode::kConflict));
}

TEST_P(StoreConformanceTest, GrantToOrFromUnknownAccountIsRefused) {
  SeedAccounts();
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->grants().Insert(MakeGrant("acc_missing", kAcc2, 1)),
                      ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(HasCode(tx->grants().Insert(MakeGrant(kAcc1, "acc_missing", 2)),
                      ErrorCode::kFailedPrecondition));
}

TEST_P(StoreConformanceTest, SecondActiveGrantForAPairConflicts) {
  SeedAccounts();
  auto tx = Begin();
  ASSERT_TRUE(IsOk(tx->grants().Insert(MakeGrant(kAcc1, kAcc2, 1))));
  EXPECT_TRUE(HasCode(tx->grants().Insert(MakeGrant(kAcc1, kAcc2, 2)), ErrorCode::kConflict));
  // The pair is directed: the reverse grant is another pair.
  EXPECT_TRUE(IsOk(tx->grants().Insert(MakeGrant(kAcc2, kAcc1, 3))));
  // A grant stored already revoked is not active and does not conflict.
  auto old = MakeGrant(kAcc1, kAcc2, 4);
  old.revoked = true;
  old.revoked_at = T(50);
  EXPECT_TRUE(IsOk(tx->grants().Insert(old)));
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  EXPECT_TRUE(HasCode(tx->grants().Get(Grt(2)), ErrorCode::kNotFound));
  auto active = tx->grants().ListActive(kAcc1, kAcc2);
  ASSERT_TRUE(IsOk(active));
  EXPECT_EQ(Ids(*active), std::vector<std::string>{Grt(1)});
  auto stored = tx->grants().Get(Grt(4));
  ASSERT_TRUE(IsOk(stored));
  EXPECT_TRUE(stored->revoked);
  EXPECT_EQ(stored->revoked_at, T(50));
}

TEST_P(StoreConformanceTest, PairCanBeGrantedAgainAfterRevoke) {
  SeedAccounts();
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.grants().Insert(MakeGrant(kAcc1, kAcc2, 1)))); });
  auto tx = Begin();
  ASSERT_TRUE(IsOk(tx->grants().Revoke(Grt(1), T(100))));
  auto none = tx->grants().ListActive(kAcc1, kAcc2);
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(IsOk(tx->grants().Insert(MakeGrant(kAcc1, kAcc2, 2))));
  // ... and only once while the new grant is active.
  EXPECT_TRUE(HasCode(tx->grants().Insert(MakeGrant(kAcc1, kAcc2, 3)), ErrorCode::kConflict));
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  auto active = tx->grants().ListActive(kAcc1, kAcc2);
  ASSERT_TRUE(IsOk(active));
  ASSERT_EQ(Ids(*active), std::vector<std::string>{Grt(2)});
  EXPECT_FALSE((*active)[0].revoked);
  auto all = tx->grants().ListByAccount(kAcc1);
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(Ids(*all), (std::vector<std::string>{Grt(1), Grt(2)}));
}

TEST_P(StoreConformanceTest, GrantRevokeIsIdempotentAndKeepsTheFirstTime) {
  SeedAccounts();
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.grants().Insert(MakeGrant(kAcc1, kAcc2, 1)))); });
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->grants().Revoke("grt_missing", T(100)), ErrorCode::kNotFound));
  ASSERT_TRUE(IsOk(tx->grants().Revoke(Grt(1), T(100))));
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  ASSERT_TRUE(IsOk(tx->grants().Revoke(Grt(1), T(200))));  // again: succeeds, changes nothing
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  auto got = tx->grants().Get(Grt(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_TRUE(got->revoked);
  EXPECT_EQ(got->revoked_at, T(100));
  EXPECT_EQ(got->created_at, T(1));
  EXPECT_EQ(got->from_account_id, kAcc1);
  EXPECT_EQ(got->to_account_id, kAcc2);
}

TEST_P(StoreConformanceTest, GrantListsByEitherSideAndActivePair) {
  SeedAccounts();
  Commit([](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(3))));
    // Ids deliberately not in insertion order: lists sort by id.
    ASSERT_TRUE(IsOk(tx.grants().Insert(MakeGrant(kAcc3, kAcc1, 5))));  // acc1 receives
    ASSERT_TRUE(IsOk(tx.grants().Insert(MakeGrant(kAcc1, kAcc2, 2))));  // acc1 gives
    ASSERT_TRUE(IsOk(tx.grants().Insert(MakeGrant(kAcc2, kAcc3, 4))));  // acc1 not involved
    ASSERT_TRUE(IsOk(tx.grants().Insert(MakeGrant(kAcc1, kAcc3, 1))));  // acc1 gives, revoked
    ASSERT_TRUE(IsOk(tx.grants().Revoke(Grt(1), T(10))));
  });
  auto tx = Begin();
  auto acc1 = tx->grants().ListByAccount(kAcc1);
  ASSERT_TRUE(IsOk(acc1));
  // Revoked grants are included.
  EXPECT_EQ(Ids(*acc1), (std::vector<std::string>{Grt(1), Grt(2), Grt(5)}));
  EXPECT_TRUE((*acc1)[0].revoked);
  auto acc3 = tx->grants().ListByAccount(kAcc3);
  ASSERT_TRUE(IsOk(acc3));
  EXPECT_EQ(Ids(*acc3), (std::vector<std::string>{Grt(1), Grt(4), Grt(5)}));
  auto nobody = tx->grants().ListByAccount("acc_missing");
  ASSERT_TRUE(IsOk(nobody));
  EXPECT_TRUE(nobody->empty());

  auto active = tx->grants().ListActive(kAcc3, kAcc1);
  ASSERT_TRUE(IsOk(active));
  ASSERT_EQ(Ids(*active), std::vector<std::string>{Grt(5)});
  EXPECT_EQ((*active)[0].from_account_id, kAcc3);
  // Direction matters, and revoked grants are not active.
  auto reverse = tx->grants().ListActive(kAcc1, kAcc3);
  ASSERT_TRUE(IsOk(reverse));
  EXPECT_TRUE(reverse->empty());
}

// ---- policies

TEST_P(StoreConformanceTest, PolicyPutGetAndReplace) {
  SeedAccounts();
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->policies().Get(kAcc1), ErrorCode::kNotFound));
  const auto v1 = MakePolicy(kAcc1, 1, T(10));
  ASSERT_TRUE(IsOk(tx->policies().Put(v1)));
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  auto got = tx->policies().Get(kAcc1);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->toml, v1.toml);
  EXPECT_EQ(got->version, 1);
  EXPECT_EQ(got->updated_by, kPrn1);
  EXPECT_EQ(got->updated_at, T(10));
  EXPECT_TRUE(HasCode(tx->policies().Get(kAcc2), ErrorCode::kNotFound));

  auto v2 = MakePolicy(kAcc1, 2, T(20));
  v2.toml = "";  // an empty document is a document
  v2.updated_by = kPrn2;
  ASSERT_TRUE(IsOk(tx->policies().Put(v2)));
  ASSERT_TRUE(IsOk(tx->policies().Put(MakePolicy(kAcc2, 7, T(30)))));
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  got = tx->policies().Get(kAcc1);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->toml, "");
  EXPECT_EQ(got->version, 2);
  EXPECT_EQ(got->updated_by, kPrn2);
  EXPECT_EQ(got->updated_at, T(20));
  auto other = tx->policies().Get(kAcc2);
  ASSERT_TRUE(IsOk(other));
  EXPECT_EQ(other->version, 7);
  // The version is the caller's: the store neither checks nor bumps it.
  ASSERT_TRUE(IsOk(tx->policies().Put(MakePolicy(kAcc1, 1, T(40)))));
  EXPECT_EQ(tx->policies().Get(kAcc1)->version, 1);
}

TEST_P(StoreConformanceTest, PolicyForUnknownAccountIsRefused) {
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->policies().Put(MakePolicy("acc_missing", 1, T(1))),
                      ErrorCode::kFailedPrecondition));
}

// ---- audit records

TEST_P(StoreConformanceTest, AuditRoundTrip) {
  auto denied = MakeAudit(1, kAcc1, "", T(5));
  denied.action = "auth.failed";
  denied.resource = "";
  denied.outcome = model::AuditOutcome::kDenied;
  denied.status = 401;
  denied.detail = "bad token";
  auto failed = MakeAudit(2, "", kPrn1, T(6));
  failed.outcome = model::AuditOutcome::kFailure;
  failed.status = 0;
  failed.prev_hash = denied.hash;
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.audit().Insert(denied)));
    ASSERT_TRUE(IsOk(tx.audit().Insert(failed)));
  });
  auto tx = Begin();
  auto all = tx->audit().List({});
  ASSERT_TRUE(IsOk(all));
  ASSERT_EQ(all->size(), 2u);
  const auto& r = (*all)[0];
  EXPECT_EQ(r.seq, 1);
  EXPECT_EQ(r.id, denied.id);
  EXPECT_EQ(r.at, T(5));
  EXPECT_EQ(r.account_id, kAcc1);
  EXPECT_EQ(r.principal_id, "");
  EXPECT_EQ(r.action, "auth.failed");
  EXPECT_EQ(r.resource, "");
  EXPECT_EQ(r.outcome, model::AuditOutcome::kDenied);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.source, denied.source);
  EXPECT_EQ(r.detail, "bad token");
  EXPECT_EQ(r.prev_hash, std::string(64, '0'));
  EXPECT_EQ(r.hash, denied.hash);
  const auto& f = (*all)[1];
  EXPECT_EQ(f.seq, 2);
  EXPECT_EQ(f.account_id, "");
  EXPECT_EQ(f.principal_id, kPrn1);
  EXPECT_EQ(f.outcome, model::AuditOutcome::kFailure);
  EXPECT_EQ(f.prev_hash, denied.hash);
}

TEST_P(StoreConformanceTest, AuditSeqAndIdAreUnique) {
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.audit().Insert(MakeAudit(1, kAcc1, kPrn1, T(1))))); });
  auto tx = Begin();
  auto same_seq = MakeAudit(1, kAcc2, kPrn2, T(2));
  same_seq.id = TestId(model::kAuditPrefix, 99);
  EXPECT_TRUE(HasCode(tx->audit().Insert(same_seq), ErrorCode::kConflict));
  auto same_id = MakeAudit(2, kAcc1, kPrn1, T(2));
  same_id.id = TestId(model::kAuditPrefix, 1);
  EXPECT_TRUE(HasCode(tx->audit().Insert(same_id), ErrorCode::kConflict));
  // The failures changed nothing and left the Tx usable.
  ASSERT_TRUE(IsOk(tx->audit().Insert(MakeAudit(2, kAcc1, kPrn1, T(2)))));
  ASSERT_TRUE(IsOk(tx->Commit()));
  tx = Begin();
  auto all = tx->audit().List({});
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(Seqs(*all), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ((*all)[0].account_id, kAcc1);
}

TEST_P(StoreConformanceTest, AuditListIsOrderedBySeqAndFilters) {
  // seq  account  principal  at
  //  1   acc1     prn1       T(100)
  //  2   acc2     prn1       T(200)
  //  3   acc1     prn2       T(200)
  //  4   acc1     prn1       T(300)
  //  5   acc2     prn2       T(400)
  //  6   acc1     prn1       T(150)   (clock went back: seq, not time, orders the log)
  Commit([](Tx& tx) {
    // Inserted out of order: the list sorts by seq.
    ASSERT_TRUE(IsOk(tx.audit().Insert(MakeAudit(4, kAcc1, kPrn1, T(300)))));
    ASSERT_TRUE(IsOk(tx.audit().Insert(MakeAudit(1, kAcc1, kPrn1, T(100)))));
    ASSERT_TRUE(IsOk(tx.audit().Insert(MakeAudit(6, kAcc1, kPrn1, T(150)))));
    ASSERT_TRUE(IsOk(tx.audit().Insert(MakeAudit(2, kAcc2, kPrn1, T(200)))));
    ASSERT_TRUE(IsOk(tx.audit().Insert(MakeAudit(5, kAcc2, kPrn2, T(400)))));
    ASSERT_TRUE(IsOk(tx.audit().Insert(MakeAudit(3, kAcc1, kPrn2, T(200)))));
  });
  auto tx = Begin();
  auto list = [&](const AuditFilter& f) {
    auto r = tx->audit().List(f);
    EXPECT_TRUE(IsOk(r));
    return r.ok() ? Seqs(*r) : std::vector<int64_t>{-1};
  };
  using V = std::vector<int64_t>;
  EXPECT_EQ(list({}), (V{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(list({.account_id = kAcc1}), (V{1, 3, 4, 6}));
  EXPECT_EQ(list({.account_id = "acc_missing"}), V{});
  EXPECT_EQ(list({.principal_id = kPrn2}), (V{3, 5}));
  EXPECT_EQ(list({.resource = TestId(model::kCertificatePrefix, 4)}), V{4});
  // since is inclusive, until exclusive.
  EXPECT_EQ(list({.since = T(200)}), (V{2, 3, 4, 5}));
  EXPECT_EQ(list({.until = T(200)}), (V{1, 6}));
  EXPECT_EQ(list({.since = T(150), .until = T(300)}), (V{2, 3, 6}));
  EXPECT_EQ(list({.since = T(300), .until = T(300)}), V{});
  EXPECT_EQ(list({.after_seq = 4}), (V{5, 6}));
  EXPECT_EQ(list({.after_seq = 6}), V{});
  EXPECT_EQ(list({.limit = 2}), (V{1, 2}));
  EXPECT_EQ(list({.limit = 0}), V{});
  // Keyset pagination: after_seq and limit together page through the log.
  EXPECT_EQ(list({.after_seq = 2, .limit = 2}), (V{3, 4}));
  // Filters combine.
  EXPECT_EQ(list({.account_id = kAcc1, .principal_id = kPrn1}), (V{1, 4, 6}));
  EXPECT_EQ(list({.account_id = kAcc1,
                  .principal_id = kPrn1,
                  .since = T(120),
                  .until = T(400),
                  .after_seq = 1,
                  .limit = 1}),
            V{4});
  EXPECT_EQ(list({.account_id = kAcc2,
                  .principal_id = kPrn2,
                  .resource = TestId(model::kCertificatePrefix, 5)}),
            V{5});
}

// ---- the unit of work

TEST_P(StoreConformanceTest, GovernanceWritesRollBackWithTheirTx) {
  SeedAccounts();
  {
    auto tx = Begin();
    ASSERT_TRUE(IsOk(tx->grants().Insert(MakeGrant(kAcc1, kAcc2, 1))));
    ASSERT_TRUE(IsOk(tx->policies().Put(MakePolicy(kAcc1, 1, T(1)))));
    ASSERT_TRUE(IsOk(tx->audit().Insert(MakeAudit(1, kAcc1, kPrn1, T(1)))));
  }
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->grants().Get(Grt(1)), ErrorCode::kNotFound));
  EXPECT_TRUE(HasCode(tx->policies().Get(kAcc1), ErrorCode::kNotFound));
  auto audit = tx->audit().List({});
  ASSERT_TRUE(IsOk(audit));
  EXPECT_TRUE(audit->empty());
  // Nothing is left behind: the same seq, id and pair are free.
  EXPECT_TRUE(IsOk(tx->grants().Insert(MakeGrant(kAcc1, kAcc2, 1))));
  EXPECT_TRUE(IsOk(tx->audit().Insert(MakeAudit(1, kAcc1, kPrn1, T(1)))));
  ASSERT_TRUE(IsOk(tx->Commit()));

  // A finished Tx refuses the new repositories too.
  EXPECT_TRUE(HasCode(tx->grants().Get(Grt(1)), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(HasCode(tx->grants().Revoke(Grt(1), T(2)), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(
      HasCode(tx->policies().Put(MakePolicy(kAcc1, 1, T(1))), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(HasCode(tx->audit().List({}), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(HasCode(tx->audit().Insert(MakeAudit(2, kAcc1, kPrn1, T(2))),
                      ErrorCode::kFailedPrecondition));
}

}  // namespace
}  // namespace certfleet::store::testing
