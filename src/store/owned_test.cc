#include "store/owned.h"

#include <gtest/gtest.h>

#include <string>

namespace certfleet::store {
namespace {

struct Thing {
  std::string id;
  std::string account_id;
};

Result<Thing> Load(const std::string& id) {
  if (id == "thg_01234567890123456789012345") return Thing{id, "acct_a"};
  if (id == "thg_broken0000000000000000000") return Internal("disk on fire");
  return NotFound("no row " + id);
}

TEST(OwnedTest, OwnResourceIsReturnedAndCounted) {
  const uint64_t before = OwnershipChecks();
  auto r = LoadOwned("thing", "thg_01234567890123456789012345", "", "acct_a", Load);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->account_id, "acct_a");
  EXPECT_EQ(OwnershipChecks(), before + 1);
}

TEST(OwnedTest, ForeignUnknownAndMalformedAnswerTheSameNotFound) {
  auto foreign = LoadOwned("thing", "thg_01234567890123456789012345", "", "acct_b", Load);
  auto unknown = LoadOwned("thing", "thg_01234567890123456789012345", "", "acct_b",
                           [](const std::string& k) -> Result<Thing> { return NotFound(k); });
  ASSERT_FALSE(foreign.ok());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(foreign.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(foreign.error().message(), unknown.error().message());
  EXPECT_EQ(foreign.error().message(), "thing \"thg_01234567890123456789012345\" not found");
  // A malformed id never reaches the loader.
  bool loaded = false;
  auto malformed = LoadOwned("thing", "../../etc", "thg", "acct_a", [&](const std::string& k) {
    loaded = true;
    return Load(k);
  });
  ASSERT_FALSE(malformed.ok());
  EXPECT_FALSE(loaded);
  EXPECT_EQ(malformed.error().message(), "thing \"../../etc\" not found");
}

TEST(OwnedTest, OtherErrorsPassThrough) {
  auto r = LoadOwned("thing", "thg_broken0000000000000000000", "", "acct_a", Load);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInternal);
}

TEST(OwnedTest, VisibilityPredicate) {
  auto r = LoadVisible("thing", "thg_01234567890123456789012345", "", Load, [](const Thing& t) {
    return t.account_id == "acct_x" || t.account_id == "acct_a";
  });
  EXPECT_TRUE(r.ok());
}

}  // namespace
}  // namespace certfleet::store
