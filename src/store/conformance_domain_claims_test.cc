// Conformance: domain claims (issue #13) and the identifier of agent http-01 challenges.
#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kAcc2 = TestId(model::kAccountPrefix, 2);

std::string Dcl(int n) { return TestId(model::kDomainClaimPrefix, n); }

model::DomainClaim MakeClaim(int n, const std::string& account_id, const std::string& domain,
                             bool include_subdomains = false, bool shared = false) {
  return {.id = Dcl(n),
          .account_id = account_id,
          .domain = domain,
          .include_subdomains = include_subdomains,
          .shared = shared,
          .created_by = "prn_sys",
          .created_at = T(n)};
}

std::vector<std::string> Ids(const std::vector<model::DomainClaim>& claims) {
  std::vector<std::string> out;
  for (const auto& c : claims) out.push_back(c.id);
  return out;
}

TEST_P(StoreConformanceTest, DomainClaimRoundTrip) {
  SeedAccounts();
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.domain_claims().Insert(MakeClaim(1, kAcc1, "example.com", true, false))));
    ASSERT_TRUE(IsOk(tx.domain_claims().Insert(MakeClaim(2, kAcc2, "example.org", false, true))));
  });
  auto tx = Begin();
  auto got = tx->domain_claims().Get(Dcl(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->domain, "example.com");
  EXPECT_TRUE(got->include_subdomains);
  EXPECT_FALSE(got->shared);
  EXPECT_EQ(got->created_by, "prn_sys");
  EXPECT_EQ(got->created_at, T(1));
  auto other = tx->domain_claims().Get(Dcl(2));
  ASSERT_TRUE(IsOk(other));
  EXPECT_FALSE(other->include_subdomains);
  EXPECT_TRUE(other->shared);
  EXPECT_TRUE(HasCode(tx->domain_claims().Get(Dcl(9)), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, DomainClaimsAreListedByAccountAndInIdOrder) {
  SeedAccounts();
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.domain_claims().Insert(MakeClaim(3, kAcc1, "b.example"))));
    ASSERT_TRUE(IsOk(tx.domain_claims().Insert(MakeClaim(1, kAcc1, "a.example"))));
    ASSERT_TRUE(IsOk(tx.domain_claims().Insert(MakeClaim(2, kAcc2, "c.example"))));
  });
  auto tx = Begin();
  auto mine = tx->domain_claims().ListByAccount(kAcc1);
  ASSERT_TRUE(IsOk(mine));
  EXPECT_EQ(Ids(*mine), (std::vector<std::string>{Dcl(1), Dcl(3)}));
  auto all = tx->domain_claims().List();
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(Ids(*all), (std::vector<std::string>{Dcl(1), Dcl(2), Dcl(3)}));
  auto none = tx->domain_claims().ListByAccount("acc_missing");
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreConformanceTest, DomainClaimConflictsAndOrphans) {
  SeedAccounts();
  auto tx = Begin();
  ASSERT_TRUE(IsOk(tx->domain_claims().Insert(MakeClaim(1, kAcc1, "example.com"))));
  // The same domain twice in one account, and the same id again.
  EXPECT_TRUE(HasCode(tx->domain_claims().Insert(MakeClaim(2, kAcc1, "example.com")),
                      ErrorCode::kConflict));
  EXPECT_TRUE(
      HasCode(tx->domain_claims().Insert(MakeClaim(1, kAcc2, "other.com")), ErrorCode::kConflict));
  // Another account may hold a row for the same domain (whether it may is the service's call).
  EXPECT_TRUE(IsOk(tx->domain_claims().Insert(MakeClaim(3, kAcc2, "example.com", false, true))));
  EXPECT_TRUE(HasCode(tx->domain_claims().Insert(MakeClaim(4, "acc_missing", "x.com")),
                      ErrorCode::kFailedPrecondition));
}

TEST_P(StoreConformanceTest, DomainClaimDelete) {
  SeedAccounts();
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.domain_claims().Insert(MakeClaim(1, kAcc1, "example.com"))));
  });
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.domain_claims().Delete(Dcl(1)))); });
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->domain_claims().Get(Dcl(1)), ErrorCode::kNotFound));
  EXPECT_TRUE(HasCode(tx->domain_claims().Delete(Dcl(1)), ErrorCode::kNotFound));
  // Released, the name can be claimed again.
  EXPECT_TRUE(IsOk(tx->domain_claims().Insert(MakeClaim(2, kAcc1, "example.com"))));
}

}  // namespace
}  // namespace certfleet::store::testing
