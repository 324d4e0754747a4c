// Domain claims (issue #13): coverage, overlap and normalization.
#include "policy/domain_claims.h"

#include <gtest/gtest.h>

namespace certfleet::policy {
namespace {

model::DomainClaim Claim(std::string domain, bool subdomains = false, std::string account = "a",
                         bool shared = false) {
  return {.id = "dcl_" + domain,
          .account_id = std::move(account),
          .domain = std::move(domain),
          .include_subdomains = subdomains,
          .shared = shared};
}

TEST(DomainClaimsTest, ExactClaimCoversOnlyItsName) {
  const auto c = Claim("example.com");
  EXPECT_TRUE(ClaimCovers(c, "example.com"));
  EXPECT_TRUE(ClaimCovers(c, "EXAMPLE.com"));
  EXPECT_TRUE(ClaimCovers(c, "example.com."));
  EXPECT_FALSE(ClaimCovers(c, "www.example.com"));
  EXPECT_FALSE(ClaimCovers(c, "*.example.com"));
  EXPECT_FALSE(ClaimCovers(c, "badexample.com"));
  EXPECT_FALSE(ClaimCovers(c, "example.org"));
}

TEST(DomainClaimsTest, SubdomainClaimCoversNamesBelowAtAnyDepth) {
  const auto c = Claim("example.com", true);
  EXPECT_TRUE(ClaimCovers(c, "example.com"));
  EXPECT_TRUE(ClaimCovers(c, "www.example.com"));
  EXPECT_TRUE(ClaimCovers(c, "a.b.c.example.com"));
  EXPECT_FALSE(ClaimCovers(c, "badexample.com"));
  EXPECT_FALSE(ClaimCovers(c, "example.com.evil.net"));
  EXPECT_FALSE(ClaimCovers(c, "com"));
}

TEST(DomainClaimsTest, WildcardNeedsIncludeSubdomainsOnItsBaseOrAbove) {
  EXPECT_TRUE(ClaimCovers(Claim("x.example.com", true), "*.x.example.com"));
  EXPECT_TRUE(ClaimCovers(Claim("example.com", true), "*.x.example.com"));
  EXPECT_TRUE(ClaimCovers(Claim("example.com", true), "*.example.com"));
  // An exact claim of the base, or of a name below the base, does not cover the wildcard.
  EXPECT_FALSE(ClaimCovers(Claim("x.example.com"), "*.x.example.com"));
  EXPECT_FALSE(ClaimCovers(Claim("a.x.example.com", true), "*.x.example.com"));
  EXPECT_FALSE(ClaimCovers(Claim("other.com", true), "*.x.example.com"));
}

TEST(DomainClaimsTest, EvaluateNamesTheFirstUnclaimedName) {
  const std::vector<model::DomainClaim> claims = {Claim("example.com"),
                                                  Claim("apps.example.net", true)};
  EXPECT_TRUE(EvaluateDomainClaims(claims, {"example.com", "x.apps.example.net"}, "a").allowed);
  Decision d =
      EvaluateDomainClaims(claims, {"example.com", "www.example.com", "other.test"}, "team-a");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "domain.unclaimed");
  EXPECT_NE(d.message.find("\"www.example.com\""), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("team-a"), std::string::npos) << d.message;
  EXPECT_NE(d.ToStatus().error().message().find("(rule domain.unclaimed)"), std::string::npos);
  // No claims: nothing is covered.
  EXPECT_FALSE(EvaluateDomainClaims({}, {"example.com"}, "a").allowed);
}

TEST(DomainClaimsTest, Overlap) {
  EXPECT_TRUE(ClaimsOverlap(Claim("example.com"), Claim("example.com")));
  EXPECT_TRUE(ClaimsOverlap(Claim("example.com", true), Claim("www.example.com")));
  EXPECT_TRUE(ClaimsOverlap(Claim("www.example.com"), Claim("example.com", true)));
  EXPECT_TRUE(ClaimsOverlap(Claim("a.b.example.com", true), Claim("example.com", true)));
  EXPECT_FALSE(ClaimsOverlap(Claim("example.com"), Claim("www.example.com")));
  EXPECT_FALSE(ClaimsOverlap(Claim("example.com", true), Claim("badexample.com", true)));
  EXPECT_FALSE(ClaimsOverlap(Claim("a.example.com", true), Claim("b.example.com", true)));
}

TEST(DomainClaimsTest, ConflictsAreOtherAccountsOverlapsUnlessBothShared) {
  const std::vector<model::DomainClaim> existing = {Claim("example.com", true, "a"),
                                                    Claim("shared.test", false, "a", true),
                                                    Claim("half.test", false, "a", false)};
  // The same account may hold overlapping claims.
  EXPECT_FALSE(FindConflictingClaim(existing, Claim("www.example.com", false, "a")));
  auto c = FindConflictingClaim(existing, Claim("www.example.com", false, "b"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->domain, "example.com");
  EXPECT_FALSE(FindConflictingClaim(existing, Claim("shared.test", false, "b", true)));
  EXPECT_TRUE(FindConflictingClaim(existing, Claim("shared.test", false, "b", false)));
  EXPECT_TRUE(FindConflictingClaim(existing, Claim("half.test", false, "b", true)));
  EXPECT_FALSE(FindConflictingClaim(existing, Claim("other.test", true, "b")));
}

TEST(DomainClaimsTest, NormalizeAndValidate) {
  EXPECT_EQ(*NormalizeClaimDomain("Example.COM."), "example.com");
  EXPECT_EQ(*NormalizeClaimDomain("xn--bcher-kva.example"), "xn--bcher-kva.example");
  for (const char* bad :
       {"*.example.com", "*", "com", "", "-a.example.com", "a..example.com", "exa_mple.com",
        "example.com:443", "[::1]", "a.example.com/x", "10.1.2.3/16", "192.0.2.0/33", "192.0.2.0/x",
        "010.1.2.3", "fe80::1%eth0"}) {
    auto r = NormalizeClaimDomain(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_NE(r.error().message().find("domain"), std::string::npos) << r.error().message();
  }
  EXPECT_FALSE(NormalizeClaimDomain(std::string(64, 'a') + ".example.com").ok());
  std::string long_name;
  for (int i = 0; i < 51; ++i) long_name += "abcd.";  // 258 octets with "com"
  EXPECT_FALSE(NormalizeClaimDomain(long_name + "com").ok());
  auto wild = NormalizeClaimDomain("*.example.com");
  EXPECT_NE(wild.error().message().find("include_subdomains"), std::string::npos);
}

TEST(DomainClaimsTest, IpClaimsCoverAddressesOnly) {
  EXPECT_EQ(*NormalizeClaimDomain("192.0.2.7"), "192.0.2.7/32");
  EXPECT_EQ(*NormalizeClaimDomain("10.1.0.0/16"), "10.1.0.0/16");
  EXPECT_EQ(*NormalizeClaimDomain("2001:DB8::/32"), "2001:db8::/32");
  const model::DomainClaim net = Claim("10.1.0.0/16", false);
  EXPECT_TRUE(ClaimCovers(net, "10.1.2.3"));
  EXPECT_FALSE(ClaimCovers(net, "10.2.0.1"));
  EXPECT_FALSE(ClaimCovers(net, "example.com"));
  EXPECT_FALSE(ClaimCovers(net, "*.10.1.0.0"));
  // A DNS claim never covers an address, even one that reads like a name below it.
  EXPECT_FALSE(ClaimCovers(Claim("example.com", true), "192.0.2.7"));
  const model::DomainClaim v6 = Claim("2001:db8::/32", false);
  EXPECT_TRUE(ClaimCovers(v6, "2001:db8::1"));
  EXPECT_FALSE(ClaimCovers(v6, "2001:db9::1"));
  EXPECT_TRUE(ClaimsOverlap(net, Claim("10.1.2.0/24", false)));
  EXPECT_TRUE(ClaimsOverlap(Claim("10.1.2.7/32", false), net));
  EXPECT_FALSE(ClaimsOverlap(net, Claim("10.2.0.0/16", false)));
  EXPECT_FALSE(ClaimsOverlap(net, Claim("example.com", true)));
  std::vector<model::DomainClaim> existing = {Claim("10.1.0.0/16", false, "a")};
  EXPECT_TRUE(FindConflictingClaim(existing, Claim("10.1.9.9/32", false, "b")));
  EXPECT_FALSE(FindConflictingClaim(existing, Claim("10.9.0.0/16", false, "b")));
}

}  // namespace
}  // namespace certfleet::policy
