// ProblemResponse (problem.h): what a client sees of an error, Retry-After on every 503, and
// which details are withheld.
#include "api/problem.h"

#include "net/problem.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace certfleet::api {
namespace {

using nlohmann::json;

// What a database driver says when it cannot connect: a host, a port and a user.
constexpr char kInternals[] =
    "connection to server at \"10.1.2.3\", port 5432 failed: FATAL: password authentication "
    "failed for user \"certfleet\"";

TEST(ProblemTest, UnavailableWithoutDelayGetsTheDefaultRetryAfterAndNoInternals) {
  net::HttpResponse r = ProblemResponse(Unavailable(kInternals).WithRetry(), "req_1");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers.at("Content-Type"), "application/problem+json");
  EXPECT_EQ(r.headers.at("Retry-After"), std::to_string(kDefaultRetryAfter.count()));
  EXPECT_EQ(r.body.find("10.1.2.3"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("certfleet\\\""), std::string::npos) << r.body;
  json doc = json::parse(r.body);
  EXPECT_EQ(doc["type"], "urn:certfleet:problem:unavailable");
  EXPECT_EQ(doc["status"], 503);
  EXPECT_EQ(doc["request_id"], "req_1");
  EXPECT_NE(doc["detail"].get<std::string>().find("temporarily unavailable; retry in 2 s"),
            std::string::npos)
      << r.body;
  // Not even marked retryable: still a 503 with a Retry-After.
  EXPECT_EQ(ProblemResponse(Unavailable("disk I/O error")).headers.at("Retry-After"), "2");
}

TEST(ProblemTest, TheErrorsOwnDelayIsKept) {
  net::HttpResponse r =
      ProblemResponse(Unavailable(kInternals).WithRetry(std::chrono::seconds(7)), "req_1");
  EXPECT_EQ(r.headers.at("Retry-After"), "7");
  EXPECT_NE(r.body.find("retry in 7 s"), std::string::npos) << r.body;
  // A negative delay is no delay: the default applies.
  r = ProblemResponse(Unavailable("x").WithRetry(std::chrono::seconds(-1)));
  EXPECT_EQ(r.headers.at("Retry-After"), "2");
  // Other codes carry a Retry-After only when the error names one.
  EXPECT_EQ(
      ProblemResponse(Error(ErrorCode::kRateLimited, "slow down")).headers.count("Retry-After"),
      0u);
  EXPECT_EQ(ProblemResponse(
                Error(ErrorCode::kRateLimited, "slow down").WithRetry(std::chrono::seconds(30)))
                .headers.at("Retry-After"),
            "30");
  EXPECT_EQ(ProblemResponse(NotFound("no such thing")).headers.count("Retry-After"), 0u);
}

TEST(ProblemTest, MessagesWrittenForClientsAreShown) {
  net::HttpResponse r = ProblemResponse(Unavailable("webhooks are not configured").ForClients());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers.at("Retry-After"), "2");
  EXPECT_EQ(json::parse(r.body)["detail"], "webhooks are not configured");
  // Other codes show their message as before; Internal never does.
  EXPECT_EQ(json::parse(ProblemResponse(NotFound("certificate crt_1")).body)["detail"],
            "certificate crt_1");
  r = ProblemResponse(Internal(kInternals).ForClients());
  EXPECT_EQ(r.body.find("10.1.2.3"), std::string::npos) << r.body;
}

TEST(ProblemTest, ExtensionMembersAreAddedButNeverReplaceTheStandardOnes) {
  net::HttpResponse r =
      ProblemResponse(Unavailable("draining").ForClients(), "req_2", 0,
                      {{"reason", "draining"}, {"ready", false}, {"status", 200}, {"type", "x"}});
  json doc = json::parse(r.body);
  EXPECT_EQ(doc["reason"], "draining");
  EXPECT_EQ(doc["ready"], false);
  EXPECT_EQ(doc["status"], 503);
  EXPECT_EQ(doc["type"], "urn:certfleet:problem:unavailable");
}

// What the CLI and the agent read back (net::DecodeProblem) is the code the route failed with,
// for every code, whatever the API chose to show of the message.
TEST(ProblemTest, EveryCodeDecodesToItselfThroughTheSharedDecoder) {
  for (ErrorCode code :
       {ErrorCode::kNotFound, ErrorCode::kInvalidArgument, ErrorCode::kUnauthorized,
        ErrorCode::kForbidden, ErrorCode::kConflict, ErrorCode::kRateLimited,
        ErrorCode::kUnavailable, ErrorCode::kTimeout, ErrorCode::kMalformed, ErrorCode::kTooLarge,
        ErrorCode::kFailedPrecondition, ErrorCode::kInternal}) {
    net::HttpResponse r = ProblemResponse(Error(code, "the message"), "req_3");
    net::DecodedProblem p = net::DecodeProblem(r);
    EXPECT_TRUE(p.typed) << ErrorCodeName(code);
    EXPECT_EQ(p.code, code) << ErrorCodeName(code);
    EXPECT_EQ(p.status, r.status);
    EXPECT_EQ(p.request_id(), "req_3");
    const bool withheld = code == ErrorCode::kInternal || code == ErrorCode::kUnavailable;
    EXPECT_EQ(p.detail == "the message", !withheld) << ErrorCodeName(code) << ": " << p.detail;
  }
  // 405 keeps its code (invalid_argument) under the more precise status.
  net::DecodedProblem p =
      net::DecodeProblem(ProblemResponse(InvalidArgument("method PUT is not allowed"), "", 405));
  EXPECT_EQ(p.status, 405);
  EXPECT_EQ(p.code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace certfleet::api
