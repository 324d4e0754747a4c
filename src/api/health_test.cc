// GET /healthz, GET /readyz, and what clients see while the store is unavailable (issue #15): a
// 503 with Retry-After and a problem document that names nothing below the API.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>

#include "api/api_service.h"
#include "api/api_test_env.h"
#include "api/problem.h"
#include "api/readiness.h"
#include "lifecycle/tokens.h"

namespace certfleet::api {
namespace {

using nlohmann::json;

// What a database driver says when it cannot connect: a host, a port and a user.
constexpr char kInternals[] =
    "connection to server at \"10.1.2.3\", port 5432 failed: FATAL: password authentication "
    "failed for user \"certfleet\"";

// Test-only: a store whose transactions fail with Unavailable while it is "down", the way a busy
// or unreachable database looks from above. Reads and writes go down separately.
class FlakyStore final : public store::Store {
 public:
  explicit FlakyStore(store::Store& real) : real_(real) {}

  Result<std::unique_ptr<store::Tx>> Begin() override {
    if (writes_down) return Down();
    return real_.Begin();
  }
  Result<std::unique_ptr<store::Tx>> BeginRead() override {
    if (reads_down) return Down();
    return real_.BeginRead();
  }
  Result<int> SchemaVersion() override {
    if (reads_down) return Down();
    return real_.SchemaVersion();
  }

  std::atomic<bool> reads_down{false};
  std::atomic<bool> writes_down{false};
  std::optional<std::chrono::seconds> retry_after;  // set before going down

 private:
  Error Down() const { return Unavailable(kInternals).WithRetry(retry_after); }
  store::Store& real_;
};

class HealthTest : public ::testing::Test {
 protected:
  HealthTest() : flaky_(*env_.store) {
    // The API and the certificate service see the flaky store; the rest of the stack the real one.
    certs_ = std::make_unique<lifecycle::CertificateService>(
        flaky_, *env_.secret_store, stack_.issuers, env_.clock, SystemRandomSource());
    api_ = std::make_unique<ApiService>(ApiDeps{
        flaky_, env_.clock, SystemRandomSource(), *certs_, *stack_.exports, *stack_.governance,
        *stack_.secrets, *stack_.audit, *stack_.deployments, *stack_.agents, nullptr,
        stack_.webhooks.get(), MetricsOptions{}, nullptr, &readiness_});
    token_ = AddAdminWithToken(env_, "acc_h");
    env_.ClaimDomain("acc_h", "example.test");
  }

  net::HttpResponse Call(ApiService& api, const std::string& method, const std::string& target,
                         const std::string& body = "", bool with_token = false) {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.remote_address = "127.0.0.1:1";
    if (!body.empty()) r.headers["content-type"] = "application/json";
    if (with_token) r.headers["authorization"] = "Bearer " + token_;
    return api.Handle(r);
  }
  net::HttpResponse Get(const std::string& target, bool with_token = false) {
    return Call(*api_, "GET", target, "", with_token);
  }

  // A 503 problem document with a Retry-After, naming nothing of kInternals.
  static json ExpectUnavailable(const net::HttpResponse& r, const std::string& retry_after) {
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.headers.at("Content-Type"), "application/problem+json");
    EXPECT_EQ(r.headers.count("Retry-After") ? r.headers.at("Retry-After") : "", retry_after);
    EXPECT_EQ(r.body.find("10.1.2.3"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("5432"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("password"), std::string::npos) << r.body;
    json doc = json::parse(r.body);
    EXPECT_EQ(doc["type"], "urn:certfleet:problem:unavailable");
    EXPECT_EQ(doc["status"], 503);
    EXPECT_TRUE(doc["request_id"].is_string());
    return doc;
  }

  ApiStack stack_;
  testing::PkiEnv& env_ = stack_.env;
  FlakyStore flaky_;
  Readiness readiness_{Readiness::Phase::kServing};
  std::unique_ptr<lifecycle::CertificateService> certs_;
  std::unique_ptr<ApiService> api_;
  std::string token_;
};

TEST_F(HealthTest, HealthzReportsTheStore) {
  auto r = Get("/healthz");
  ASSERT_EQ(r.status, 200) << r.body;
  json body = json::parse(r.body);
  auto version = env_.store->SchemaVersion();
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["schema_version"], *version);
  EXPECT_EQ(body["store"]["ok"], true);
  EXPECT_EQ(body["store"]["schema_version"], *version);
  ASSERT_TRUE(body["store"]["latency_ms"].is_number());
  EXPECT_GE(body["store"]["latency_ms"].get<double>(), 0.0);
}

TEST_F(HealthTest, HealthzIs503WithRetryAfterWhileTheStoreIsDown) {
  flaky_.reads_down = true;
  json doc = ExpectUnavailable(Get("/healthz"), "2");
  EXPECT_EQ(doc["detail"], "the store is not answering");
  EXPECT_EQ(doc["store"]["ok"], false);
  EXPECT_TRUE(doc["store"]["latency_ms"].is_number());
  // The store's own delay wins over the default.
  flaky_.retry_after = std::chrono::seconds(5);
  ExpectUnavailable(Get("/healthz"), "5");
  flaky_.reads_down = false;
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(HealthTest, ReadyzFollowsThePhaseAndTheStore) {
  auto reason = [](const net::HttpResponse& r) {
    return ExpectUnavailable(r, "2")["reason"].get<std::string>();
  };
  readiness_.Set(Readiness::Phase::kStarting);
  EXPECT_EQ(reason(Get("/readyz")), "starting");
  readiness_.Set(Readiness::Phase::kServing);
  auto ready = Get("/readyz");
  ASSERT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(json::parse(ready.body), json({{"ready", true}}));
  flaky_.reads_down = true;
  auto down = Get("/readyz");
  EXPECT_EQ(reason(down), "store");
  EXPECT_EQ(json::parse(down.body)["ready"], false);
  flaky_.reads_down = false;
  // After SIGTERM: out of rotation, whatever the store says.
  readiness_.Set(Readiness::Phase::kDraining);
  json draining = json::parse(Get("/readyz").body);
  EXPECT_EQ(draining["reason"], "draining");
  EXPECT_EQ(draining["detail"], "this replica is shutting down");
  // Liveness is another question: the process and its store are fine.
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(HealthTest, WithoutReadinessTheStoreAloneDecides) {
  auto r = Call(*stack_.api, "GET", "/readyz");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(HealthTest, AuthenticationWithoutTheStoreIs503Not401) {
  flaky_.reads_down = true;
  json doc = ExpectUnavailable(Get("/v1/certificates", /*with_token=*/true), "2");
  EXPECT_NE(doc["detail"].get<std::string>().find("temporarily unavailable"), std::string::npos);
  flaky_.reads_down = false;
  EXPECT_EQ(Get("/v1/certificates", /*with_token=*/true).status, 200);
}

TEST_F(HealthTest, AWriteWithoutTheStoreIs503AndSucceedsOnceItIsBack) {
  const std::string body =
      json{{"name", "web"}, {"domains", {"app.example.test"}}, {"exportable", false}}.dump();
  flaky_.writes_down = true;
  flaky_.retry_after = std::chrono::seconds(1);
  ExpectUnavailable(Call(*api_, "POST", "/v1/certificates", body, /*with_token=*/true), "1");
  flaky_.writes_down = false;
  auto r = Call(*api_, "POST", "/v1/certificates", body, /*with_token=*/true);
  EXPECT_EQ(r.status, 201) << r.body;
}

}  // namespace
}  // namespace certfleet::api
