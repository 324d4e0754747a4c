// Conformance: what revocation (issue #13) needs from the store: every client certificate issued
// to an agent (AgentCertificateRepo), revocable enrollment tokens that remember the key that used
// them (EnrollmentTokenRepo::Revoke, SetUsedKey), and tokens by id (TokenRepo::Get).
#include <string>
#include <vector>

#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kPrn1 = TestId(model::kPrincipalPrefix, 1);

std::string Agt(int n) { return TestId(model::kAgentPrefix, n); }
std::string Enr(int n) { return TestId(model::kEnrollmentTokenPrefix, n); }

model::Agent MakeAgent(int n) {
  model::Agent a;
  a.id = Agt(n);
  a.account_id = kAcc1;
  a.principal_id = kPrn1;
  a.hostname = "web-" + std::to_string(n);
  a.cert_serial_hex = "a" + std::to_string(n);
  a.cert_not_after = T(n + 30 * 86400);
  a.status = model::AgentStatus::kActive;
  a.created_at = T(n);
  a.updated_at = T(n);
  return a;
}

model::AgentCertificate MakeCert(const std::string& serial, const std::string& agent_id,
                                 int not_after) {
  return {
      .serial_hex = serial, .agent_id = agent_id, .not_after = T(not_after), .created_at = T(1)};
}

void InsertOwners(Tx& tx) {
  ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(1))));
  ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc1, 1))));
}

TEST_P(StoreConformanceTest, AgentCertificatesRoundTripAndOrder) {
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(1))));
    ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(2))));
    ASSERT_TRUE(IsOk(tx.agent_certificates().Insert(MakeCert("c3", Agt(1), 300))));
    ASSERT_TRUE(IsOk(tx.agent_certificates().Insert(MakeCert("c1", Agt(1), 100))));
    ASSERT_TRUE(IsOk(tx.agent_certificates().Insert(MakeCert("c2", Agt(2), 200))));
  });
  auto tx = Begin();
  auto got = tx->agent_certificates().Get("c3");
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->agent_id, Agt(1));
  EXPECT_EQ(got->not_after, T(300));
  EXPECT_EQ(got->created_at, T(1));
  EXPECT_TRUE(HasCode(tx->agent_certificates().Get("nope"), ErrorCode::kNotFound));
  auto list = tx->agent_certificates().ListByAgent(Agt(1));
  ASSERT_TRUE(IsOk(list));
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].serial_hex, "c1");  // by not_after
  EXPECT_EQ((*list)[1].serial_hex, "c3");
  EXPECT_TRUE(tx->agent_certificates().ListByAgent(Agt(9))->empty());
  // A serial is issued once; an unknown agent cannot own one. Failed calls leave the Tx usable.
  EXPECT_TRUE(
      HasCode(tx->agent_certificates().Insert(MakeCert("c1", Agt(2), 1)), ErrorCode::kConflict));
  EXPECT_TRUE(HasCode(tx->agent_certificates().Insert(MakeCert("c9", "agt_missing", 1)),
                      ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(IsOk(tx->agent_certificates().Insert(MakeCert("c4", Agt(2), 400))));
}

TEST_P(StoreConformanceTest, EnrollmentTokenRevokeAndUsedKey) {
  Commit(InsertOwners);
  model::EnrollmentToken t{.id = Enr(1),
                           .account_id = kAcc1,
                           .hash_hex = "enrhash1",
                           .tags = {{"env", "dev"}},
                           .created_by = kPrn1,
                           .created_at = T(1),
                           .expires_at = T(3600)};
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.enrollment_tokens().Insert(t))); });
  {
    auto tx = Begin();
    auto got = tx->enrollment_tokens().Get(Enr(1));
    ASSERT_TRUE(IsOk(got));
    EXPECT_FALSE(got->revoked_at.has_value());
    EXPECT_EQ(got->used_key_sha256, "");
    ASSERT_TRUE(IsOk(tx->enrollment_tokens().SetUsedKey(Enr(1), "keyhash")));
    ASSERT_TRUE(IsOk(tx->enrollment_tokens().Revoke(Enr(1), T(10))));
    ASSERT_TRUE(IsOk(tx->enrollment_tokens().Revoke(Enr(1), T(20))));  // first time kept
    EXPECT_TRUE(HasCode(tx->enrollment_tokens().Revoke("enr_missing", T(1)), ErrorCode::kNotFound));
    EXPECT_TRUE(
        HasCode(tx->enrollment_tokens().SetUsedKey("enr_missing", "k"), ErrorCode::kNotFound));
    ASSERT_TRUE(IsOk(tx->Commit()));
  }
  auto tx = Begin();
  auto got = tx->enrollment_tokens().GetByHash("enrhash1");
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->revoked_at, T(10));
  EXPECT_EQ(got->used_key_sha256, "keyhash");
  // Inserted with both set, read back with both.
  model::EnrollmentToken t2 = t;
  t2.id = Enr(2);
  t2.hash_hex = "enrhash2";
  t2.revoked_at = T(5);
  t2.used_key_sha256 = "k2";
  ASSERT_TRUE(IsOk(tx->enrollment_tokens().Insert(t2)));
  auto got2 = tx->enrollment_tokens().Get(Enr(2));
  ASSERT_TRUE(IsOk(got2));
  EXPECT_EQ(got2->revoked_at, T(5));
  EXPECT_EQ(got2->used_key_sha256, "k2");
}

TEST_P(StoreConformanceTest, TokenGetById) {
  Commit(InsertOwners);
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.tokens().Insert(MakeToken(kPrn1, 1)))); });
  auto tx = Begin();
  auto got = tx->tokens().Get(TestId(model::kTokenPrefix, 1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->hash_hex, "hash1");
  EXPECT_EQ(got->principal_id, kPrn1);
  EXPECT_TRUE(HasCode(tx->tokens().Get("tok_missing"), ErrorCode::kNotFound));
}

}  // namespace
}  // namespace certfleet::store::testing
