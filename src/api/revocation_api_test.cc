// Revocation through the REST API (issue #13): a revoked agent's parked long poll is answered at
// once with 401 (the PollHub is woken by the revocation), revoked tokens and disabled principals
// answer 401 on their next request, and another account's credentials look like unknown ones.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "api/api_service.h"
#include "api/api_test_env.h"
#include "api/poll_hub.h"
#include "crypto/key.h"
#include "events/webhooks.h"
#include "fakes/pki_env.h"
#include "jobs/engine.h"
#include "lifecycle/issuers/internal_issuer.h"
#include "net/internal.h"
#include "x509/certificate.h"
#include "x509/csr.h"

namespace certfleet::api {
namespace {

using nlohmann::json;

class RevocationApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_.Start();
    issuers_.Register(std::make_unique<lifecycle::InternalIssuer>(env_.Ca()));
    certs_ = std::make_unique<lifecycle::CertificateService>(
        *env_.store, *env_.secret_store, issuers_, env_.clock, SystemRandomSource());
    exports_ = std::make_unique<lifecycle::ExportService>(
        *env_.store, *env_.secret_store, env_.clock, SystemRandomSource(),
        lifecycle::ExportOptions{.pkcs8 = {.pbkdf2_iterations = 10000}});
    gov_ = std::make_unique<lifecycle::GovernanceService>(*env_.store, env_.clock,
                                                          SystemRandomSource());
    secrets_ = std::make_unique<lifecycle::SecretService>(*env_.store, *env_.secret_store);
    audit_ = MakeKeyedAuditLog(env_);
    engine_ = std::make_unique<jobs::JobEngine>(*env_.store, env_.clock, SystemRandomSource(),
                                                jobs::EngineOptions{.owner = "revocation"});
    deployments_ = std::make_unique<lifecycle::DeploymentService>(
        *env_.store, *env_.secret_store, *engine_, &hub_, env_.clock, SystemRandomSource(),
        lifecycle::DeploymentOptions{.pkcs8 = {.pbkdf2_iterations = 10000}});
    agents_ = std::make_unique<lifecycle::AgentService>(*env_.store, env_.Ca(), deployments_.get(),
                                                        &hub_, env_.clock, SystemRandomSource());
    api_ = std::make_unique<ApiService>(ApiDeps{*env_.store, env_.clock, SystemRandomSource(),
                                                *certs_, *exports_, *gov_, *secrets_, *audit_,
                                                *deployments_, *agents_, &hub_});
    sys_ = *gov_->CreateAccount("default");
    alpha_ = *gov_->CreateAccount("alpha");
    beta_ = *gov_->CreateAccount("beta");
    root_ = Token(sys_.id, "root", model::Role::kAdmin);
    admin_ = Token(alpha_.id, "admin", model::Role::kAdmin);
    beta_admin_ = Token(beta_.id, "admin", model::Role::kAdmin);
  }
  void TearDown() override { hub_.Stop(); }

  std::string Token(const std::string& account, const std::string& name, model::Role role) {
    auto p = gov_->CreatePrincipal({account, name, model::PrincipalKind::kUser, role, {}});
    EXPECT_TRUE(p.ok()) << p.error().ToString();
    return std::string(gov_->CreateToken(*p, std::nullopt)->token.view());
  }

  net::HttpResponse Call(const std::string& method, const std::string& target,
                         const std::string& token, const std::string& body = "") {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.remote_address = "127.0.0.1:1";
    if (!body.empty()) r.headers["content-type"] = "application/json";
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    return api_->Handle(r);
  }

  net::HttpResponse AgentCall(const std::string& target, const std::string& cert_der) {
    net::HttpRequest r;
    r.method = "GET";
    r.target = target;
    r.remote_address = "127.0.0.1:2";
    r.client_cert_der = cert_der;
    return api_->Handle(r);
  }

  // Enrolls an agent of `account`; returns (id, client certificate DER).
  std::pair<std::string, std::string> Enroll(const std::string& account) {
    lifecycle::Caller admin{.principal_id = "prn_a", .account_id = account};
    auto token = agents_->CreateEnrollmentToken(admin, account, {{"env", "dev"}}, {});
    auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
    auto csr = x509::Csr::Build(*key, "", {"agent.example.test"});
    auto creds = agents_->Enroll({std::string(token->token.view()), csr->ToPem(), "h"});
    EXPECT_TRUE(creds.ok()) << creds.error().ToString();
    return {creds->agent.id, x509::Certificate::FromPem(creds->certificate_pem)->der()};
  }

  testing::PkiEnv env_;
  PollHub hub_{std::chrono::seconds(30)};  // no periodic recheck within a test's time
  lifecycle::IssuerRegistry issuers_;
  std::unique_ptr<lifecycle::CertificateService> certs_;
  std::unique_ptr<lifecycle::ExportService> exports_;
  std::unique_ptr<lifecycle::GovernanceService> gov_;
  std::unique_ptr<lifecycle::SecretService> secrets_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<jobs::JobEngine> engine_;
  std::unique_ptr<lifecycle::DeploymentService> deployments_;
  std::unique_ptr<lifecycle::AgentService> agents_;
  std::unique_ptr<ApiService> api_;
  model::Account sys_, alpha_, beta_;
  std::string root_, admin_, beta_admin_;
};

TEST_F(RevocationApiTest, ParkedPollOfARevokedAgentIsAnsweredAtOnceWith401) {
  auto [agent_id, cert] = Enroll(alpha_.id);
  auto parked = AgentCall("/v1/agent/jobs?wait=60", cert);
  ASSERT_TRUE(parked.deferred) << parked.status << " " << parked.body;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<net::HttpResponse> answer;
  ASSERT_TRUE(net::internal::DeferredAccess::Attach(*parked.deferred, [&](net::HttpResponse r) {
    std::lock_guard lk(mu);
    answer = std::move(r);
    cv.notify_all();
  }));
  // Another account's admin cannot revoke it (404 like an unknown agent); nothing is answered.
  EXPECT_EQ(Call("POST", "/v1/agents/" + agent_id + "/revoke", beta_admin_, "{}").status, 404);
  EXPECT_EQ(Call("POST", "/v1/agents/agt_00000000000000000000000000/revoke", admin_, "{}").status,
            404);
  const auto t0 = std::chrono::steady_clock::now();
  auto revoked = Call("POST", "/v1/agents/" + agent_id + "/revoke", admin_, "{}");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(json::parse(revoked.body)["status"], "revoked");
  std::unique_lock lk(mu);
  ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return answer.has_value(); }));
  // Well before the 60 s wait and the 30 s recheck: the revocation woke the hub.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(answer->status, 401) << answer->body;
  EXPECT_NE(answer->body.find("revoked"), std::string::npos) << answer->body;
  // The next request is refused at authentication.
  EXPECT_EQ(AgentCall("/v1/agent/jobs?wait=0", cert).status, 401);
  EXPECT_EQ(hub_.parked(), 0u);
}

TEST_F(RevocationApiTest, RevokedTokensAndDisabledPrincipalsAnswer401) {
  auto ops = gov_->CreatePrincipal(
      {alpha_.id, "ops", model::PrincipalKind::kUser, model::Role::kOperator, {}});
  ASSERT_TRUE(ops.ok());
  auto t1 = gov_->CreateToken(*ops, std::nullopt);
  auto t2 = gov_->CreateToken(*ops, std::nullopt);
  const std::string v1(t1->token.view()), v2(t2->token.view());
  EXPECT_EQ(Call("GET", "/v1/certificates", v1).status, 200);

  auto list = Call("GET", "/v1/tokens?principal=ops", admin_);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(json::parse(list.body)["items"].size(), 2u);
  EXPECT_EQ(list.body.find(t1->record.hash_hex), std::string::npos);
  // Another account's token is "not found"; an operator may not revoke.
  EXPECT_EQ(Call("POST", "/v1/tokens/" + t2->record.id + "/revoke", beta_admin_, "{}").status, 404);
  EXPECT_EQ(Call("POST", "/v1/tokens/" + t2->record.id + "/revoke", v1, "{}").status, 403);
  auto revoked = Call("POST", "/v1/tokens/" + t2->record.id + "/revoke", admin_, "{}");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(json::parse(revoked.body)["revoked"], true);
  EXPECT_EQ(Call("GET", "/v1/certificates", v2).status, 401);
  EXPECT_EQ(Call("GET", "/v1/certificates", v1).status, 200);

  // Disable: every token at once; enable restores the unrevoked one.
  auto self = Call("POST", "/v1/principals/admin/disable", admin_, "{}");
  EXPECT_EQ(self.status, 403);
  EXPECT_NE(self.body.find("principal.self_disable"), std::string::npos) << self.body;
  EXPECT_EQ(Call("POST", "/v1/principals/ops/disable?account=alpha", beta_admin_, "{}").status,
            404);
  ASSERT_EQ(Call("POST", "/v1/principals/ops/disable", admin_, "{}").status, 200);
  EXPECT_EQ(Call("GET", "/v1/certificates", v1).status, 401);
  ASSERT_EQ(Call("POST", "/v1/principals/ops/enable?account=alpha", root_, "{}").status, 200);
  EXPECT_EQ(Call("GET", "/v1/certificates", v1).status, 200);
  EXPECT_EQ(Call("GET", "/v1/certificates", v2).status, 401);
}

TEST_F(RevocationApiTest, RevokedEnrollmentTokenAnswers401) {
  auto created =
      Call("POST", "/v1/agents/enrollment-tokens", admin_, json{{"tags", {{"env", "dev"}}}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const json t = json::parse(created.body);
  EXPECT_EQ(Call("POST", "/v1/agents/enrollment-tokens/" + t["id"].get<std::string>() + "/revoke",
                 beta_admin_, "{}")
                .status,
            404);
  auto revoked =
      Call("POST", "/v1/agents/enrollment-tokens/" + t["id"].get<std::string>() + "/revoke", admin_,
           "{}");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_FALSE(json::parse(revoked.body)["revoked_at"].is_null());
  auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  auto csr = x509::Csr::Build(*key, "", {"agent.example.test"});
  auto enroll = Call("POST", "/v1/agent/enroll", "",
                     json{{"token", t["token"]}, {"csr", csr->ToPem()}, {"hostname", "h"}}.dump());
  EXPECT_EQ(enroll.status, 401) << enroll.body;
}

}  // namespace
}  // namespace certfleet::api
