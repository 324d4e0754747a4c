// The problem codec (problem.h): every ErrorCode survives encode -> decode, codes that share a
// status stay apart, and bodies that are not certfleet problem documents fall back to the status.
#include "net/problem.h"

#include <gtest/gtest.h>

#include <set>

namespace certfleet::net {
namespace {

using nlohmann::json;

const ErrorCode kEveryCode[] = {
    ErrorCode::kNotFound,           ErrorCode::kInvalidArgument,
    ErrorCode::kUnauthorized,       ErrorCode::kForbidden,
    ErrorCode::kConflict,           ErrorCode::kRateLimited,
    ErrorCode::kUnavailable,        ErrorCode::kTimeout,
    ErrorCode::kMalformed,          ErrorCode::kTooLarge,
    ErrorCode::kFailedPrecondition, ErrorCode::kInternal,
};

HttpResponse Response(int status, std::string body, std::map<std::string, std::string> h = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(h);
  return r;
}

TEST(ProblemCodecTest, EveryCodeRoundTrips) {
  std::set<std::string> types;
  for (ErrorCode code : kEveryCode) {
    HttpResponse r = EncodeProblem(code, "what went wrong", 0, {{"request_id", "req_9"}});
    EXPECT_EQ(r.status, HttpStatusFor(code));
    EXPECT_EQ(r.headers.at("Content-Type"), "application/problem+json");
    DecodedProblem p = DecodeProblem(r);
    EXPECT_TRUE(p.typed) << ErrorCodeName(code);
    EXPECT_EQ(p.code, code) << ErrorCodeName(code);
    EXPECT_EQ(p.status, HttpStatusFor(code));
    EXPECT_EQ(p.detail, "what went wrong");
    EXPECT_EQ(p.title, ProblemTitle(code));
    EXPECT_EQ(p.request_id(), "req_9");
    EXPECT_EQ(p.type, "urn:certfleet:problem:" + std::string(ErrorCodeName(code)));
    EXPECT_EQ(ErrorCodeForProblemType(p.type), code);
    types.insert(p.type);
    Error e = p.ToError("message");
    EXPECT_EQ(e.code(), code);
    EXPECT_EQ(e.message(), "message");
  }
  EXPECT_EQ(types.size(), std::size(kEveryCode));  // one type per code
}

TEST(ProblemCodecTest, CodesSharingAStatusStayApart) {
  // The reason for reading the type: a status alone cannot tell these apart.
  ASSERT_EQ(HttpStatusFor(ErrorCode::kMalformed), HttpStatusFor(ErrorCode::kInvalidArgument));
  ASSERT_EQ(HttpStatusFor(ErrorCode::kConflict), HttpStatusFor(ErrorCode::kFailedPrecondition));
  EXPECT_EQ(DecodeProblem(EncodeProblem(ErrorCode::kMalformed, "bad JSON")).code,
            ErrorCode::kMalformed);
  EXPECT_EQ(DecodeProblem(EncodeProblem(ErrorCode::kFailedPrecondition, "no version")).code,
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(DecodeProblem(EncodeProblem(ErrorCode::kConflict, "exists")).code,
            ErrorCode::kConflict);
}

TEST(ProblemCodecTest, TheBodyKeepsTheStandardMembersFirstAndExtensionsCannotReplaceThem) {
  HttpResponse r = EncodeProblem(ErrorCode::kTooLarge, "request body exceeds 10 bytes", 0,
                                 {{"limit", 10}, {"status", 200}, {"type", "x"}});
  EXPECT_EQ(r.body, R"({"type":"urn:certfleet:problem:too_large","title":"Payload too large",)"
                    R"("status":413,"detail":"request body exceeds 10 bytes","limit":10})");
  DecodedProblem p = DecodeProblem(r);
  EXPECT_EQ(p.extensions, json({{"limit", 10}}));
}

TEST(ProblemCodecTest, StatusOverrideAndHeaders) {
  HttpResponse r = EncodeProblem(ErrorCode::kTooLarge, "header too big", 431);
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(json::parse(r.body)["status"], 431);
  EXPECT_EQ(DecodeProblem(r).code, ErrorCode::kTooLarge);
  EXPECT_EQ(EncodeProblem(ErrorCode::kUnauthorized, "no token").headers.at("WWW-Authenticate"),
            "Bearer");
  EXPECT_EQ(EncodeProblem(ErrorCode::kForbidden, "no").headers.count("WWW-Authenticate"), 0u);
  HttpResponse busy =
      EncodeProblem(ErrorCode::kUnavailable, "busy", 0, nullptr, std::chrono::seconds(7));
  EXPECT_EQ(busy.headers.at("Retry-After"), "7");
  Error e = DecodeProblem(busy).ToError("busy");
  EXPECT_TRUE(e.retryable());
  EXPECT_EQ(e.retry_after(), std::chrono::seconds(7));
  EXPECT_FALSE(DecodeProblem(EncodeProblem(ErrorCode::kConflict, "x")).ToError("x").retryable());
}

TEST(ProblemCodecTest, RetryAfterIsReadInAnyCaseAndOnlyAsSeconds) {
  EXPECT_EQ(DecodeProblem(Response(429, "", {{"retry-after", "30"}})).retry_after,
            std::chrono::seconds(30));
  EXPECT_EQ(DecodeProblem(Response(429, "", {{"Retry-After", "5"}})).retry_after,
            std::chrono::seconds(5));
  EXPECT_FALSE(DecodeProblem(Response(503, "", {{"retry-after", "Fri, 31 Dec 1999 23:59:59 GMT"}}))
                   .retry_after.has_value());
  EXPECT_FALSE(DecodeProblem(Response(503, "", {{"retry-after", "99999999"}})).retry_after);
  EXPECT_FALSE(DecodeProblem(Response(503, "", {{"retry-after", "-1"}})).retry_after);
}

TEST(ProblemCodecTest, BodiesThatAreNotCertfleetProblemsFallBackToTheStatus) {
  struct Case {
    int status;
    std::string body;
    ErrorCode code;
  } cases[] = {
      {400, "", ErrorCode::kInvalidArgument},
      {401, "<html>login</html>", ErrorCode::kUnauthorized},
      {403, "[]", ErrorCode::kForbidden},
      {404, "not json", ErrorCode::kNotFound},
      {405, "", ErrorCode::kInvalidArgument},
      {409, R"({"detail":"old server"})", ErrorCode::kConflict},
      {413, "", ErrorCode::kTooLarge},
      {429, "", ErrorCode::kRateLimited},
      {500, "", ErrorCode::kInternal},
      {502, "<html>bad gateway</html>", ErrorCode::kUnavailable},
      {503, "", ErrorCode::kUnavailable},
      {504, "", ErrorCode::kTimeout},
      // Another namespace (an ACME problem) or a code this build does not know.
      {400, R"({"type":"urn:ietf:params:acme:error:malformed","detail":"x"})",
       ErrorCode::kInvalidArgument},
      {409, R"({"type":"urn:certfleet:problem:from_the_future","detail":"x"})",
       ErrorCode::kConflict},
      {409, R"({"type":7,"detail":"x"})", ErrorCode::kConflict},
  };
  for (const Case& c : cases) {
    DecodedProblem p = DecodeProblem(Response(c.status, c.body));
    EXPECT_FALSE(p.typed) << c.status << " " << c.body;
    EXPECT_EQ(p.code, c.code) << c.status << " " << c.body;
    EXPECT_EQ(p.status, c.status);
  }
  // The detail of an untyped document is still read.
  EXPECT_EQ(DecodeProblem(Response(409, R"({"detail":"old server"})")).detail, "old server");
  // A 5xx guess from a proxy is retryable; a guessed 500 is not.
  EXPECT_TRUE(DecodeProblem(Response(502, "")).ToError("x").retryable());
  EXPECT_FALSE(DecodeProblem(Response(500, "")).ToError("x").retryable());
}

TEST(ProblemCodecTest, MistypedMembersAreEmptyNotFatal) {
  DecodedProblem p = DecodeProblem(Response(
      409, R"({"type":"urn:certfleet:problem:failed_precondition","detail":5,"title":null})"));
  EXPECT_EQ(p.code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(p.detail, "");
  EXPECT_EQ(p.title, "");
  EXPECT_EQ(p.request_id(), "");
}

TEST(ProblemCodecTest, TextThatIsNotUtf8IsReplacedNotThrown) {
  HttpResponse r = EncodeProblem(ErrorCode::kInvalidArgument, "bad name \xff\xfe");
  EXPECT_TRUE(json::accept(r.body)) << r.body;
  EXPECT_EQ(DecodeProblem(r).code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace certfleet::net
