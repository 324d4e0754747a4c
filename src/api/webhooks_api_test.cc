// /v1/webhooks beyond authorization (authz_matrix_test.cc): the write-only secret, validation,
// the delivery log and its audit trail.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/api_service.h"
#include "api/api_test_env.h"
#include "events/events.h"
#include "events/webhooks.h"
#include "net/address_policy.h"

namespace certfleet::api {
namespace {

using nlohmann::json;

constexpr char kSecret[] = "webhook-api-test-secret";

class WebhooksApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto account = stack_.governance->CreateAccount("alpha");
    ASSERT_TRUE(account.ok());
    account_ = *account;
    auto p = stack_.governance->CreatePrincipal(
        {account_.id, "admin", model::PrincipalKind::kUser, model::Role::kAdmin, {}});
    ASSERT_TRUE(p.ok());
    token_ = std::string(stack_.governance->CreateToken(*p, std::nullopt)->token.view());
  }

  net::HttpResponse Call(const std::string& method, const std::string& target,
                         const std::string& body = "") {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.remote_address = "127.0.0.1:1";
    if (!body.empty()) r.headers["content-type"] = "application/json";
    r.headers["authorization"] = "Bearer " + token_;
    return stack_.api->Handle(r);
  }

  static json Valid() {
    return {{"url", "https://hooks.example.test/certfleet"},
            {"types", {"certificate.*"}},
            {"tags", {{"env", "prod"}}},
            {"secret", kSecret}};
  }

  ApiStack stack_;
  model::Account account_;
  std::string token_;
};

// Issue #13: allow_private_address is decided by certfleetd's configuration ([[outbound.allow]]),
// whatever the caller's role: 403 naming the rule unless the account is allowed a network.
TEST_F(WebhooksApiTest, PrivateAddressNeedsTheServerConfiguration) {
  auto rebuild = [this](const net::OutboundPolicy* policy) {
    stack_.webhooks =
        std::make_unique<events::WebhookService>(*stack_.env.store, *stack_.env.secret_store,
                                                 stack_.env.clock, SystemRandomSource(), policy);
    stack_.api = std::make_unique<ApiService>(
        ApiDeps{*stack_.env.store, stack_.env.clock, SystemRandomSource(), *stack_.certs,
                *stack_.exports, *stack_.governance, *stack_.secrets, *stack_.audit,
                *stack_.deployments, *stack_.agents, nullptr, stack_.webhooks.get()});
  };
  json body = Valid();
  body["url"] = "http://127.0.0.1:9/hook";
  body["allow_private_address"] = true;
  const net::OutboundPolicy none;
  rebuild(&none);
  auto refused = Call("POST", "/v1/webhooks", body.dump());
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("rule network.private_not_allowed"), std::string::npos);
  const net::OutboundPolicy loopback(
      {{.accounts = {"alpha"}, .networks = {*net::Cidr::Parse("127.0.0.0/8")}}});
  rebuild(&loopback);
  auto created = Call("POST", "/v1/webhooks", body.dump());
  EXPECT_EQ(created.status, 201) << created.body;
  rebuild(nullptr);  // the policies above end with this test
}

TEST_F(WebhooksApiTest, SecretIsWriteOnly) {
  auto created = Call("POST", "/v1/webhooks", Valid().dump());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.body.find(kSecret), std::string::npos);
  auto w = json::parse(created.body);
  EXPECT_FALSE(w.contains("secret"));
  EXPECT_EQ(w["account_id"], account_.id);
  EXPECT_EQ(w["types"], json::array({"certificate.*"}));
  EXPECT_EQ(w["tags"]["env"], "prod");
  EXPECT_EQ(w["allow_private_address"], false);
  EXPECT_EQ(w["active"], true);
  const std::string id = w["id"];
  EXPECT_EQ(created.headers.at("Location"), "/v1/webhooks/" + id);

  for (const std::string& target : std::vector<std::string>{"/v1/webhooks", "/v1/webhooks/" + id}) {
    auto r = Call("GET", target);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.body.find(kSecret), std::string::npos);
    EXPECT_EQ(r.body.find("secret_blob"), std::string::npos);
  }
  // Nor in the audit trail.
  auto tx = stack_.env.store->Begin();
  auto records = (*tx)->audit().List({.resource = id});
  ASSERT_TRUE(records.ok());
  ASSERT_FALSE(records->empty());
  EXPECT_EQ((*records)[0].action, "webhook.create");
  for (const auto& rec : *records) EXPECT_EQ(rec.detail.find(kSecret), std::string::npos);
}

TEST_F(WebhooksApiTest, Validation) {
  auto bad = [&](json body, const char* what) {
    auto r = Call("POST", "/v1/webhooks", body.dump());
    EXPECT_EQ(r.status, 400) << what << ": " << r.body;
    EXPECT_EQ(r.body.find(kSecret), std::string::npos) << what;
  };
  auto b = Valid();
  b["url"] = "http://hooks.example.test/x";
  bad(b, "plain http");
  b = Valid();
  b.erase("secret");
  bad(b, "no secret");
  b = Valid();
  b["secret"] = "short";
  bad(b, "short secret");
  b = Valid();
  b["types"] = json::array();
  bad(b, "no types");
  b = Valid();
  b["types"] = {"certificate*"};
  bad(b, "bad pattern");
  b = Valid();
  b["unknown"] = 1;
  bad(b, "unknown field");
  b = Valid();
  b["url"] = "http://127.0.0.1:9/hook";
  b["allow_private_address"] = true;
  EXPECT_EQ(Call("POST", "/v1/webhooks", b.dump()).status, 201);
}

TEST_F(WebhooksApiTest, DisableAndDeliveries) {
  const std::string id = json::parse(Call("POST", "/v1/webhooks", Valid().dump()).body)["id"];
  auto log = Call("GET", "/v1/webhooks/" + id + "/deliveries");
  ASSERT_EQ(log.status, 200) << log.body;
  EXPECT_TRUE(json::parse(log.body)["items"].empty());
  EXPECT_EQ(Call("GET", "/v1/webhooks/" + id + "/deliveries?limit=5000").status, 400);

  auto off = Call("POST", "/v1/webhooks/" + id + "/disable");
  ASSERT_EQ(off.status, 200) << off.body;
  EXPECT_EQ(json::parse(off.body)["active"], false);
  EXPECT_EQ(json::parse(Call("GET", "/v1/webhooks/" + id).body)["active"], false);
  EXPECT_EQ(Call("GET", "/v1/webhooks/whk_00000000000000000000000000").status, 404);
}

}  // namespace
}  // namespace certfleet::api
