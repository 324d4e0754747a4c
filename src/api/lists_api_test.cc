// The list endpoints other than /v1/certificates (issue #17, docs/api.md "Pagination"): each
// pages to its last item with an opaque cursor, filters before the page is cut, refuses bad
// parameters with a 400 naming them, and never shows one account's rows to another, whatever
// the filter or cursor.
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/list_api_test_fixture.h"
#include "api/list_query.h"
#include "base/time_util.h"

namespace certfleet::api {
namespace {

using list_test::IdsOf;
using list_test::ListApiTest;
using nlohmann::json;

std::string NumberedId(const char* prefix, int n) {
  char id[40];
  std::snprintf(id, sizeof id, "%s_%026d", prefix, n);
  return id;
}

class ListsApiTest : public ListApiTest {
 protected:
  // `count` agents of `account`: env prod for even n, dev for odd; seen a minute ago when
  // n % 3 == 0, an hour ago otherwise, never when n % 5 == 0 (and not n % 3 == 0).
  void SeedAgents(const std::string& account, int first, int count) {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    const TimePoint now = env_.clock.Now();
    for (int n = first; n < first + count; ++n) {
      model::Agent a;
      a.id = NumberedId("agt", n);
      a.account_id = account;
      a.principal_id = "prn_" + account;
      a.hostname = "Host-" + std::to_string(n) + ".example";
      a.tags = {{"env", n % 2 == 0 ? "prod" : "dev"}};
      a.cert_serial_hex = "0b" + std::to_string(n);
      a.cert_not_after = now + std::chrono::hours(24);
      a.enrollment_token_id = NumberedId("enr", n);
      if (n % 3 == 0) {
        a.last_seen_at = now - std::chrono::seconds(60);
      } else if (n % 5 != 0) {
        a.last_seen_at = now - std::chrono::seconds(3600);
      }
      a.created_at = now;
      a.updated_at = now;
      ASSERT_TRUE((*tx)->agents().Insert(a).ok()) << n;
    }
    ASSERT_TRUE((*tx)->Commit().ok());
  }

  // POST /v1/principals in acc_a: an audited change.
  void CreatePrincipal(const std::string& name, const std::string& role) {
    net::HttpRequest r;
    r.method = "POST";
    r.target = "/v1/principals";
    r.remote_address = "127.0.0.1:1";
    r.headers["authorization"] = "Bearer " + token_a_;
    r.headers["content-type"] = "application/json";
    r.body = json{{"name", name}, {"role", role}}.dump();
    auto response = api_->Handle(r);
    ASSERT_EQ(response.status, 201) << response.body;
  }

  static void ExpectSortedUnique(const std::vector<std::string>& ids) {
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size()) << "duplicates";
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  }
};

TEST_F(ListsApiTest, AgentsPageToTheLastItemAndFilter) {
  SeedAgents("acc_a", 0, 250);
  SeedAgents("acc_b", 1000, 7);
  int pages = 0;
  auto all = Walk("/v1/agents?limit=100", &pages);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(all.size(), 250u);
  ExpectSortedUnique(IdsOf(all));
  for (const auto& a : all) EXPECT_EQ(a["account"], "acc_a");
  // The default page is 100 and says that more follow.
  auto first = Body(Get("/v1/agents"));
  EXPECT_EQ(first["items"].size(), 100u);
  EXPECT_TRUE(first["next_cursor"].is_string());

  auto prod = Walk("/v1/agents?limit=40&tag=env:prod");
  EXPECT_EQ(prod.size(), 125u);
  for (const auto& a : prod) EXPECT_EQ(a["tags"]["env"], "prod");
  auto online = Walk("/v1/agents?limit=30&online=true");
  EXPECT_EQ(online.size(), 84u);  // n % 3 == 0 for n in [0, 250)
  auto offline = Walk("/v1/agents?limit=30&online=false");
  EXPECT_EQ(offline.size(), 250u - 84u);                    // never seen counts as offline
  auto host = Walk("/v1/agents?limit=5&hostname=HOST-12");  // 12, 120..129
  EXPECT_EQ(host.size(), 11u);
  // Filters combine: n % 6 == 0 among 6 and 60..69.
  EXPECT_EQ(IdsOf(Walk("/v1/agents?limit=1&tag=env:prod&online=true&hostname=host-6")),
            (std::vector<std::string>{NumberedId("agt", 6), NumberedId("agt", 60),
                                      NumberedId("agt", 66)}));
}

TEST_F(ListsApiTest, ListsRefuseBadParametersNamingThem) {
  for (const std::string path :
       {"/v1/agents", "/v1/deployments", "/v1/secrets", "/v1/audit", "/v1/reports/exports",
        "/v1/accounts", "/v1/principals", "/v1/tokens", "/v1/grants", "/v1/domains", "/v1/webhooks",
        "/v1/agents/enrollment-tokens"}) {
    SCOPED_TRACE(path);
    auto ok = Get(path);
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_TRUE(Body(ok)["items"].is_array());
    EXPECT_TRUE(Body(ok).contains("next_cursor"));
    ExpectBadRequest(Get(path + "?limit=0"), "\"limit\"");
    ExpectBadRequest(Get(path + "?limit=1001"), "\"limit\"");
    ExpectBadRequest(Get(path + "?limit=-1"), "\"limit\"");
    ExpectBadRequest(Get(path + "?limit=1&limit=2"), "\"limit\"");
    ExpectBadRequest(Get(path + "?cursor=garbage"), "invalid cursor");
    ExpectBadRequest(Get(path + "?colour=red"), "\"colour\"");
  }
  // A cursor of another listing is refused, not misread.
  const std::string agents_cursor =
      EncodeCursor({.sort = "agents", .key = 0, .id = NumberedId("agt", 1)});
  ExpectBadRequest(Get("/v1/secrets?cursor=" + agents_cursor), "invalid cursor");
  ExpectBadRequest(Get("/v1/certificates?cursor=" + agents_cursor), "invalid cursor");
  ExpectBadRequest(Get("/v1/agents?online=maybe"), "\"online\"");
  ExpectBadRequest(Get("/v1/agents?tag=env"), "\"tag\"");
  ExpectBadRequest(Get("/v1/agents?status=gone"), "\"status\"");
  ExpectBadRequest(Get("/v1/deployments?state=done"), "\"state\"");
  ExpectBadRequest(Get("/v1/secrets?kind=key"), "\"kind\"");
  ExpectBadRequest(Get("/v1/audit?since=yesterday"), "\"since\"");
  ExpectBadRequest(Get("/v1/audit?outcome=ok"), "\"outcome\"");
  ExpectBadRequest(Get("/v1/audit?resource_type=CRT"), "\"resource_type\"");
  ExpectBadRequest(Get("/v1/audit?action=a&action=b"), "\"action\"");
  ExpectBadRequest(Get("/v1/reports/exports?until=2026-13-01"), "\"until\"");
}

TEST_F(ListsApiTest, AnAccountNeverSeesAnothersRowsThroughFilterOrCursor) {
  SeedAgents("acc_a", 0, 30);
  SeedAgents("acc_b", 1000, 5);
  // acc_b resumes after acc_a's first page: its own agents only.
  auto page = Body(Get("/v1/agents?limit=10"));
  const std::string cursor = page["next_cursor"];
  auto b = Body(Get("/v1/agents?cursor=" + cursor, token_b_));
  ASSERT_EQ(b["items"].size(), 5u);
  for (const auto& a : b["items"]) EXPECT_EQ(a["account"], "acc_b");
  // Naming the other account answers 404, as for an unknown one.
  for (const std::string path : {"/v1/agents", "/v1/deployments", "/v1/secrets", "/v1/audit",
                                 "/v1/reports/exports", "/v1/principals", "/v1/tokens"}) {
    EXPECT_EQ(Get(path + "?account=acc_a", token_b_).status, 404) << path;
  }
  EXPECT_EQ(Walk("/v1/agents?tag=env:prod").size(), 15u);
  EXPECT_EQ(Body(Get("/v1/agents?tag=env:prod&limit=1000", token_b_))["items"].size(), 3u);
}

TEST_F(ListsApiTest, DeploymentsPageByIdAndFilterByStateAndCertificate) {
  Seed(2);  // crt_..0 and crt_..1 of acc_a
  {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    for (int n = 0; n < 130; ++n) {
      model::Deployment d;
      d.id = NumberedId("dep", n);
      d.account_id = "acc_a";
      d.certificate_id = NumberedId("crt", n % 2);
      d.target_account_id = n < 5 ? "acc_b" : "acc_a";
      d.profile = "nginx";
      d.state = n % 4 == 0 ? model::DeploymentState::kFailed : model::DeploymentState::kRunning;
      d.created_by = "prn_acc_a";
      d.created_at = env_.clock.Now();
      d.updated_at = d.created_at;
      ASSERT_TRUE((*tx)->deployments().Insert(d).ok()) << n;
    }
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  int pages = 0;
  auto all = Walk("/v1/deployments?limit=50", &pages);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(all.size(), 130u);
  ExpectSortedUnique(IdsOf(all));
  EXPECT_EQ(Walk("/v1/deployments?limit=7&state=failed").size(), 33u);
  auto of_cert = Walk("/v1/deployments?limit=9&certificate=" + NumberedId("crt", 1));
  EXPECT_EQ(of_cert.size(), 65u);
  for (const auto& d : of_cert) EXPECT_EQ(d["certificate"], NumberedId("crt", 1));
  // acc_b sees the deployments onto its agents, and only those.
  auto b = Body(Get("/v1/deployments?limit=1000", token_b_));
  EXPECT_EQ(b["items"].size(), 5u);
  EXPECT_TRUE(b["next_cursor"].is_null());
}

TEST_F(ListsApiTest, SecretsPageAndFilterByTagKindAndName) {
  {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    for (int n = 0; n < 120; ++n) {
      model::Secret s{
          .id = NumberedId("sec", n),
          .account_id = n < 117 ? "acc_a" : "acc_b",
          .name = "secret-" + std::to_string(n),
          .kind = n % 3 == 0 ? model::SecretKind::kGeneric : model::SecretKind::kPassphrase,
          .tags = {{"env", n % 2 == 0 ? "prod" : "dev"}},
          .created_at = env_.clock.Now(),
          .updated_at = env_.clock.Now()};
      ASSERT_TRUE((*tx)->secrets().Insert(s).ok()) << n;
    }
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  auto all = Walk("/v1/secrets?limit=50");
  ASSERT_EQ(all.size(), 117u);
  ExpectSortedUnique(IdsOf(all));
  EXPECT_EQ(Walk("/v1/secrets?limit=10&tag=env:prod").size(), 59u);
  EXPECT_EQ(Walk("/v1/secrets?limit=10&kind=generic").size(), 39u);
  EXPECT_EQ(Walk("/v1/secrets?name=SECRET-11").size(), 8u);  // 11 and 110..116 (117+ are acc_b's)
  EXPECT_EQ(Body(Get("/v1/secrets", token_b_))["items"].size(), 3u);
}

TEST_F(ListsApiTest, AuditPagesBySeqWithFilters) {
  // 120 audited changes in acc_a (principal creations), then 10 an hour later.
  for (int n = 0; n < 120; ++n) CreatePrincipal("p" + std::to_string(n), "operator");
  env_.clock.Advance(std::chrono::hours(1));
  const std::string later = FormatRfc3339(env_.clock.Now());
  for (int n = 120; n < 130; ++n) CreatePrincipal("p" + std::to_string(n), "operator");

  int pages = 0;
  auto records = Walk("/v1/audit?limit=50&action=principal.create", &pages);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(records.size(), 130u);
  for (size_t i = 1; i < records.size(); ++i) {
    ASSERT_LT(records[i - 1]["seq"].get<int64_t>(), records[i]["seq"].get<int64_t>());
  }
  EXPECT_EQ(Walk("/v1/audit?limit=50&resource_type=prn").size(), 130u);
  EXPECT_EQ(Walk("/v1/audit?limit=4&since=" + later).size(), 10u);
  EXPECT_EQ(Walk("/v1/audit?limit=40&until=" + later + "&principal=prn_acc_a").size(), 120u);
  EXPECT_EQ(Walk("/v1/audit?outcome=denied").size(), 0u);
  const std::string one = records[7]["resource"];
  auto by_resource = Walk("/v1/audit?resource=" + one);
  ASSERT_EQ(by_resource.size(), 1u);
  EXPECT_EQ(by_resource[0]["seq"], records[7]["seq"]);
  // acc_b's auditor view is its own account: none of these.
  EXPECT_EQ(Body(Get("/v1/audit?action=principal.create", token_b_))["items"].size(), 0u);
}

TEST_F(ListsApiTest, ExportReportPagesByCertificate) {
  Seed(120);
  {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    for (int n = 0; n < 240; ++n) {
      model::ExportRecord e{.id = NumberedId("exp", n),
                            .account_id = "acc_a",
                            .certificate_id = NumberedId("crt", n % 120),
                            .principal_id = "prn_acc_a",
                            .fqdn_count = 1,
                            .at = env_.clock.Now() + std::chrono::seconds(n)};
      ASSERT_TRUE((*tx)->exports().Insert(e).ok());
    }
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  int pages = 0;
  auto rows = Walk("/v1/reports/exports?limit=50", &pages);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(rows.size(), 120u);
  std::vector<std::string> certs;
  for (const auto& r : rows) {
    certs.push_back(r["certificate"]);
    EXPECT_EQ(r["exports"], 2);
  }
  ExpectSortedUnique(certs);
  // Exports 120..239 happened from base+120 s on: one per certificate.
  const std::string since = FormatRfc3339(env_.clock.Now() + std::chrono::seconds(120));
  auto late = Walk("/v1/reports/exports?limit=1000&since=" + since);
  ASSERT_EQ(late.size(), 120u);
  EXPECT_EQ(late[0]["exports"], 1);
  EXPECT_EQ(Walk("/v1/reports/exports?certificate=" + NumberedId("crt", 3)).size(), 1u);
  EXPECT_EQ(Body(Get("/v1/reports/exports", token_b_))["items"].size(), 0u);
}

TEST_F(ListsApiTest, SmallListsPageInMemoryToTheLastItem) {
  for (int n = 0; n < 23; ++n) CreatePrincipal("q" + std::to_string(n), "auditor");
  int pages = 0;
  auto principals = Walk("/v1/principals?limit=5", &pages);
  EXPECT_EQ(principals.size(), 24u);  // and the admin
  EXPECT_EQ(pages, 5);
  ExpectSortedUnique(IdsOf(principals));
  // A cursor past the end gives an empty last page.
  const std::string past = EncodeCursor({.sort = "principals", .key = 0, .id = "prn_~"});
  auto empty = Body(Get("/v1/principals?cursor=" + past));
  EXPECT_TRUE(empty["items"].empty());
  EXPECT_TRUE(empty["next_cursor"].is_null());
}

}  // namespace
}  // namespace certfleet::api
