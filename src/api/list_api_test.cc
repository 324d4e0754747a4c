// GET /v1/certificates as a list that scales (issue #17): opaque cursors, filters in SQL, 400 for
// every bad parameter, CSV export.
#include <algorithm>
#include <cstdio>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/csv.h"
#include "api/list_api_test_fixture.h"
#include "api/list_query.h"
#include "base/encoding.h"
#include "base/time_util.h"

namespace certfleet::api {
namespace {

using list_test::IdsOf;
using list_test::ListApiTest;
using nlohmann::json;

TEST_F(ListApiTest, CursorsReachEveryCertificateInBothOrders) {
  // The figure: past 5,000 certificates, to the last one (1,059 was the silent cut at
  // 1,000 that started it).
  constexpr int kCount = 5003;
  Seed(kCount);
  // The default page is 100 and says whether more follow.
  auto first = Get("/v1/certificates");
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(Body(first)["items"].size(), 100u);
  EXPECT_TRUE(Body(first)["next_cursor"].is_string());

  for (const std::string sort : {"created_at", "not_after"}) {
    int pages = 0;
    auto items = Walk("/v1/certificates?limit=250&sort=" + sort, &pages);
    EXPECT_EQ(pages, 21) << sort;  // 20 x 250 + 3: the last page has no next_cursor
    ASSERT_EQ(items.size(), static_cast<size_t>(kCount)) << sort;
    auto ids = IdsOf(items);
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size()) << "duplicates";
    // Ordered by (key, id); certificates without a version last under not_after.
    auto key = [&](const json& i) {
      if (sort == "created_at") return i["created_at"].get<std::string>();
      return i["not_after"].is_string() ? i["not_after"].get<std::string>() : std::string("~");
    };
    for (size_t i = 1; i < items.size(); ++i) {
      const auto a = std::make_pair(key(items[i - 1]), ids[i - 1]);
      const auto b = std::make_pair(key(items[i]), ids[i]);
      ASSERT_LT(a, b) << sort << " at " << i;
    }
  }
  // The largest page size; and a page that ends exactly at the last row has no next_cursor.
  auto all = Walk("/v1/certificates?limit=1000");
  EXPECT_EQ(all.size(), static_cast<size_t>(kCount));
  // n % 20 == 0 (failed, acme-le): 251 of them.
  auto exact = Body(Get("/v1/certificates?limit=251&status=failed&issuer=acme-le"));
  EXPECT_EQ(exact["items"].size(), 251u);
  EXPECT_TRUE(exact["next_cursor"].is_null());
}

TEST_F(ListApiTest, FiltersApplyBeforeThePageIsCut) {
  Seed(60);
  auto count = [&](const std::string& query) { return Walk("/v1/certificates?limit=7&" + query); };
  auto prod = count("tag=env:prod");
  EXPECT_EQ(prod.size(), 30u);
  for (const auto& i : prod) EXPECT_EQ(i["tags"]["env"], "prod");
  EXPECT_EQ(count("tag=env:prod&tag=team:a").size(), 10u);  // n % 6 == 0
  EXPECT_EQ(count("tag=env%3Dprod&tag=team%3Da").size(), 10u);
  EXPECT_EQ(count("tag=env:staging").size(), 0u);
  EXPECT_EQ(count("status=failed").size(), 15u);
  for (const auto& i : count("status=failed")) EXPECT_EQ(i["status"], "failed");
  EXPECT_EQ(count("issuer=acme-le").size(), 12u);
  auto host = count("domain=HOST4");  // 4, 40..49
  EXPECT_EQ(host.size(), 11u);
  EXPECT_EQ(count("domain=host42.example").size(), 1u);
  // Expiry windows: only certificates with a version; before is exclusive, after inclusive.
  const TimePoint base = env_.clock.Now();
  const std::string mid = FormatRfc3339(base + std::chrono::hours(24 * 30));
  auto before = count("expires_before=" + mid);
  auto after = count("expires_after=" + mid);
  EXPECT_EQ(before.size() + after.size(), 40u);  // 60 minus the 20 without a version
  for (const auto& i : before) EXPECT_LT(i["not_after"].get<std::string>(), mid);
  for (const auto& i : after) EXPECT_GE(i["not_after"].get<std::string>(), mid);
  EXPECT_FALSE(before.empty());
  EXPECT_FALSE(after.empty());
  // Everything at once, under the other order.
  auto combined =
      count("sort=not_after&status=issued&tag=env:prod&expires_after=" + FormatRfc3339(base));
  for (const auto& i : combined) {
    EXPECT_EQ(i["status"], "issued");
    EXPECT_EQ(i["tags"]["env"], "prod");
  }
  EXPECT_FALSE(combined.empty());
}

TEST_F(ListApiTest, InvalidParametersAre400NamingThem) {
  Seed(3);
  ExpectBadRequest(Get("/v1/certificates?limit=-1"), "\"limit\"");
  ExpectBadRequest(Get("/v1/certificates?limit=0"), "\"limit\"");
  ExpectBadRequest(Get("/v1/certificates?limit=1001"), "\"limit\"");
  ExpectBadRequest(Get("/v1/certificates?limit=ten"), "\"limit\"");
  ExpectBadRequest(Get("/v1/certificates?limit=1&limit=2"), "more than once");
  ExpectBadRequest(Get("/v1/certificates?cursor=garbage!"), "invalid cursor");
  ExpectBadRequest(Get("/v1/certificates?cursor=" + Base64UrlEncode("c1|created_at|x|crt_1")),
                   "invalid cursor");
  ExpectBadRequest(Get("/v1/certificates?cursor="), "invalid cursor");
  ExpectBadRequest(Get("/v1/certificates?colour=red"), "\"colour\"");
  ExpectBadRequest(Get("/v1/certificates?status=lost"), "\"status\"");
  ExpectBadRequest(Get("/v1/certificates?tag=env"), "\"tag\"");
  ExpectBadRequest(Get("/v1/certificates?tag=:prod"), "\"tag\"");
  ExpectBadRequest(Get("/v1/certificates?domain="), "\"domain\"");
  ExpectBadRequest(Get("/v1/certificates?domain=a%22b"), "\"domain\"");
  ExpectBadRequest(Get("/v1/certificates?expires_before=tomorrow"), "\"expires_before\"");
  ExpectBadRequest(Get("/v1/certificates?expires_after=2026-13-01"), "\"expires_after\"");
  ExpectBadRequest(Get("/v1/certificates?sort=name"), "\"sort\"");
  ExpectBadRequest(Get("/v1/certificates?format=xml"), "\"format\"");
  ExpectBadRequest(Get("/v1/certificates?format=csv&limit=5"), "format=csv");
  // A cursor continues the order it was made for.
  auto page = Body(Get("/v1/certificates?limit=1&sort=not_after"));
  ASSERT_TRUE(page["next_cursor"].is_string());
  const std::string cursor = page["next_cursor"];
  ExpectBadRequest(Get("/v1/certificates?limit=1&sort=created_at&cursor=" + cursor),
                   "invalid cursor");
  EXPECT_EQ(Get("/v1/certificates?limit=1&sort=not_after&cursor=" + cursor).status, 200);
  auto forged = Get("/v1/certificates?cursor=" + EncodeCursor({.sort = "evil", .id = "crt_1"}));
  ExpectBadRequest(forged, "invalid cursor");
  EXPECT_EQ(forged.body.find("evil"), std::string::npos);
}

TEST_F(ListApiTest, AccountFilterOnlyForThoseWhoMayReadThere) {
  Seed(4);
  // A tenant sees its own account by name or id, and another account like an unknown one.
  EXPECT_EQ(Body(Get("/v1/certificates?account=acc_a"))["items"].size(), 4u);
  EXPECT_EQ(Get("/v1/certificates?account=acc_a", token_b_).status, 404);
  EXPECT_EQ(Body(Get("/v1/certificates", token_b_))["items"].size(), 0u);
  EXPECT_EQ(Get("/v1/certificates?account=acc_nope").status, 404);
  // A system admin names any account.
  const std::string root = AddPrincipal("default");
  auto r = Get("/v1/certificates?account=acc_a", root);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["items"].size(), 4u);
  EXPECT_EQ(Body(Get("/v1/certificates", root))["items"].size(), 0u);  // its own by default
}

TEST_F(ListApiTest, CsvExportsTheFilteredInventoryWithoutKeys) {
  Seed(1200);
  auto r = Get("/v1/certificates?format=csv&tag=env:prod");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.at("Content-Type").rfind("text/csv", 0), 0u);
  EXPECT_EQ(r.body.find("BEGIN"), std::string::npos);  // no PEM
  size_t lines = std::count(r.body.begin(), r.body.end(), '\n');
  EXPECT_EQ(lines, 601u);  // header + every matching row, across more than one page
  EXPECT_EQ(r.body.rfind("id,name,account,domains,issuer,status,key_type,profile,serial,", 0), 0u);
  EXPECT_NE(r.body.find("host2.example.test"), std::string::npos);
  EXPECT_EQ(r.body.find("host1.example.test"), std::string::npos);
  auto all = Get("/v1/certificates?format=csv");
  EXPECT_EQ(std::count(all.body.begin(), all.body.end(), '\n'), 1201);
}

TEST(CsvTest, QuotesPerRfc4180AndDefusesFormulas) {
  EXPECT_EQ(CsvCell("plain"), "plain");
  EXPECT_EQ(CsvCell("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvCell("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvCell("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvCell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
  EXPECT_EQ(CsvCell("+1"), "'+1");
  EXPECT_EQ(CsvCell("-2"), "'-2");
  EXPECT_EQ(CsvCell("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(CsvCell("\tx"), "'\tx");
  EXPECT_EQ(CsvCell(""), "");
  EXPECT_EQ(CsvRow({"a", "b,c", ""}), "a,\"b,c\",\r\n");
}

TEST(CursorTest, RoundTripsAndRefusesForgeries) {
  PageCursor c{.sort = "not_after", .key = 1767225600, .id = "crt_01"};
  auto back = DecodeCursor(EncodeCursor(c));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->sort, c.sort);
  EXPECT_EQ(back->key, c.key);
  EXPECT_EQ(back->id, c.id);
  EXPECT_FALSE(DecodeCursor("").ok());
  EXPECT_FALSE(DecodeCursor("bm9wZQ").ok());                                  // "nope"
  EXPECT_FALSE(DecodeCursor(Base64UrlEncode("c2|created_at|1|crt_1")).ok());  // version
  EXPECT_FALSE(DecodeCursor(Base64UrlEncode("c1|created_at|1|crt 1")).ok());  // id
  EXPECT_FALSE(DecodeCursor(Base64UrlEncode("c1|created_at|1|a|b")).ok());
}

}  // namespace
}  // namespace certfleet::api
