#include "acme/protocol/server_problem.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace certfleet::acme {
namespace {

using nlohmann::json;

struct TypeCase {
  std::string type;
  ErrorCode code;
  int status;
};

TEST(ServerProblemTest, EveryRfc8555TypeHasItsCodeAndStatus) {
  const std::vector<TypeCase> cases = {
      {"accountDoesNotExist", ErrorCode::kNotFound, 400},
      {"alreadyRevoked", ErrorCode::kConflict, 400},
      {"badCSR", ErrorCode::kInvalidArgument, 400},
      {"badNonce", ErrorCode::kUnavailable, 400},
      {"badPublicKey", ErrorCode::kInvalidArgument, 400},
      {"badRevocationReason", ErrorCode::kInvalidArgument, 400},
      {"badSignatureAlgorithm", ErrorCode::kInvalidArgument, 400},
      {"caa", ErrorCode::kForbidden, 403},
      {"compound", ErrorCode::kForbidden, 403},
      {"connection", ErrorCode::kFailedPrecondition, 400},
      {"dns", ErrorCode::kFailedPrecondition, 400},
      {"externalAccountRequired", ErrorCode::kUnauthorized, 403},
      {"incorrectResponse", ErrorCode::kFailedPrecondition, 400},
      {"invalidContact", ErrorCode::kInvalidArgument, 400},
      {"invalidProfile", ErrorCode::kInvalidArgument, 400},
      {"malformed", ErrorCode::kMalformed, 400},
      {"orderNotReady", ErrorCode::kFailedPrecondition, 403},
      {"rateLimited", ErrorCode::kRateLimited, 429},
      {"rejectedIdentifier", ErrorCode::kForbidden, 400},
      {"serverInternal", ErrorCode::kInternal, 500},
      {"tls", ErrorCode::kFailedPrecondition, 400},
      {"unauthorized", ErrorCode::kUnauthorized, 403},
      {"unsupportedContact", ErrorCode::kInvalidArgument, 400},
      {"unsupportedIdentifier", ErrorCode::kInvalidArgument, 400},
      {"userActionRequired", ErrorCode::kFailedPrecondition, 403},
  };
  for (const TypeCase& c : cases) {
    Error e = AcmeError(c.type, "why");
    EXPECT_EQ(e.code(), c.code) << c.type;
    EXPECT_EQ(e.message(), "why") << c.type;
    EXPECT_EQ(AcmeTypeOf(e), c.type);
    EXPECT_EQ(AcmeStatusOf(e), c.status) << c.type;
    ASSERT_NE(e.cause(), nullptr);
    EXPECT_EQ(e.cause()->message(), "urn:ietf:params:acme:error:" + c.type);
    json doc = json::parse(ToProblemJson(e));
    EXPECT_EQ(doc["type"], "urn:ietf:params:acme:error:" + c.type);
    EXPECT_EQ(doc["detail"], "why");
    EXPECT_EQ(doc["status"], c.status);
    EXPECT_FALSE(doc.contains("subproblems"));
  }
}

TEST(ServerProblemTest, BadNonceAndRateLimitedAreRetryable) {
  EXPECT_TRUE(AcmeError("badNonce", "stale").retryable());
  EXPECT_TRUE(AcmeError("rateLimited", "slow down").retryable());
  EXPECT_FALSE(AcmeError("malformed", "no").retryable());
  // The caller may name the delay (the front end's Retry-After).
  Error limited = AcmeError("rateLimited", "slow down").WithRetry(std::chrono::seconds(30));
  EXPECT_EQ(limited.retry_after(), std::chrono::seconds(30));
  EXPECT_EQ(AcmeTypeOf(limited), "rateLimited");
}

TEST(ServerProblemTest, AnUnknownTypeIsSentAsServerInternal) {
  Error e = AcmeError("noSuchType", "oops");
  EXPECT_EQ(AcmeTypeOf(e), "serverInternal");
  EXPECT_EQ(AcmeStatusOf(e), 500);
  EXPECT_EQ(e.code(), ErrorCode::kInternal);
  // A full URN is not a short type either.
  EXPECT_EQ(AcmeTypeOf(AcmeError("urn:ietf:params:acme:error:badNonce", "x")), "serverInternal");
}

TEST(ServerProblemTest, ErrorsThatAreNoAcmeErrorMapByCode) {
  struct Case {
    Error error;
    std::string type;
    int status;
  };
  const std::vector<Case> cases = {
      {NotFound("no such order"), "malformed", 404},
      {InvalidArgument("bad"), "malformed", 400},
      {Malformed("bad"), "malformed", 400},
      {TooLarge("big"), "malformed", 413},
      {Unauthorized("who"), "unauthorized", 403},
      {Forbidden("no"), "unauthorized", 403},
      {Conflict("twice"), "malformed", 409},
      {Error(ErrorCode::kRateLimited, "slow"), "rateLimited", 429},
      {Unavailable("db down"), "serverInternal", 503},
      {Error(ErrorCode::kTimeout, "slow db"), "serverInternal", 503},
      {FailedPrecondition("not yet"), "malformed", 403},
      {Internal("bug"), "serverInternal", 500},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(AcmeTypeOf(c.error), c.type) << c.error.ToString();
    EXPECT_EQ(AcmeStatusOf(c.error), c.status) << c.error.ToString();
    EXPECT_TRUE(AcmeSubproblemsOf(c.error).empty());
    json doc = json::parse(ToProblemJson(c.error));
    EXPECT_EQ(doc["type"], "urn:ietf:params:acme:error:" + c.type);
    EXPECT_EQ(doc["status"], c.status);
  }
}

TEST(ServerProblemTest, MalformedTakesItsStatusFromTheCode) {
  EXPECT_EQ(AcmeStatusOf(AcmeError("malformed", "x")), 400);
  // An Error wrapping an AcmeError keeps the type; the status of malformed is the AcmeError's.
  Error wrapped = Error(ErrorCode::kInternal, "while parsing").WithCause(AcmeError("badCSR", "x"));
  EXPECT_EQ(AcmeTypeOf(wrapped), "badCSR");
  EXPECT_EQ(AcmeStatusOf(wrapped), 400);
  json doc = json::parse(ToProblemJson(wrapped));
  EXPECT_EQ(doc["detail"], "x");  // the AcmeError's detail, not the wrapper's
}

TEST(ServerProblemTest, InternalDetailsStayInside) {
  json internal = json::parse(ToProblemJson(Internal("sqlite: /var/lib/certfleet/db locked")));
  EXPECT_EQ(internal["detail"], "internal server error");
  json unavailable = json::parse(ToProblemJson(Unavailable("postgres at 10.0.0.5 refused")));
  EXPECT_EQ(unavailable["detail"].get<std::string>().find("10.0.0.5"), std::string::npos);
  json for_clients =
      json::parse(ToProblemJson(Unavailable("the CA is being rotated").ForClients()));
  EXPECT_EQ(for_clients["detail"], "the CA is being rotated");
  // What the server wrote for the client is sent, without control characters.
  json shown = json::parse(ToProblemJson(AcmeError("malformed", "bad\r\nX-Injected: 1")));
  EXPECT_EQ(shown["detail"], "bad  X-Injected: 1");
  // Bounded.
  json big = json::parse(ToProblemJson(AcmeError("malformed", std::string(100'000, 'a'))));
  EXPECT_LT(big["detail"].get<std::string>().size(), 2000u);
}

TEST(ServerProblemTest, BadSignatureAlgorithmListsTheSupportedAlgorithms) {
  // RFC 8555 section 6.2: the problem MUST include an "algorithms" array.
  json doc = json::parse(ToProblemJson(AcmeError("badSignatureAlgorithm", "HS256 is a MAC")));
  EXPECT_EQ(doc["status"], 400);
  EXPECT_EQ(doc["algorithms"], json::array({"ES256", "ES384", "RS256", "EdDSA"})) << doc;
  // Other types carry no such member.
  EXPECT_FALSE(json::parse(ToProblemJson(AcmeError("badPublicKey", "x"))).contains("algorithms"));
}

TEST(ServerProblemTest, SubproblemsRoundTripAndRenderIdentifiers) {
  Error e = AcmeError("rejectedIdentifier", "some identifiers were refused",
                      {{"rejectedIdentifier", "not ours", "bad.example.com"},
                       {"urn:ietf:params:acme:error:caa", "CAA forbids", "192.0.2.7"},
                       {"unsupportedIdentifier", "no", "2001:db8::1"},
                       {"malformed", "no identifier", ""},
                       {"made-up", "typo", "x.example"}});
  EXPECT_EQ(AcmeTypeOf(e), "rejectedIdentifier");
  EXPECT_EQ(AcmeStatusOf(e), 400);
  std::vector<Subproblem> subs = AcmeSubproblemsOf(e);
  ASSERT_EQ(subs.size(), 5u);
  EXPECT_EQ(subs[0].type, "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_EQ(subs[0].detail, "not ours");
  EXPECT_EQ(subs[0].identifier, "bad.example.com");
  EXPECT_EQ(subs[1].type, "urn:ietf:params:acme:error:caa");
  EXPECT_EQ(subs[4].type, "urn:ietf:params:acme:error:serverInternal");
  // The cause holds the URN and the subproblems; the message is the detail.
  EXPECT_EQ(e.message(), "some identifiers were refused");
  EXPECT_TRUE(e.cause()->message().starts_with("urn:ietf:params:acme:error:rejectedIdentifier\n["));

  json doc = json::parse(ToProblemJson(e));
  EXPECT_EQ(doc["type"], "urn:ietf:params:acme:error:rejectedIdentifier");
  EXPECT_EQ(doc["status"], 400);
  ASSERT_EQ(doc["subproblems"].size(), 5u);
  EXPECT_EQ(doc["subproblems"][0],
            json::parse(R"({"type":"urn:ietf:params:acme:error:rejectedIdentifier",
                            "detail":"not ours",
                            "identifier":{"type":"dns","value":"bad.example.com"}})"));
  EXPECT_EQ(doc["subproblems"][1]["identifier"],
            json::parse(R"({"type":"ip","value":"192.0.2.7"})"));
  EXPECT_EQ(doc["subproblems"][2]["identifier"]["type"], "ip");
  EXPECT_FALSE(doc["subproblems"][3].contains("identifier"));
}

TEST(ServerProblemTest, ATextThatLooksLikeAMarkerIsNotOne) {
  // Only a cause can carry the type: a message that merely starts with a URN (say, echoing a
  // client's input) does not.
  EXPECT_EQ(AcmeTypeOf(Malformed("urn:ietf:params:acme:error:unauthorized")), "malformed");
  Error fake = Malformed("x").WithCause(Malformed("urn:ietf:params:acme:error:noSuchType"));
  EXPECT_EQ(AcmeTypeOf(fake), "malformed");
  Error fake2 = Malformed("x").WithCause(Malformed("urn:ietf:params:acme:error:badNoncefoo"));
  EXPECT_EQ(AcmeTypeOf(fake2), "malformed");
  // A marker with broken subproblem JSON has no subproblems, and nothing throws.
  Error broken = Malformed("x").WithCause(Malformed("urn:ietf:params:acme:error:caa\n[{"));
  EXPECT_EQ(AcmeTypeOf(broken), "caa");
  EXPECT_TRUE(AcmeSubproblemsOf(broken).empty());
  EXPECT_NO_THROW(ToProblemJson(broken));
}

TEST(ServerProblemTest, InvalidUtf8IsReplacedNotThrown) {
  Error e = AcmeError("rejectedIdentifier", "bad \xff\xfe name", {{"caa", "\xc3", "\xff.example"}});
  std::string text;
  EXPECT_NO_THROW(text = ToProblemJson(e));
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(doc.is_object()) << text;
}

}  // namespace
}  // namespace certfleet::acme
