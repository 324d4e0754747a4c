// Decision tables for EvaluateRequest and EvaluateExport: every rule both allowing and denying,
// with the denying rule id asserted.
#include <gtest/gtest.h>

#include "policy/account_policy.h"
#include "policy/domain_match.h"

namespace certfleet::policy {
namespace {

using model::Role;

constexpr Seconds kDay{86400};

AccountPolicy Policy(std::string_view toml) {
  Result<AccountPolicy> p = ParseAccountPolicy(toml);
  CF_CHECK(p.ok());
  return std::move(p).value();
}

// A request that every policy in these tables allows unless a case changes it.
RequestFacts Request(std::vector<std::string> domains = {"app.example.com"}) {
  return RequestFacts{.domains = std::move(domains),
                      .key_type = "p256",
                      .profile = "tls-server",
                      .validity = 30 * kDay,
                      .exportable = false};
}

struct Case {
  std::string_view name;
  RequestFacts facts;
  std::string_view rule;  // "" = allowed
};

void ExpectDecisions(const AccountPolicy& policy, const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    Decision d = EvaluateRequest(policy, c.facts);
    if (c.rule.empty()) {
      EXPECT_TRUE(d.allowed) << c.name << ": denied by " << d.rule << ": " << d.message;
      EXPECT_TRUE(d.rule.empty() && d.message.empty()) << c.name;
    } else {
      EXPECT_FALSE(d.allowed) << c.name;
      EXPECT_EQ(d.rule, c.rule) << c.name << ": " << d.message;
      EXPECT_FALSE(d.message.empty()) << c.name;
    }
  }
}

RequestFacts With(RequestFacts f, std::string key_type, std::string profile) {
  f.key_type = std::move(key_type);
  f.profile = std::move(profile);
  return f;
}

RequestFacts WithValidity(Seconds validity) {
  RequestFacts f = Request();
  f.validity = validity;
  return f;
}

RequestFacts Exportable() {
  RequestFacts f = Request();
  f.exportable = true;
  return f;
}

TEST(EvaluateRequestTest, DefaultPolicyRestrictsNothingButFailsClosedOnMalformedFacts) {
  ExpectDecisions(
      AccountPolicy{},
      {
          {"plain", Request(), ""},
          {"any domain", Request({"anything.test.org", "*.wild.example.net"}), ""},
          {"every key type", With(Request(), "ed25519", "tls-client"), ""},
          {"long validity", WithValidity(10000 * kDay), ""},
          {"exportable", Exportable(), ""},
          {"no domains", Request({}), "domains.empty"},
          {"empty label", Request({"bad..example.com"}), "domains.invalid"},
          {"ip literal with a zone", Request({"fe80::1%eth0"}), "domains.invalid"},
          {"ip network", Request({"10.0.0.0/8"}), "domains.invalid"},
          {"single label", Request({"localhost"}), "domains.invalid"},
          {"inner wildcard", Request({"a.*.example.com"}), "domains.invalid"},
          {"double wildcard", Request({"*.*.example.com"}), "domains.invalid"},
          {"one bad among good", Request({"app.example.com", "bad_name.example.com"}),
           "domains.invalid"},
          {"unknown key type", With(Request(), "p521", "tls-server"), "key_type.unknown"},
          {"key type case", With(Request(), "P256", "tls-server"), "key_type.unknown"},
          {"empty key type", With(Request(), "", "tls-server"), "key_type.unknown"},
          {"unknown profile", With(Request(), "p256", "code-signing"), "profile.unknown"},
          {"empty profile", With(Request(), "p256", ""), "profile.unknown"},
          {"zero validity", WithValidity(Seconds(0)), "validity.invalid"},
          {"negative validity", WithValidity(Seconds(-1)), "validity.invalid"},
      });
}

TEST(EvaluateRequestTest, AllowedAndDeniedDomains) {
  const AccountPolicy policy = Policy(R"(
[request]
allowed_domains = ["app.example.com", "*.example.com"]
denied_domains = ["secret.example.com"]
)");
  ExpectDecisions(
      policy,
      {
          {"exact", Request({"app.example.com"}), ""},
          {"exact, other case", Request({"APP.Example.Com"}), ""},
          {"under wildcard pattern", Request({"x.example.com"}), ""},
          {"any depth", Request({"a.b.c.example.com"}), ""},
          {"below a denied name", Request({"x.secret.example.com"}), ""},
          {"wildcard SAN under pattern", Request({"*.a.example.com"}), ""},
          {"pattern base itself", Request({"example.com"}), "domains.not_allowed"},
          {"other domain", Request({"other.com"}), "domains.not_allowed"},
          {"suffix without label boundary", Request({"badexample.com"}), "domains.not_allowed"},
          {"pattern as prefix", Request({"example.com.evil.net"}), "domains.not_allowed"},
          {"one of several", Request({"app.example.com", "other.com"}), "domains.not_allowed"},
          {"denied exact", Request({"secret.example.com"}), "domains.denied"},
          {"denied, other case", Request({"SECRET.example.COM"}), "domains.denied"},
          {"denied among allowed", Request({"app.example.com", "secret.example.com"}),
           "domains.denied"},
          // A certificate for *.example.com would be valid for secret.example.com.
          {"wildcard covering a denied name", Request({"*.example.com"}), "domains.denied"},
      });
}

TEST(EvaluateRequestTest, WildcardSanMatchesExactPatternOnlyIfIdentical) {
  ExpectDecisions(
      Policy("[request]\nallowed_domains = [\"app.example.com\"]\n"),
      {
          {"exact", Request({"app.example.com"}), ""},
          {"wildcard below exact", Request({"*.app.example.com"}), "domains.not_allowed"},
          {"wildcard beside exact", Request({"*.example.com"}), "domains.not_allowed"},
      });
  ExpectDecisions(Policy("[request]\nallowed_domains = [\"*.example.com\"]\n"),
                  {
                      {"identical wildcard", Request({"*.EXAMPLE.com"}), ""},
                      {"deeper wildcard", Request({"*.a.b.example.com"}), ""},
                      {"wildcard above pattern", Request({"*.com"}), "domains.invalid"},
                      {"wildcard elsewhere", Request({"*.example.org"}), "domains.not_allowed"},
                  });
}

TEST(EvaluateRequestTest, DeniedWildcardPatterns) {
  ExpectDecisions(Policy(R"(
[request]
allowed_domains = ["*.example.com"]
denied_domains = ["*.internal.example.com"]
)"),
                  {
                      {"outside the denied subtree", Request({"www.example.com"}), ""},
                      {"the denied base itself", Request({"internal.example.com"}), ""},
                      {"sibling wildcard", Request({"*.other.example.com"}), ""},
                      {"inside", Request({"db.internal.example.com"}), "domains.denied"},
                      {"deep inside", Request({"a.db.internal.example.com"}), "domains.denied"},
                      {"identical wildcard", Request({"*.internal.example.com"}), "domains.denied"},
                      {"wildcard inside", Request({"*.db.internal.example.com"}), "domains.denied"},
                      {"wildcard above", Request({"*.example.com"}), "domains.denied"},
                  });
}

TEST(EvaluateRequestTest, DenyWinsOverAllow) {
  ExpectDecisions(
      Policy(R"(
[request]
allowed_domains = ["secret.example.com", "*.example.com"]
denied_domains = ["secret.example.com"]
)"),
      {
          {"allowed exactly and denied", Request({"secret.example.com"}), "domains.denied"},
          {"unaffected", Request({"public.example.com"}), ""},
      });
  // Deny applies even without an allow list.
  ExpectDecisions(Policy("[request]\ndenied_domains = [\"*.example.com\"]\n"),
                  {
                      {"denied", Request({"a.example.com"}), "domains.denied"},
                      {"not denied", Request({"example.com"}), ""},
                  });
}

TEST(EvaluateRequestTest, EmptyAllowListAllowsNothing) {
  ExpectDecisions(Policy("[request]\nallowed_domains = []\n"),
                  {
                      {"any name", Request({"app.example.com"}), "domains.not_allowed"},
                      {"any wildcard", Request({"*.example.com"}), "domains.not_allowed"},
                  });
}

TEST(EvaluateRequestTest, Wildcards) {
  ExpectDecisions(Policy("[request]\nallow_wildcards = false\n"),
                  {
                      {"plain", Request({"app.example.com"}), ""},
                      {"wildcard", Request({"*.example.com"}), "wildcard.denied"},
                      {"wildcard among plain", Request({"app.example.com", "*.Example.com"}),
                       "wildcard.denied"},
                  });
  ExpectDecisions(Policy("[request]\nallow_wildcards = true\n"),
                  {{"wildcard", Request({"*.example.com"}), ""}});
  // Checked before domain lists: a wildcard is refused as a wildcard, whatever its name.
  ExpectDecisions(
      Policy("[request]\nallow_wildcards = false\ndenied_domains = [\"*.example.com\"]\n"),
      {{"both", Request({"*.example.com"}), "wildcard.denied"}});
}

TEST(EvaluateRequestTest, KeyTypesAndProfiles) {
  ExpectDecisions(
      Policy(R"(
[request]
allowed_key_types = ["p256", "ed25519"]
allowed_profiles = ["tls-server", "short-lived"]
)"),
      {
          {"both allowed", With(Request(), "ed25519", "short-lived"), ""},
          {"key type not allowed", With(Request(), "rsa2048", "tls-server"),
           "key_type.not_allowed"},
          {"key type unknown", With(Request(), "rsa1024", "tls-server"), "key_type.unknown"},
          {"profile not allowed", With(Request(), "p256", "tls-client"), "profile.not_allowed"},
          {"profile unknown", With(Request(), "p256", "Tls-Server"), "profile.unknown"},
      });
  ExpectDecisions(Policy("[request]\nallowed_key_types = []\nallowed_profiles = []\n"),
                  {{"empty key type list", Request(), "key_type.not_allowed"}});
  ExpectDecisions(Policy("[request]\nallowed_profiles = []\n"),
                  {{"empty profile list", Request(), "profile.not_allowed"}});
}

TEST(EvaluateRequestTest, MaxValidity) {
  ExpectDecisions(
      Policy("[request]\nmax_validity = \"90d\"\n"),
      {
          {"one second", WithValidity(Seconds(1)), ""},
          {"exactly the maximum", WithValidity(90 * kDay), ""},
          {"one second over", WithValidity(90 * kDay + Seconds(1)), "validity.too_long"},
          {"far over", WithValidity(398 * kDay), "validity.too_long"},
          {"zero", WithValidity(Seconds(0)), "validity.invalid"},
      });
  Decision d =
      EvaluateRequest(Policy("[request]\nmax_validity = \"90d\"\n"), WithValidity(100 * kDay));
  EXPECT_NE(d.message.find("100d"), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("90d"), std::string::npos) << d.message;
}

TEST(EvaluateRequestTest, Exportable) {
  ExpectDecisions(Policy("[request]\nallow_exportable = false\n"),
                  {
                      {"not exportable", Request(), ""},
                      {"exportable", Exportable(), "exportable.denied"},
                  });
  ExpectDecisions(Policy("[request]\nallow_exportable = true\n"),
                  {{"exportable", Exportable(), ""}});
}

TEST(EvaluateRequestTest, DecisionConvertsToForbidden) {
  Decision d = EvaluateRequest(Policy("[request]\nallow_exportable = false\n"), Exportable());
  Status s = d.ToStatus();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(s.error().message().find("exportable.denied"), std::string::npos);
  EXPECT_TRUE(Decision::Allow().ToStatus().ok());
  EXPECT_FALSE(Decision{}.allowed);  // default-constructed decisions deny
}

TEST(EvaluateExportTest, RolesTable) {
  struct ExportCase {
    std::string_view policy;
    Role role;
    bool allowed;
  };
  const ExportCase cases[] = {
      {"", Role::kAdmin, true},
      {"", Role::kOperator, true},
      {"", Role::kAuditor, false},
      {"", Role::kAgent, false},
      {"[export]\nroles = []\n", Role::kAdmin, false},
      {"[export]\nroles = []\n", Role::kOperator, false},
      {"[export]\nroles = [\"admin\"]\n", Role::kAdmin, true},
      {"[export]\nroles = [\"admin\"]\n", Role::kOperator, false},
      {"[export]\nroles = [\"auditor\"]\n", Role::kAuditor, true},
      {"[export]\nroles = [\"auditor\"]\n", Role::kAdmin, false},
      {"", static_cast<Role>(99), false},
  };
  for (const ExportCase& c : cases) {
    Decision d = EvaluateExport(Policy(c.policy), ExportFacts{c.role});
    EXPECT_EQ(d.allowed, c.allowed) << c.policy << " role " << static_cast<int>(c.role);
    if (!c.allowed) {
      EXPECT_EQ(d.rule, "export.role_denied");
    }
  }
}

TEST(DomainMatchTest, CoversAndOverlaps) {
  struct MatchCase {
    std::string_view pattern, san;
    bool covers, overlaps;
  };
  const MatchCase cases[] = {
      {"a.example.com", "a.example.com", true, true},
      {"A.EXAMPLE.COM", "a.example.com", true, true},
      {"a.example.com", "b.example.com", false, false},
      {"a.example.com", "*.example.com", false, true},
      {"a.b.example.com", "*.example.com", false, true},
      {"example.com", "*.example.com", false, false},
      {"*.example.com", "a.example.com", true, true},
      {"*.example.com", "example.com", false, false},
      {"*.example.com", "xexample.com", false, false},
      {"*.example.com", "a.badexample.com", false, false},
      {"*.example.com", "*.badexample.com", false, false},
      {"a.example.com", "*.badexample.com", false, false},
      {"*.example.com", "*.example.com", true, true},
      {"*.example.com", "*.a.example.com", true, true},
      {"*.a.example.com", "*.example.com", false, true},
      {"*.a.example.com", "*.b.example.com", false, false},
      {"*.a.example.com", "b.example.com", false, false},
  };
  for (const MatchCase& c : cases) {
    EXPECT_EQ(PatternCovers(c.pattern, c.san), c.covers) << c.pattern << " / " << c.san;
    EXPECT_EQ(PatternOverlaps(c.pattern, c.san), c.overlaps) << c.pattern << " / " << c.san;
  }
}

TEST(EvaluateRequestTest, IpIdentifiersMeetOnlyIpPatterns) {
  ExpectDecisions(Policy(R"(
[request]
allowed_domains = ["*.example.com", "10.1.0.0/16", "2001:DB8::/32"]
denied_domains = ["10.1.9.0/24"]
)"),
                  {
                      {"inside an allowed network", Request({"10.1.2.3"}), ""},
                      {"IPv6 inside", Request({"2001:db8::7"}), ""},
                      {"outside", Request({"10.2.0.1"}), "domains.not_allowed"},
                      {"denied network", Request({"10.1.9.4"}), "domains.denied"},
                      {"a name still needs a name pattern", Request({"www.example.com"}), ""},
                  });
  // Without IP patterns an address is allowed only where no allow list exists.
  ExpectDecisions(Policy("[request]\nallowed_domains = [\"*.example.com\"]\n"),
                  {{"no IP pattern", Request({"192.0.2.7"}), "domains.not_allowed"}});
  ExpectDecisions(Policy("[request]\ndenied_domains = [\"*.example.com\"]\n"),
                  {{"a DNS deny pattern does not match an address", Request({"192.0.2.7"}), ""}});
  EXPECT_FALSE(ParseAccountPolicy("[request]\nallowed_domains = [\"10.1.2.3/16\"]\n").ok());
}

}  // namespace
}  // namespace certfleet::policy
