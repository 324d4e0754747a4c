// Domain claims (issue #13): governance (who may claim, overlaps, shared claims) and enforcement
// at request, renewal and in the asynchronous issue path, in addition to the account policy.
#include "lifecycle/domain_claims.h"

#include <gtest/gtest.h>

#include "fakes/pki_env.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/governance_service.h"
#include "lifecycle/issuers/internal_issuer.h"

namespace certfleet::lifecycle {
namespace {

class DomainClaimsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    issuers_.Register(std::make_unique<InternalIssuer>(env_.Ca()));
    certs_ = std::make_unique<CertificateService>(*env_.store, *env_.secret_store, issuers_,
                                                  env_.clock, SystemRandomSource());
    gov_ = std::make_unique<GovernanceService>(*env_.store, env_.clock, SystemRandomSource());
    sys_ = *gov_->CreateAccount("default");
    a_ = *gov_->CreateAccount("team-a");
    b_ = *gov_->CreateAccount("team-b");
    root_ = Caller{.principal_id = "prn_root",
                   .account_id = sys_.id,
                   .role = model::Role::kAdmin,
                   .system_admin = true};
    alice_ = Caller{.principal_id = "prn_alice", .account_id = a_.id, .role = model::Role::kAdmin};
    bob_ = Caller{.principal_id = "prn_bob", .account_id = b_.id, .role = model::Role::kAdmin};
  }

  Result<model::DomainClaim> Claim(const model::Account& account, const std::string& domain,
                                   bool subdomains = false, bool shared = false) {
    return gov_->ClaimDomain(root_, {.account_id = account.id,
                                     .domain = domain,
                                     .include_subdomains = subdomains,
                                     .shared = shared});
  }

  Result<CertificateView> Request(const Caller& c, const std::string& name,
                                  std::vector<std::string> domains) {
    return certs_->Request(c, {.name = name, .domains = std::move(domains), .exportable = true});
  }

  static void ExpectUnclaimed(const Result<CertificateView>& r, const std::string& name) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kForbidden);
    EXPECT_NE(r.error().message().find("(rule domain.unclaimed)"), std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find("\"" + name + "\""), std::string::npos)
        << r.error().message();
  }

  testing::PkiEnv env_;
  IssuerRegistry issuers_;
  std::unique_ptr<CertificateService> certs_;
  std::unique_ptr<GovernanceService> gov_;
  model::Account sys_, a_, b_;
  Caller root_, alice_, bob_;
};

TEST_F(DomainClaimsTest, OnlyClaimedNamesAreIssuedOutsideTheSystemAccount) {
  ExpectUnclaimed(Request(alice_, "web", {"app.example.com"}), "app.example.com");
  ASSERT_TRUE(Claim(a_, "example.com", /*subdomains=*/true).ok());
  auto ok = Request(alice_, "web", {"example.com", "app.example.com", "*.example.com"});
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(ok->certificate.status, model::CertificateStatus::kIssued);
  // Account B cannot get A's names, alone or mixed with others.
  ExpectUnclaimed(Request(bob_, "web", {"app.example.com"}), "app.example.com");
  ASSERT_TRUE(Claim(b_, "b.test").ok());
  ExpectUnclaimed(Request(bob_, "web", {"b.test", "example.com"}), "example.com");
  EXPECT_TRUE(certs_->List(bob_, {})->items.empty());  // nothing written for a refused request
  // The system account stays unrestricted (make run works without claims).
  Caller sys_operator{.principal_id = "prn_op", .account_id = sys_.id};
  EXPECT_TRUE(Request(sys_operator, "any", {"anything.example.org"}).ok());
}

TEST_F(DomainClaimsTest, WildcardNeedsASubdomainClaim) {
  ASSERT_TRUE(Claim(a_, "x.example.net").ok());
  ExpectUnclaimed(Request(alice_, "w", {"*.x.example.net"}), "*.x.example.net");
  EXPECT_TRUE(Request(alice_, "apex", {"x.example.net"}).ok());
  ASSERT_TRUE(Claim(a_, "example.net", /*subdomains=*/true).ok());
  EXPECT_TRUE(Request(alice_, "w", {"*.x.example.net"}).ok());
}

TEST_F(DomainClaimsTest, PolicyNarrowsInsideTheClaimsButNeverWidens) {
  ASSERT_TRUE(Claim(a_, "app.example.com").ok());
  ASSERT_TRUE(Claim(a_, "api.example.com").ok());
  // The account admin allows every name under example.com: still only the claimed ones.
  ASSERT_TRUE(gov_->SetPolicy(alice_, a_.id,
                              "[request]\nallowed_domains = [\"*.example.com\", \"other.org\"]\n")
                  .ok());
  ExpectUnclaimed(Request(alice_, "x", {"www.example.com"}), "www.example.com");
  ExpectUnclaimed(Request(alice_, "y", {"other.org"}), "other.org");
  EXPECT_TRUE(Request(alice_, "app", {"app.example.com"}).ok());
  // Narrowing: the policy may refuse a claimed name.
  ASSERT_TRUE(
      gov_->SetPolicy(alice_, a_.id, "[request]\ndenied_domains = [\"api.example.com\"]\n").ok());
  auto denied = Request(alice_, "api", {"api.example.com"});
  ASSERT_FALSE(denied.ok());
  EXPECT_NE(denied.error().message().find("rule domains.denied"), std::string::npos)
      << denied.error().message();
}

TEST_F(DomainClaimsTest, ReleasedClaimStopsRenewals) {
  auto claim = Claim(a_, "example.com", true);
  ASSERT_TRUE(claim.ok());
  auto cert = Request(alice_, "web", {"www.example.com"});
  ASSERT_TRUE(cert.ok()) << cert.error().ToString();
  ASSERT_TRUE(certs_->Renew(alice_, cert->certificate.id).ok());
  ASSERT_TRUE(gov_->ReleaseDomainClaim(root_, claim->id).ok());
  // The scheduler renews as the system inside the account: refused the same way.
  auto renewed = certs_->Renew(SystemCaller(a_.id, "system:renewal"), cert->certificate.id);
  ASSERT_FALSE(renewed.ok());
  EXPECT_EQ(renewed.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(renewed.error().message().find("rule domain.unclaimed"), std::string::npos);
  auto after = certs_->Get(alice_, cert->certificate.id);
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->certificate.status_detail.find("domain.unclaimed"), std::string::npos)
      << after->certificate.status_detail;
  EXPECT_EQ(after->version->version, 2);  // no new version
}

TEST_F(DomainClaimsTest, OnlySystemAdminsClaimAndRelease) {
  Caller account_admin = alice_;
  auto denied = gov_->ClaimDomain(account_admin, {.account_id = a_.id, .domain = "example.com"});
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code(), ErrorCode::kForbidden);
  // system_admin without the admin role is not enough either.
  Caller sys_operator{.principal_id = "prn_op",
                      .account_id = sys_.id,
                      .role = model::Role::kOperator,
                      .system_admin = true};
  EXPECT_EQ(gov_->ClaimDomain(sys_operator, {.account_id = a_.id, .domain = "example.com"})
                .error()
                .code(),
            ErrorCode::kForbidden);
  auto claim = Claim(a_, "Example.COM.");
  ASSERT_TRUE(claim.ok()) << claim.error().ToString();
  EXPECT_EQ(claim->domain, "example.com");
  EXPECT_EQ(claim->created_by, "prn_root");
  EXPECT_EQ(gov_->ReleaseDomainClaim(alice_, claim->id).error().code(), ErrorCode::kForbidden);
  EXPECT_TRUE(gov_->ReleaseDomainClaim(root_, claim->id).ok());
  EXPECT_EQ(gov_->ReleaseDomainClaim(root_, claim->id).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(gov_->GetDomainClaim("dcl_nope").error().code(), ErrorCode::kNotFound);
}

TEST_F(DomainClaimsTest, OverlapsConflictUnlessBothShared) {
  ASSERT_TRUE(Claim(a_, "example.com", true).ok());
  auto same = Claim(b_, "example.com");
  ASSERT_FALSE(same.ok());
  EXPECT_EQ(same.error().code(), ErrorCode::kConflict);
  EXPECT_NE(same.error().message().find("team-a"), std::string::npos) << same.error().message();
  EXPECT_EQ(Claim(b_, "deep.www.example.com").error().code(), ErrorCode::kConflict);
  EXPECT_EQ(Claim(a_, "example.com").error().code(), ErrorCode::kConflict);  // held already
  EXPECT_TRUE(Claim(b_, "badexample.com", true).ok());                       // label boundary
  EXPECT_TRUE(Claim(a_, "www.example.com").ok());  // the same account may overlap itself
  // Shared on both sides: both accounts may hold the name.
  ASSERT_TRUE(Claim(a_, "shared.test", false, true).ok());
  EXPECT_EQ(Claim(b_, "shared.test", false, false).error().code(), ErrorCode::kConflict);
  EXPECT_TRUE(Claim(b_, "shared.test", false, true).ok());
  EXPECT_TRUE(Request(alice_, "s", {"shared.test"}).ok());
  EXPECT_TRUE(Request(bob_, "s", {"shared.test"}).ok());
  // Bad names are a clear InvalidArgument.
  for (const char* bad : {"*.example.org", "10.1.2.3/16", "org", "a..b.org", "-x.org"}) {
    auto r = Claim(a_, bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(
      gov_->ClaimDomain(root_, {.account_id = "acc_missing", .domain = "x.org"}).error().code(),
      ErrorCode::kNotFound);
  auto listed = gov_->ListDomainClaims(b_.id);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);
  EXPECT_EQ(gov_->ListDomainClaims(std::nullopt)->size(), 5u);
}

}  // namespace
}  // namespace certfleet::lifecycle
