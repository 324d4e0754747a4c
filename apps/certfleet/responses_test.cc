#include "responses.h"

#include <gtest/gtest.h>

#include "net/problem.h"

namespace certfleet::cli {
namespace {

using nlohmann::json;

net::HttpResponse Answer(int status, std::string body) {
  net::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// Both answers are 409 and 400: only the problem type tells them apart, and the CLI says which.
TEST(ErrorFromResponse, FailedPreconditionAndConflictStayApart) {
  Error pre = ErrorFromResponse(net::EncodeProblem(ErrorCode::kFailedPrecondition,
                                                   "certificate crt_1 has no issued version"));
  EXPECT_EQ(pre.code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(pre.message(),
            "failed precondition: certificate crt_1 has no issued version (HTTP 409)");
  Error conflict = ErrorFromResponse(net::EncodeProblem(ErrorCode::kConflict, "name taken"));
  EXPECT_EQ(conflict.code(), ErrorCode::kConflict);
  EXPECT_EQ(conflict.message(), "conflict: name taken (HTTP 409)");
}

TEST(ErrorFromResponse, MalformedAndInvalidArgumentStayApart) {
  Error malformed =
      ErrorFromResponse(net::EncodeProblem(ErrorCode::kMalformed, "body is not JSON"));
  EXPECT_EQ(malformed.code(), ErrorCode::kMalformed);
  EXPECT_EQ(malformed.message(), "malformed request: body is not JSON (HTTP 400)");
  Error invalid =
      ErrorFromResponse(net::EncodeProblem(ErrorCode::kInvalidArgument, "limit must be 1..1000"));
  EXPECT_EQ(invalid.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(invalid.message(), "invalid argument: limit must be 1..1000 (HTTP 400)");
}

TEST(ErrorFromResponse, ServerFailuresNameTheRequestIdAndRetryableCodesAreMarked) {
  Error internal =
      ErrorFromResponse(net::EncodeProblem(ErrorCode::kInternal, "see the server log", 0,
                                           {{"request_id",
                                             "req_\x1b"
                                             "42"}}));
  EXPECT_EQ(internal.code(), ErrorCode::kInternal);
  EXPECT_EQ(internal.message(),
            "internal error: see the server log (request id req_?42) (HTTP 500)");
  EXPECT_FALSE(internal.retryable());
  Error busy = ErrorFromResponse(
      net::EncodeProblem(ErrorCode::kUnavailable, "busy", 0, nullptr, std::chrono::seconds(3)));
  EXPECT_TRUE(busy.retryable());
  EXPECT_EQ(busy.retry_after(), std::chrono::seconds(3));
  // 4xx answers carry no request id in the message.
  EXPECT_EQ(ErrorFromResponse(net::EncodeProblem(ErrorCode::kNotFound, "no such certificate", 0,
                                                 {{"request_id", "req_1"}}))
                .message(),
            "not found: no such certificate (HTTP 404)");
}

TEST(ErrorFromResponse, OtherBodiesFallBackToTheStatus) {
  Error proxy = ErrorFromResponse(Answer(502, "<html>bad gateway</html>"));
  EXPECT_EQ(proxy.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(proxy.message(), "request failed with a non-problem response (HTTP 502)");
  Error empty = ErrorFromResponse(Answer(404, ""));
  EXPECT_EQ(empty.code(), ErrorCode::kNotFound);
  EXPECT_EQ(empty.message(), "request failed with an empty response (HTTP 404)");
  // An untyped JSON document: its detail (or title) is shown, without a kind.
  Error old = ErrorFromResponse(Answer(409, R"({"title":"Conflict\u001b[2J"})"));
  EXPECT_EQ(old.code(), ErrorCode::kConflict);
  EXPECT_EQ(old.message(), "Conflict?[2J (HTTP 409)");
}

TEST(ItemsOf, ReturnsTheArray) {
  json list = {{"items", json::array({{{"id", "a"}}})}};
  auto items = ItemsOf(list, "thing list");
  ASSERT_TRUE(items.ok());
  EXPECT_EQ((*items)->size(), 1u);
}

TEST(ItemsOf, RejectsOtherShapes) {
  for (const json& bad : {json::array(), json{{"items", "x"}}, json::object(), json(nullptr)}) {
    auto items = ItemsOf(bad, "thing list");
    ASSERT_FALSE(items.ok()) << bad.dump();
    EXPECT_EQ(items.error().code(), ErrorCode::kMalformed);
    EXPECT_NE(items.error().message().find("thing list"), std::string::npos);
  }
}

TEST(SoleAccountId, OneAccountIsTheCallers) {
  json list = {{"items", json::array({{{"id", "acc_1"}, {"name", "team"}}})}};
  auto id = SoleAccountId(list);
  ASSERT_TRUE(id.ok()) << id.error().message();
  EXPECT_EQ(*id, "acc_1");
}

TEST(SoleAccountId, SeveralOrNoneNeedTheFlag) {
  json several = {{"items", json::array({{{"id", "acc_1"}}, {{"id", "acc_2"}}})}};
  auto a = SoleAccountId(several);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(a.error().message().find("--account"), std::string::npos);
  EXPECT_NE(a.error().message().find("2 accounts"), std::string::npos);
  EXPECT_FALSE(SoleAccountId(json{{"items", json::array()}}).ok());
}

TEST(SoleAccountId, AccountWithoutIdIsMalformed) {
  auto a = SoleAccountId(json{{"items", json::array({{{"name", "x"}}})}});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(SoleAccountId(json{{"items", json::array({"acc_1"})}}).error().code(),
            ErrorCode::kMalformed);
}

TEST(AuditVerifyStatus, OkChain) {
  EXPECT_TRUE(AuditVerifyStatus(
                  json{{"ok", true}, {"checked", 7}, {"first_bad_seq", nullptr}, {"reason", ""}})
                  .ok());
}

TEST(AuditVerifyStatus, BrokenChainNamesTheRecord) {
  Status s = AuditVerifyStatus(
      json{{"ok", false}, {"checked", 3}, {"first_bad_seq", 3}, {"reason", "hash mismatch"}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(s.error().message(), "audit chain broken at record 3: hash mismatch");
}

TEST(AuditVerifyStatus, BrokenWithoutSeqOrReason) {
  Status s = AuditVerifyStatus(json{{"ok", false}, {"first_bad_seq", nullptr}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "audit chain broken: no reason given");
}

TEST(AuditVerifyStatus, SanitizesTheReason) {
  Status s = AuditVerifyStatus(json{{"ok", false}, {"first_bad_seq", 9}, {"reason", "a\x1b[2Jb"}});
  EXPECT_EQ(s.error().message(), "audit chain broken at record 9: a?[2Jb");
}

TEST(AuditVerifyStatus, MissingOkIsMalformed) {
  EXPECT_EQ(AuditVerifyStatus(json{{"checked", 1}}).error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(AuditVerifyStatus(json{{"ok", "yes"}}).error().code(), ErrorCode::kMalformed);
}

}  // namespace
}  // namespace certfleet::cli
