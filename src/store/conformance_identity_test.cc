// Conformance: accounts, principals and API tokens.
#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kAcc2 = TestId(model::kAccountPrefix, 2);

TEST_P(StoreConformanceTest, AccountInsertGetListByName) {
  Commit([](Tx& tx) {
    // Inserted out of order: List() sorts by id.
    ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(2))));
    ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(1))));
  });
  auto tx = Begin();
  auto a = tx->accounts().Get(kAcc1);
  ASSERT_TRUE(IsOk(a));
  EXPECT_EQ(a->id, kAcc1);
  EXPECT_EQ(a->name, "account-1");
  EXPECT_EQ(a->created_at, T(1));
  auto b = tx->accounts().GetByName("account-2");
  ASSERT_TRUE(IsOk(b));
  EXPECT_EQ(b->id, kAcc2);
  auto all = tx->accounts().List();
  ASSERT_TRUE(IsOk(all));
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, kAcc1);
  EXPECT_EQ((*all)[1].id, kAcc2);
}

TEST_P(StoreConformanceTest, AccountNotFoundAndConflicts) {
  SeedAccounts();
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->accounts().Get("acc_missing"), ErrorCode::kNotFound));
  EXPECT_TRUE(HasCode(tx->accounts().GetByName("missing"), ErrorCode::kNotFound));
  auto same_id = MakeAccount(1);
  same_id.name = "other-name";
  EXPECT_TRUE(HasCode(tx->accounts().Insert(same_id), ErrorCode::kConflict));
  auto same_name = MakeAccount(3);
  same_name.name = "account-1";
  auto st = tx->accounts().Insert(same_name);
  ASSERT_TRUE(HasCode(st, ErrorCode::kConflict));
  EXPECT_NE(st.error().message().find("accounts"), std::string::npos) << st.error().message();
}

TEST_P(StoreConformanceTest, PrincipalRoundTripAndLookups) {
  SeedAccounts();
  auto p = MakePrincipal(kAcc1, 1);
  p.kind = model::PrincipalKind::kAgent;
  p.role = model::Role::kAgent;
  p.disabled = true;
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc1, 2))));
    ASSERT_TRUE(IsOk(tx.principals().Insert(p)));
    ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc2, 3))));
  });
  auto tx = Begin();
  auto got = tx->principals().Get(p.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->name, p.name);
  EXPECT_EQ(got->kind, model::PrincipalKind::kAgent);
  EXPECT_EQ(got->role, model::Role::kAgent);
  EXPECT_EQ(got->tags, p.tags);
  EXPECT_TRUE(got->disabled);
  EXPECT_EQ(got->created_at, p.created_at);

  auto by_name = tx->principals().GetByName(kAcc1, "principal-2");
  ASSERT_TRUE(IsOk(by_name));
  EXPECT_EQ(by_name->id, TestId(model::kPrincipalPrefix, 2));
  // Names are scoped to the account.
  EXPECT_TRUE(HasCode(tx->principals().GetByName(kAcc2, "principal-2"), ErrorCode::kNotFound));
  EXPECT_TRUE(HasCode(tx->principals().Get("prn_missing"), ErrorCode::kNotFound));

  auto list = tx->principals().ListByAccount(kAcc1);
  ASSERT_TRUE(IsOk(list));
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, TestId(model::kPrincipalPrefix, 1));
  EXPECT_EQ((*list)[1].id, TestId(model::kPrincipalPrefix, 2));
  auto empty = tx->principals().ListByAccount("acc_missing");
  ASSERT_TRUE(IsOk(empty));
  EXPECT_TRUE(empty->empty());
}

TEST_P(StoreConformanceTest, PrincipalNameUniqueWithinAccountOnly) {
  SeedAccounts();
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc1, 1)))); });
  auto tx = Begin();
  auto dup = MakePrincipal(kAcc1, 2);
  dup.name = "principal-1";
  EXPECT_TRUE(HasCode(tx->principals().Insert(dup), ErrorCode::kConflict));
  auto dup_id = MakePrincipal(kAcc2, 1);
  dup_id.name = "fresh";
  EXPECT_TRUE(HasCode(tx->principals().Insert(dup_id), ErrorCode::kConflict));
  auto other_account = MakePrincipal(kAcc2, 3);
  other_account.name = "principal-1";
  EXPECT_TRUE(IsOk(tx->principals().Insert(other_account)));
}

TEST_P(StoreConformanceTest, PrincipalUpdate) {
  SeedAccounts();
  Commit([](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc1, 1))));
    ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc1, 2))));
  });
  auto p = MakePrincipal(kAcc1, 1);
  p.name = "renamed";
  p.role = model::Role::kAdmin;
  p.tags = {{"env", "dev"}};
  p.disabled = true;
  p.account_id = kAcc2;     // ignored: principals never move between accounts
  p.created_at = T(99999);  // ignored
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.principals().Update(p))); });
  auto tx = Begin();
  auto got = tx->principals().Get(p.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->name, "renamed");
  EXPECT_EQ(got->role, model::Role::kAdmin);
  EXPECT_EQ(got->tags, p.tags);
  EXPECT_TRUE(got->disabled);
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->created_at, T(1));

  auto missing = MakePrincipal(kAcc1, 9);
  EXPECT_TRUE(HasCode(tx->principals().Update(missing), ErrorCode::kNotFound));
  auto clash = MakePrincipal(kAcc1, 2);
  clash.name = "renamed";
  EXPECT_TRUE(HasCode(tx->principals().Update(clash), ErrorCode::kConflict));
}

TEST_P(StoreConformanceTest, TokensByHashListRevoke) {
  SeedAccounts();
  const std::string prn = TestId(model::kPrincipalPrefix, 1);
  auto expiring = MakeToken(prn, 2);
  expiring.expires_at = T(3600);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc1, 1))));
    ASSERT_TRUE(IsOk(tx.tokens().Insert(expiring)));
    ASSERT_TRUE(IsOk(tx.tokens().Insert(MakeToken(prn, 1))));
  });
  auto tx = Begin();
  auto t1 = tx->tokens().GetByHash("hash1");
  ASSERT_TRUE(IsOk(t1));
  EXPECT_EQ(t1->id, TestId(model::kTokenPrefix, 1));
  EXPECT_EQ(t1->principal_id, prn);
  EXPECT_FALSE(t1->expires_at.has_value());
  EXPECT_FALSE(t1->revoked);
  auto t2 = tx->tokens().GetByHash("hash2");
  ASSERT_TRUE(IsOk(t2));
  EXPECT_EQ(t2->expires_at, T(3600));
  EXPECT_EQ(t2->created_at, T(2));
  EXPECT_TRUE(HasCode(tx->tokens().GetByHash("nope"), ErrorCode::kNotFound));

  auto list = tx->tokens().ListByPrincipal(prn);
  ASSERT_TRUE(IsOk(list));
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].hash_hex, "hash1");
  EXPECT_EQ((*list)[1].hash_hex, "hash2");

  ASSERT_TRUE(IsOk(tx->tokens().Revoke(t1->id)));
  ASSERT_TRUE(IsOk(tx->tokens().Revoke(t1->id)));  // idempotent
  EXPECT_TRUE(tx->tokens().GetByHash("hash1")->revoked);
  EXPECT_FALSE(tx->tokens().GetByHash("hash2")->revoked);
  EXPECT_TRUE(HasCode(tx->tokens().Revoke("tok_missing"), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, TokenConflicts) {
  SeedAccounts();
  const std::string prn = TestId(model::kPrincipalPrefix, 1);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc1, 1))));
    ASSERT_TRUE(IsOk(tx.tokens().Insert(MakeToken(prn, 1))));
  });
  auto tx = Begin();
  auto same_hash = MakeToken(prn, 2);
  same_hash.hash_hex = "hash1";
  auto st = tx->tokens().Insert(same_hash);
  ASSERT_TRUE(HasCode(st, ErrorCode::kConflict));
  // The hash identifies a credential: it must not appear in the message.
  EXPECT_EQ(st.error().ToString().find("hash1"), std::string::npos) << st.error().ToString();
  auto same_id = MakeToken(prn, 1);
  same_id.hash_hex = "other";
  EXPECT_TRUE(HasCode(tx->tokens().Insert(same_id), ErrorCode::kConflict));
}

}  // namespace
}  // namespace certfleet::store::testing
