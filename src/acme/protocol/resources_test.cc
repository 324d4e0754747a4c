#include "acme/protocol/resources.h"

#include <gtest/gtest.h>

#include "acme/client/transport.h"
#include "acme/protocol/problem.h"
#include "base/time_util.h"

namespace certfleet::acme {
namespace {

constexpr char kDirectory[] = R"({
  "newNonce": "https://ca.test/nonce", "newAccount": "https://ca.test/acct",
  "newOrder": "https://ca.test/order", "revokeCert": "https://ca.test/revoke",
  "keyChange": "https://ca.test/key", "renewalInfo": "https://ca.test/ari",
  "meta": {"termsOfService": "https://ca.test/tos", "externalAccountRequired": true,
           "profiles": {"classic": "the usual", "shortlived": "6 days"}}})";

TEST(ResourcesTest, ParsesDirectory) {
  auto d = ParseDirectory(kDirectory, false);
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  EXPECT_EQ(d->new_order, "https://ca.test/order");
  EXPECT_EQ(d->renewal_info, "https://ca.test/ari");
  EXPECT_TRUE(d->external_account_required);
  EXPECT_EQ(d->profiles.size(), 2u);
}

TEST(ResourcesTest, RefusesHttpUrlsUnlessAllowed) {
  std::string dir = kDirectory;
  dir.replace(dir.find("https://ca.test/order"), 21, "http://ca.test/order");
  auto d = ParseDirectory(dir, false);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(d.error().message().find("non-https"), std::string::npos) << d.error().message();
  EXPECT_TRUE(ParseDirectory(dir, true).ok());
  EXPECT_FALSE(CheckServerUrl("ftp://ca.test/x", true, "x").ok());
  EXPECT_FALSE(CheckServerUrl("/relative", false, "x").ok());
}

TEST(ResourcesTest, RefusesBadJsonWithoutThrowing) {
  for (const char* body : {"", "{", "[1,2]", "null", "{\"newNonce\": 5}", "\xff\xfe"}) {
    auto d = ParseDirectory(body, false);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code(), ErrorCode::kMalformed) << body;
  }
}

TEST(ResourcesTest, ParsesAuthorizationAndRefusesBadTokens) {
  std::string body = R"({"status":"pending","identifier":{"type":"dns","value":"example.test"},
    "wildcard":true,"challenges":[{"type":"dns-01","url":"https://ca.test/chal/1",
    "status":"pending","token":"TOKEN"}]})";
  std::string good = body;
  good.replace(good.find("TOKEN"), 5, "DGyRejmCefe7v4NfDGDKfA");
  auto a = ParseAuthorization(good, "https://ca.test/authz/1", false);
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_TRUE(a->wildcard);
  ASSERT_NE(a->Find("dns-01"), nullptr);
  EXPECT_EQ(a->Find("http-01"), nullptr);
  std::string bad = body;
  bad.replace(bad.find("TOKEN"), 5, "../../../etc/passwd");
  auto b = ParseAuthorization(bad, "https://ca.test/authz/1", false);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code(), ErrorCode::kMalformed);
  EXPECT_NE(b.error().message().find("base64url"), std::string::npos);
}

TEST(ResourcesTest, ParsesOrderWithProblem) {
  auto o = ParseOrder(R"({"status":"invalid","identifiers":[{"type":"dns","value":"a.test"}],
    "authorizations":["https://ca.test/authz/1"],"finalize":"https://ca.test/fin/1",
    "error":{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"no"}})",
                      "https://ca.test/order/1", false);
  ASSERT_TRUE(o.ok()) << o.error().ToString();
  ASSERT_TRUE(o->error.has_value());
  EXPECT_TRUE(o->error->Is("rejectedIdentifier"));
}

TEST(ProblemTest, RendersClearErrors) {
  auto p = ParseProblem(R"({"type":"urn:ietf:params:acme:error:alreadyRevoked",
    "detail":"Certificate already revoked\n\u0000forged","status":400})",
                        400);
  ASSERT_TRUE(p.has_value());
  Error e = ProblemError(*p, "revokeCert");
  EXPECT_EQ(e.code(), ErrorCode::kConflict);
  EXPECT_EQ(e.message(),
            "the CA refused: alreadyRevoked: Certificate already revoked  forged (revokeCert)");
  auto nonce = ParseProblem(R"({"type":"urn:ietf:params:acme:error:badNonce"})", 400);
  ASSERT_TRUE(nonce.has_value());
  EXPECT_TRUE(ProblemError(*nonce, "x").retryable());
  EXPECT_FALSE(ParseProblem("not json", 500).has_value());
  EXPECT_FALSE(ParseProblem(R"({"detail":"no type"})", 500).has_value());
}

TEST(TransportTest, RetryAfterIsParsedAndCapped) {
  TimePoint now = *ParseRfc3339("2026-01-01T00:00:00Z");
  EXPECT_EQ(ParseRetryAfter("30", now), std::chrono::seconds(30));
  EXPECT_EQ(ParseRetryAfter("1000000000", now), std::chrono::hours(24 * 365));
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999999", now), std::chrono::hours(24 * 365));
  EXPECT_EQ(ParseRetryAfter("Thu, 01 Jan 2026 00:01:00 GMT", now), std::chrono::seconds(60));
  EXPECT_EQ(ParseRetryAfter("-5", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
}

TEST(TransportTest, LinksByRelation) {
  Response r;
  r.headers["link"] =
      R"(<https://ca.test/cert/1/1>;rel="alternate", <https://ca.test/dir>;rel="index", )"
      R"(<https://ca.test/cert/1/2>; rel=alternate)";
  EXPECT_EQ(r.Links("alternate"),
            (std::vector<std::string>{"https://ca.test/cert/1/1", "https://ca.test/cert/1/2"}));
  EXPECT_EQ(r.Links("index"), std::vector<std::string>{"https://ca.test/dir"});
  EXPECT_TRUE(r.Links("up").empty());
}

}  // namespace
}  // namespace certfleet::acme
