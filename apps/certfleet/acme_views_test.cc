#include "acme_views.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace certfleet::cli {
namespace {

using nlohmann::json;

TEST(JsonWithSecretMember, AddsTheEscapedSecret) {
  const json rest = {{"name", "dns"}, {"type", "rfc2136"}};
  const std::string key_file = "key \"k\" {\n\tsecret \"YWJj\";\n};\n";
  const SecretBytes body = JsonWithSecretMember(rest, "tsig_key", SecretBytes::FromView(key_file));
  const json parsed = json::parse(body.view());
  EXPECT_EQ(parsed["name"], "dns");
  EXPECT_EQ(parsed["type"], "rfc2136");
  EXPECT_EQ(parsed["tsig_key"], key_file);
}

TEST(JsonWithSecretMember, EmptyRest) {
  const SecretBytes body =
      JsonWithSecretMember(json::object(), "eab_hmac", SecretBytes::FromView("a\"b"));
  EXPECT_EQ(body.view(), R"({"eab_hmac":"a\"b"})");
}

json IssuerView() {
  return {{"id", "acm_1"},
          {"account_id", "acc_1"},
          {"kind", "issuer"},
          {"name", "le"},
          {"type", "acme"},
          {"config",
           {{"directory_url", "https://acme.example.test/dir"},
            {"trust_pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
            {"eab_kid", ""},
            {"solvers",
             {{{"solver", "dns"}, {"domain_suffix", "example.com"}},
              {{"solver", "http01"}, {"domain_suffix", ""}}}}}},
          {"has_eab", false},
          {"created_by", "prn_1"},
          {"created_at", "2026-11-27T00:00:00Z"},
          {"updated_at", "2026-11-27T00:00:00Z"}};
}

TEST(AcmeViewLines, FlattensConfig) {
  const auto lines = AcmeViewLines(IssuerView());
  std::map<std::string, std::string> m(lines.begin(), lines.end());
  EXPECT_EQ(m["name"], "le");
  EXPECT_EQ(m["directory url"], "https://acme.example.test/dir");
  EXPECT_EQ(m["solvers"], "dns:example.com, http01");
  EXPECT_EQ(m["trust pem"], "59 bytes");
  EXPECT_EQ(m["eab kid"], "-");
  EXPECT_EQ(m["has eab"], "no");
  EXPECT_EQ(lines.back().first, "updated at");
}

TEST(AcmeViewLines, SolverHasNoEabLineAndSanitizes) {
  json view = {{"kind", "solver"}, {"name", "x"}, {"config", {{"program", "/bin/\x1b[2Jhook"}}}};
  const auto lines = AcmeViewLines(view);
  std::map<std::string, std::string> m(lines.begin(), lines.end());
  EXPECT_EQ(m.count("has eab"), 0u);
  EXPECT_EQ(m["program"].find('\x1b'), std::string::npos);
  EXPECT_EQ(ConfigCell(view, "program").find('\x1b'), std::string::npos);
  EXPECT_EQ(ConfigCell(view, "server"), "-");
  EXPECT_EQ(ConfigCell(IssuerView(), "solvers"), "dns:example.com, http01");
  const json agents = {{"config", {{"selector", {{"role", "web"}, {"site", "b\x1b"}}}}}};
  EXPECT_EQ(ConfigCell(agents, "selector").find('\x1b'), std::string::npos);
  EXPECT_EQ(ConfigCell(agents, "selector").rfind("role=web,site=b", 0), 0u);
}

TEST(IssuanceStateOf, ReadsStatus) {
  EXPECT_EQ(*IssuanceStateOf({{"status", "pending"}}), IssuanceState::kPending);
  EXPECT_EQ(*IssuanceStateOf({{"status", "failed"}}), IssuanceState::kFailed);
  EXPECT_EQ(*IssuanceStateOf({{"status", "issued"}}), IssuanceState::kDone);
  EXPECT_EQ(*IssuanceStateOf({{"status", "revoked"}}), IssuanceState::kDone);
  EXPECT_FALSE(IssuanceStateOf(json::object()).ok());
  EXPECT_FALSE(IssuanceStateOf({{"status", 3}}).ok());
  EXPECT_FALSE(IssuanceStateOf(json::array()).ok());
}

}  // namespace
}  // namespace certfleet::cli
