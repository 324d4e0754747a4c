#include "paging.h"

#include <map>

#include <gtest/gtest.h>

namespace certfleet::cli {
namespace {

// A fake server of three pages: "a b" | "c d" | "e", keyed by the cursor the CLI sends.
class FakePages {
 public:
  PageGetter Getter() {
    return [this](const std::string& target) -> Result<nlohmann::json> {
      targets.push_back(target);
      const size_t at = target.find("cursor=");
      const std::string cursor = at == std::string::npos ? "" : target.substr(at + 7);
      static const std::map<std::string, nlohmann::json> kPages = {
          {"", {{"items", {"a", "b"}}, {"next_cursor", "p2"}}},
          {"p2", {{"items", {"c", "d"}}, {"next_cursor", "p3"}}},
          {"p3", {{"items", {"e"}}, {"next_cursor", nullptr}}}};
      auto it = kPages.find(cursor);
      if (it == kPages.end()) return InvalidArgument("invalid cursor");
      return it->second;
    };
  }
  std::vector<std::string> targets;
};

TEST(FetchListing, FollowsEveryCursorByDefault) {
  FakePages server;
  QueryString filters;
  filters.Add("tag", "env:prod");
  auto got = FetchListing(server.Getter(), "/v1/agents", filters, PageArgs{}, "agents");
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->items, nlohmann::json({"a", "b", "c", "d", "e"}));
  EXPECT_EQ(got->next_cursor, "");
  EXPECT_EQ(MoreNotice(*got, "agents"), "");
  ASSERT_EQ(server.targets.size(), 3u);
  // Filters on every page; the largest pages when following.
  EXPECT_EQ(server.targets[0], "/v1/agents?tag=env%3Aprod&limit=1000");
  EXPECT_EQ(server.targets[2], "/v1/agents?tag=env%3Aprod&limit=1000&cursor=p3");
}

TEST(FetchListing, LimitShowsOnePageAndSaysHowToContinue) {
  FakePages server;
  auto got = FetchListing(server.Getter(), "/v1/audit", QueryString(), PageArgs{.limit = 2},
                          "audit records");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->items, nlohmann::json({"a", "b"}));
  EXPECT_EQ(got->next_cursor, "p2");
  EXPECT_EQ(server.targets, std::vector<std::string>{"/v1/audit?limit=2"});
  EXPECT_EQ(MoreNotice(*got, "audit records"),
            "certfleet: showing 2 audit records, and more exist: use --all to list them all, or "
            "--cursor p2 for the next page\n");
}

TEST(FetchListing, CursorResumesAndAllOverridesLimit) {
  FakePages server;
  auto got = FetchListing(server.Getter(), "/v1/x", QueryString(),
                          PageArgs{.limit = 2, .all = true, .cursor = "p2"}, "things");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->items, nlohmann::json({"c", "d", "e"}));
  EXPECT_EQ(server.targets.front(), "/v1/x?limit=2&cursor=p2");
}

TEST(FetchListing, RefusesMalformedPagesAndPassesErrorsOn) {
  auto answer = [](nlohmann::json page) -> PageGetter {
    return [page](const std::string&) -> Result<nlohmann::json> { return page; };
  };
  auto no_items =
      FetchListing(answer({{"next_cursor", nullptr}}), "/v1/x", QueryString(), PageArgs{}, "grant");
  ASSERT_FALSE(no_items.ok());
  EXPECT_EQ(no_items.error().message(), "the server's grant list has no \"items\" array");
  auto bad_cursor = FetchListing(answer({{"items", nlohmann::json::array()}, {"next_cursor", 5}}),
                                 "/v1/x", QueryString(), PageArgs{}, "grant");
  ASSERT_FALSE(bad_cursor.ok());
  EXPECT_EQ(bad_cursor.error().code(), ErrorCode::kMalformed);
  FakePages server;
  auto refused = FetchListing(server.Getter(), "/v1/x", QueryString(),
                              PageArgs{.cursor = "garbage"}, "things");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
}

TEST(TagFilters, AcceptsBothSeparatorsAndSendsColon) {
  EXPECT_EQ(CheckTagFilter("env:prod"), "");
  EXPECT_EQ(CheckTagFilter("env=prod"), "");
  EXPECT_NE(CheckTagFilter("env"), "");
  EXPECT_NE(CheckTagFilter(":prod"), "");
  QueryString q;
  AddTagFilters(q, {"env=prod", "team:web"});
  EXPECT_EQ(q.str(), "?tag=env%3Aprod&tag=team%3Aweb");
}

}  // namespace
}  // namespace certfleet::cli
