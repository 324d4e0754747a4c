// Parsing, validation and canonical printing of account policies.
#include <gtest/gtest.h>

#include "policy/account_policy.h"

namespace certfleet::policy {
namespace {

using model::Role;

constexpr std::string_view kFull = R"(
[request]
allowed_domains = ["app.example.com", "*.example.com"]
denied_domains = ["secret.example.com"]
allow_wildcards = false
allowed_key_types = ["p256", "p384", "rsa2048", "rsa3072", "rsa4096", "ed25519"]
allowed_profiles = ["tls-server", "tls-client", "short-lived"]
max_validity = "90d"
allow_exportable = true
[export]
roles = ["admin", "operator"]
)";

// The message of a parse failure, or "" when it parsed.
std::string ParseError(std::string_view text) {
  Result<AccountPolicy> p = ParseAccountPolicy(text);
  if (p.ok()) return "";
  EXPECT_EQ(p.error().code(), ErrorCode::kInvalidArgument) << p.error().message();
  return p.error().message();
}

TEST(ParsePolicyTest, FullDocument) {
  Result<AccountPolicy> p = ParseAccountPolicy(kFull);
  ASSERT_TRUE(p.ok()) << p.error().message();
  ASSERT_TRUE(p->allowed_domains.has_value());
  EXPECT_EQ(*p->allowed_domains, (std::vector<std::string>{"*.example.com", "app.example.com"}));
  EXPECT_EQ(p->denied_domains, std::vector<std::string>{"secret.example.com"});
  EXPECT_FALSE(p->allow_wildcards);
  ASSERT_TRUE(p->allowed_key_types.has_value());
  EXPECT_EQ(p->allowed_key_types->size(), 6u);
  ASSERT_TRUE(p->allowed_profiles.has_value());
  EXPECT_EQ(p->allowed_profiles->size(), 3u);
  EXPECT_EQ(p->max_validity, Seconds(90 * 86400));
  EXPECT_TRUE(p->allow_exportable);
  EXPECT_EQ(p->export_roles, (std::vector<Role>{Role::kAdmin, Role::kOperator}));
  EXPECT_EQ(p->source_toml, kFull);
}

TEST(ParsePolicyTest, EmptyDocumentIsTheDefaultPolicy) {
  for (std::string_view text : {"", "\n# nothing\n", "[request]\n[export]\n"}) {
    Result<AccountPolicy> p = ParseAccountPolicy(text);
    ASSERT_TRUE(p.ok()) << p.error().message();
    EXPECT_EQ(*p, AccountPolicy{}) << text;
    EXPECT_FALSE(p->allowed_domains.has_value());
    EXPECT_TRUE(p->denied_domains.empty());
    EXPECT_TRUE(p->allow_wildcards);
    EXPECT_FALSE(p->allowed_key_types.has_value());
    EXPECT_FALSE(p->allowed_profiles.has_value());
    EXPECT_FALSE(p->max_validity.has_value());
    EXPECT_TRUE(p->allow_exportable);
    EXPECT_EQ(p->export_roles, (std::vector<Role>{Role::kAdmin, Role::kOperator}));
  }
}

TEST(ParsePolicyTest, EmptyListsAreRestrictionsNotDefaults) {
  Result<AccountPolicy> p = ParseAccountPolicy(
      "[request]\nallowed_domains = []\nallowed_key_types = []\n[export]\nroles = []\n");
  ASSERT_TRUE(p.ok()) << p.error().message();
  ASSERT_TRUE(p->allowed_domains.has_value());
  EXPECT_TRUE(p->allowed_domains->empty());
  ASSERT_TRUE(p->allowed_key_types.has_value());
  EXPECT_TRUE(p->allowed_key_types->empty());
  EXPECT_TRUE(p->export_roles.empty());
}

TEST(ParsePolicyTest, NormalizesCaseOrderAndDuplicates) {
  Result<AccountPolicy> p = ParseAccountPolicy(R"(
[request]
allowed_domains = ["B.Example.COM", "a.example.com", "b.example.com"]
allowed_key_types = ["ed25519", "p256", "ed25519"]
allowed_profiles = ["short-lived", "tls-server"]
[export]
roles = ["agent", "admin", "agent"]
)");
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(*p->allowed_domains, (std::vector<std::string>{"a.example.com", "b.example.com"}));
  EXPECT_EQ(*p->allowed_key_types, (std::vector<std::string>{"p256", "ed25519"}));
  EXPECT_EQ(*p->allowed_profiles, (std::vector<std::string>{"tls-server", "short-lived"}));
  EXPECT_EQ(p->export_roles, (std::vector<Role>{Role::kAdmin, Role::kAgent}));
}

struct BadCase {
  std::string_view toml;
  std::string_view message_part;  // the key (or problem) the error must name
};

TEST(ParsePolicyTest, UnknownSectionsAndKeysNameTheKey) {
  const BadCase cases[] = {
      {"[requests]\n", "\"requests\""},
      {"allow_wildcards = true\n", "\"allow_wildcards\""},  // top level, outside [request]
      {"[request]\nallowed_domain = []\n", "\"request.allowed_domain\""},
      {"[request]\nmax_validity_days = 90\n", "\"request.max_validity_days\""},
      {"[request.limits]\nx = 1\n", "\"request.limits\""},
      {"[export]\nrole = [\"admin\"]\n", "\"export.role\""},
      {"[export]\nroles = [\"admin\"]\nallow = true\n", "\"export.allow\""},
  };
  for (const BadCase& c : cases) {
    std::string message = ParseError(c.toml);
    EXPECT_NE(message.find(c.message_part), std::string::npos) << c.toml << " -> " << message;
    EXPECT_NE(message.find("unknown"), std::string::npos) << message;
  }
}

TEST(ParsePolicyTest, WrongTypesNameTheKey) {
  const BadCase cases[] = {
      {"request = 5\n", "request must be a table"},
      {"export = \"admin\"\n", "export must be a table"},
      {"[request]\nallowed_domains = \"a.example.com\"\n", "request.allowed_domains must be"},
      {"[request]\ndenied_domains = [1]\n", "request.denied_domains[0] must be a string"},
      {"[request]\nallow_wildcards = \"no\"\n", "request.allow_wildcards must be true or false"},
      {"[request]\nallow_exportable = 1\n", "request.allow_exportable must be true or false"},
      {"[request]\nallowed_key_types = [\"p256\", [\"p384\"]]\n",
       "request.allowed_key_types[1] must be a string"},
      {"[request]\nallowed_profiles = {a = 1}\n", "request.allowed_profiles must be"},
      {"[request]\nmax_validity = 90\n", "request.max_validity must be a duration"},
      {"[request]\nmax_validity = 2024-01-01\n", "request.max_validity must be a duration"},
      {"[export]\nroles = \"admin\"\n", "export.roles must be"},
      {"[export]\nroles = [true]\n", "export.roles[0] must be a string"},
  };
  for (const BadCase& c : cases) {
    std::string message = ParseError(c.toml);
    EXPECT_NE(message.find(c.message_part), std::string::npos) << c.toml << " -> " << message;
  }
}

TEST(ParsePolicyTest, BadValuesNameTheKey) {
  const BadCase cases[] = {
      {"[request]\nallowed_domains = [\"ok.example.com\", \"bad..example.com\"]\n",
       "request.allowed_domains[1]"},
      {"[request]\nallowed_domains = [\"localhost\"]\n", "request.allowed_domains[0]"},
      {"[request]\nallowed_domains = [\"10.0.0.1/8\"]\n", "request.allowed_domains[0]"},
      {"[request]\nallowed_domains = [\"a.*.example.com\"]\n", "request.allowed_domains[0]"},
      {"[request]\ndenied_domains = [\"*\"]\n", "request.denied_domains[0]"},
      {"[request]\ndenied_domains = [\"\"]\n", "request.denied_domains[0]"},
      {"[request]\nallowed_key_types = [\"p521\"]\n", "request.allowed_key_types[0]"},
      {"[request]\nallowed_key_types = [\"P256\"]\n", "request.allowed_key_types[0]"},
      {"[request]\nallowed_profiles = [\"tls-server\", \"code-signing\"]\n",
       "request.allowed_profiles[1]"},
      {"[request]\nmax_validity = \"90y\"\n", "request.max_validity"},
      {"[request]\nmax_validity = \"0d\"\n", "request.max_validity"},
      {"[request]\nmax_validity = \"-1d\"\n", "request.max_validity"},
      {"[request]\nmax_validity = \"\"\n", "request.max_validity"},
      {"[export]\nroles = [\"admin\", \"root\"]\n", "export.roles[1]"},
  };
  for (const BadCase& c : cases) {
    std::string message = ParseError(c.toml);
    EXPECT_NE(message.find(c.message_part), std::string::npos) << c.toml << " -> " << message;
  }
}

TEST(ParsePolicyTest, SyntaxErrorsAreInvalidArgumentWithPosition) {
  for (std::string_view text : {"[request\n", "[request]\nallow_wildcards = \n",
                                "[request]\nallow_wildcards = true\nallow_wildcards = false\n",
                                "[request]\n[request]\n", "\xff\xfe"}) {
    std::string message = ParseError(text);
    EXPECT_NE(message.find("not valid TOML at line"), std::string::npos) << message;
  }
}

TEST(ParsePolicyTest, RefusesOversizedDocuments) {
  std::string text = "[request]\n" + std::string(kMaxPolicyBytes, '#');
  Result<AccountPolicy> p = ParseAccountPolicy(text);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), ErrorCode::kTooLarge);
}

TEST(ParsePolicyTest, RefusesOverlongLists) {
  std::string text = "[request]\nallowed_domains = [";
  for (size_t i = 0; i <= kMaxPolicyListEntries; ++i) {
    text += "\"h" + std::to_string(i) + ".example.com\",";
  }
  text += "]\n";
  ASSERT_LE(text.size(), kMaxPolicyBytes);
  EXPECT_NE(ParseError(text).find("more than"), std::string::npos);
}

TEST(PolicyToTomlTest, CanonicalFormIsStable) {
  Result<AccountPolicy> p = ParseAccountPolicy(kFull);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(PolicyToToml(*p),
            "[request]\n"
            "allowed_domains = [\"*.example.com\", \"app.example.com\"]\n"
            "denied_domains = [\"secret.example.com\"]\n"
            "allow_wildcards = false\n"
            "allowed_key_types = [\"p256\", \"p384\", \"rsa2048\", \"rsa3072\", \"rsa4096\", "
            "\"ed25519\"]\n"
            "allowed_profiles = [\"tls-server\", \"tls-client\", \"short-lived\"]\n"
            "max_validity = \"90d\"\n"
            "allow_exportable = true\n"
            "\n"
            "[export]\n"
            "roles = [\"admin\", \"operator\"]\n"
            "\n"
            "[notify]\n"
            "expiry_warning_days = 30\n");
}

TEST(ParsePolicyTest, ExpiryWarningDaysDefaultsTo30AndIsBounded) {
  EXPECT_EQ(ParseAccountPolicy("")->expiry_warning_days, 30);
  Result<AccountPolicy> p = ParseAccountPolicy("[notify]\nexpiry_warning_days = 7\n");
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->expiry_warning_days, 7);
  EXPECT_FALSE(*p == *ParseAccountPolicy(""));
  for (std::string_view bad :
       {"[notify]\nexpiry_warning_days = 0\n", "[notify]\nexpiry_warning_days = 366\n",
        "[notify]\nexpiry_warning_days = \"30d\"\n"}) {
    std::string message = ParseError(bad);
    EXPECT_NE(message.find("notify.expiry_warning_days"), std::string::npos) << message;
  }
  EXPECT_NE(ParseError("[notify]\nexpiry_days = 3\n").find("\"notify.expiry_days\""),
            std::string::npos);
}

TEST(PolicyToTomlTest, DefaultPolicyShowsWhatIsUnset) {
  const std::string text = PolicyToToml(AccountPolicy{});
  EXPECT_NE(text.find("# allowed_domains is not set"), std::string::npos) << text;
  EXPECT_NE(text.find("allow_wildcards = true"), std::string::npos) << text;
  EXPECT_NE(text.find("roles = [\"admin\", \"operator\"]"), std::string::npos) << text;
}

TEST(PolicyToTomlTest, RoundTripsEveryParsedPolicy) {
  const std::string_view documents[] = {
      kFull,
      "",
      "[request]\nallowed_domains = []\n[export]\nroles = []\n",
      "[request]\nmax_validity = \"36h\"\nallow_exportable = false\n",
      "[request]\nmax_validity = \"3601s\"\ndenied_domains = [\"*.Internal.Example.com\"]\n",
      "[export]\nroles = [\"auditor\", \"agent\", \"operator\", \"admin\"]\n",
      "[request]\nallowed_profiles = [\"short-lived\"]\nallowed_key_types = [\"ed25519\"]\n",
      "[notify]\nexpiry_warning_days = 365\n",
  };
  for (std::string_view doc : documents) {
    Result<AccountPolicy> first = ParseAccountPolicy(doc);
    ASSERT_TRUE(first.ok()) << doc << ": " << first.error().message();
    const std::string canonical = PolicyToToml(*first);
    Result<AccountPolicy> second = ParseAccountPolicy(canonical);
    ASSERT_TRUE(second.ok()) << canonical << ": " << second.error().message();
    EXPECT_EQ(*first, *second) << canonical;
    EXPECT_EQ(PolicyToToml(*second), canonical);  // a fixed point
    EXPECT_EQ(second->source_toml, canonical);
  }
}

TEST(PolicyToTomlTest, EscapesHandBuiltStrings) {
  AccountPolicy p;
  p.denied_domains = {"a\"b\\c\n"};
  const std::string text = PolicyToToml(p);
  EXPECT_NE(text.find(R"("a\"b\\c\u000a")"), std::string::npos) << text;
  // The escaped value is well-formed TOML; it is then refused as a domain, not as syntax.
  std::string message = ParseError(text);
  EXPECT_NE(message.find("request.denied_domains[0]"), std::string::npos) << message;
}

TEST(AccountPolicyTest, EqualityIgnoresSource) {
  Result<AccountPolicy> a = ParseAccountPolicy("[request]\nallow_wildcards = true\n");
  Result<AccountPolicy> b = ParseAccountPolicy("");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->source_toml, b->source_toml);
  EXPECT_EQ(*a, *b);
}

}  // namespace
}  // namespace certfleet::policy
