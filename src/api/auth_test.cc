// The authenticator's cache (auth.h): hits, and that every credential change and expiry
// applies on the very next request.
#include "api/auth.h"

#include <gtest/gtest.h>

#include "fakes/pki_env.h"
#include "lifecycle/governance_service.h"

namespace certfleet::api {
namespace {

class AuthTest : public ::testing::Test {
 protected:
  AuthTest() : governance(*env.store, env.clock, SystemRandomSource()) {
    auto tx = env.store->Begin();
    CF_CHECK(tx.ok());
    CF_CHECK((*tx)->accounts().Insert({"acc_auth", "auth", env.clock.Now()}).ok());
    for (const char* id : {"prn_one", "prn_two"}) {
      model::Principal p;
      p.id = id;
      p.account_id = "acc_auth";
      p.name = id;
      p.role = model::Role::kOperator;
      p.created_at = env.clock.Now();
      CF_CHECK((*tx)->principals().Insert(p).ok());
    }
    one = Insert(**tx, "tok_one", "prn_one", env.clock.Now() + std::chrono::hours(1));
    two = Insert(**tx, "tok_two", "prn_two", std::nullopt);
    CF_CHECK((*tx)->Commit().ok());
  }

  std::string Insert(store::Tx& tx, const std::string& id, const std::string& principal,
                     std::optional<TimePoint> expires) {
    lifecycle::NewToken t = lifecycle::GenerateApiToken(SystemRandomSource());
    CF_CHECK(tx.tokens()
                 .Insert({.id = id,
                          .principal_id = principal,
                          .hash_hex = t.hash_hex,
                          .created_at = env.clock.Now(),
                          .expires_at = expires})
                 .ok());
    return "Bearer " + std::string(t.token.view());
  }

  testing::PkiEnv env;
  lifecycle::GovernanceService governance;
  Authenticator auth{*env.store, env.clock};
  std::string one, two;
};

TEST_F(AuthTest, RepeatedRequestsAreAnsweredFromTheCache) {
  for (int i = 0; i < 5; ++i) {
    auto who = auth.Authenticate(one);
    ASSERT_TRUE(who.ok()) << who.error().ToString();
    EXPECT_EQ(who->principal_id, "prn_one");
  }
  EXPECT_EQ(auth.store_lookups(), 1u);
  EXPECT_EQ(auth.cache_hits(), 4u);
  // Failures are never cached: an unknown token is looked up every time.
  EXPECT_FALSE(auth.Authenticate("Bearer cft_" + std::string(43, 'A')).ok());
}

TEST_F(AuthTest, ARevokedTokenIsRefusedOnTheNextRequest) {
  ASSERT_TRUE(auth.Authenticate(one).ok());
  ASSERT_TRUE(auth.Authenticate(two).ok());
  ASSERT_TRUE(governance.RevokeToken("tok_one", nullptr).ok());
  auto refused = auth.Authenticate(one);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("revoked"), std::string::npos);
  EXPECT_TRUE(auth.Authenticate(two).ok());
}

TEST_F(AuthTest, ADisabledPrincipalIsRefusedOnTheNextRequest) {
  ASSERT_TRUE(auth.Authenticate(two).ok());
  lifecycle::Caller admin{
      .principal_id = "prn_admin", .account_id = "acc_auth", .role = model::Role::kAdmin};
  ASSERT_TRUE(governance.SetPrincipalDisabled(admin, "prn_two", true).ok());
  auto refused = auth.Authenticate(two);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("disabled"), std::string::npos);
  ASSERT_TRUE(governance.SetPrincipalDisabled(admin, "prn_two", false).ok());
  EXPECT_TRUE(auth.Authenticate(two).ok());
}

TEST_F(AuthTest, ACachedTokenExpiresOnTime) {
  ASSERT_TRUE(auth.Authenticate(one).ok());
  env.clock.Advance(std::chrono::hours(1));
  auto refused = auth.Authenticate(one);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("expired"), std::string::npos);
}

}  // namespace
}  // namespace certfleet::api
