#include "responses.h"

#include <gtest/gtest.h>

namespace certfleet::cli {
namespace {

using nlohmann::json;

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
