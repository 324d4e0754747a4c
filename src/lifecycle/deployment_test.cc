// Deployments and agents (issue #4) through the services and the real job engine, on a SQLite
// store and a fake clock. The agent side is played by the test; test/e2e runs real agents.
#include <gtest/gtest.h>

#include <algorithm>

#include "crypto/key.h"
#include "fakes/pki_env.h"
#include "jobs/engine.h"
#include "lifecycle/agent_service.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/deployment_service.h"
#include "lifecycle/issuers/internal_issuer.h"
#include "lifecycle/secret_service.h"
#include "x509/certificate.h"
#include "x509/csr.h"

namespace certfleet::lifecycle {
namespace {

class RecordingNotifier : public AgentNotifier {
 public:
  void Notify(const std::string& agent_id) override { notified.push_back(agent_id); }
  std::vector<std::string> notified;
};

class DeploymentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    issuers_.Register(std::make_unique<InternalIssuer>(env_.Ca()));
    certs_ = std::make_unique<CertificateService>(*env_.store, *env_.secret_store, issuers_,
                                                  env_.clock, SystemRandomSource());
    engine_ = std::make_unique<jobs::JobEngine>(*env_.store, env_.clock, SystemRandomSource(),
                                                jobs::EngineOptions{.owner = "test"});
    deployments_ = std::make_unique<DeploymentService>(
        *env_.store, *env_.secret_store, *engine_, &notifier_, env_.clock, SystemRandomSource(),
        DeploymentOptions{.pkcs8 = {.pbkdf2_iterations = 10000}});
    deployments_->RegisterJobs();
    agents_ = std::make_unique<AgentService>(*env_.store, env_.Ca(), deployments_.get(), &notifier_,
                                             env_.clock, SystemRandomSource());
    secrets_ = std::make_unique<SecretService>(*env_.store, *env_.secret_store);
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    for (const char* id : {"acc_a", "acc_b"}) {
      ASSERT_TRUE((*tx)->accounts().Insert({id, id, env_.clock.Now()}).ok());
    }
    ASSERT_TRUE((*tx)->Commit().ok());
    // Non-system accounts hold only names they claim (issue #13).
    for (const char* id : {"acc_a", "acc_b"}) env_.ClaimDomain(id, "example.test");
    auto view = certs_->Request(alice_, {.name = "web",
                                         .domains = {"web.example.test"},
                                         .exportable = true,
                                         .tags = {{"env", "dev"}}});
    ASSERT_TRUE(view.ok()) << view.error().ToString();
    cert_ = view->certificate.id;
    serial_ = view->version->serial_hex;
  }

  // Enrolls an agent in `account` with `tags`; returns its row.
  model::Agent Enroll(const std::string& account, model::Tags tags,
                      const std::string& host = "host") {
    Caller admin{.principal_id = "prn_admin", .account_id = account, .role = model::Role::kAdmin};
    auto token = agents_->CreateEnrollmentToken(admin, account, tags, std::nullopt);
    EXPECT_TRUE(token.ok()) << token.error().ToString();
    auto creds = agents_->Enroll({std::string(token->token.view()), Csr(), host});
    EXPECT_TRUE(creds.ok()) << creds.error().ToString();
    return creds->agent;
  }

  static std::string Csr() {
    auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
    auto csr = x509::Csr::Build(*key, "", {"ignored.example.test"});
    return csr->ToPem();
  }

  // Runs the job engine until nothing is due.
  void Drain() {
    for (int i = 0; i < 20; ++i) {
      auto n = engine_->RunOnce();
      ASSERT_TRUE(n.ok()) << n.error().ToString();
      if (*n == 0) return;
    }
  }

  // The types of the events in the outbox, in order.
  std::vector<std::string> EventTypes() {
    auto tx = env_.store->Begin();
    auto events = (*tx)->events().ListAfter(0, 1000);
    EXPECT_TRUE(events.ok());
    std::vector<std::string> types;
    for (const auto& e : *events) types.push_back(e.type);
    return types;
  }

  static int Count(const std::vector<std::string>& v, const std::string& x) {
    return static_cast<int>(std::count(v.begin(), v.end(), x));
  }

  DeploymentView View(const std::string& id) {
    auto v = deployments_->Get(alice_, id);
    EXPECT_TRUE(v.ok()) << v.error().ToString();
    return *v;
  }

  // Plays an agent: fetches its jobs, the bundle and the passphrase, checks them, reports.
  void ActAsAgent(const model::Agent& agent, model::TargetState state) {
    auto jobs = deployments_->PendingJobs(agent);
    ASSERT_TRUE(jobs.ok()) << jobs.error().ToString();
    ASSERT_FALSE(jobs->empty());
    for (const AgentJob& job : *jobs) {
      auto bundle = deployments_->Bundle(agent, job.target.id);
      ASSERT_TRUE(bundle.ok()) << bundle.error().ToString();
      auto pass = secrets_->ReadValue(agents_->AgentCaller(agent, "test"), job.deployment.secret_id,
                                      job.deployment.secret_version);
      ASSERT_TRUE(pass.ok()) << pass.error().ToString();
      auto key = crypto::PrivateKey::FromEncryptedPem(bundle->encrypted_key_pem.view(), *pass);
      ASSERT_TRUE(key.ok()) << key.error().ToString();
      auto leaf = x509::Certificate::FromPem(bundle->certificate_pem);
      ASSERT_TRUE(leaf.ok());
      EXPECT_EQ(leaf->spki_der(), key->public_key().spki_der());
      ASSERT_TRUE(deployments_
                      ->Report(agent, job.target.id,
                               {.seq = job.target.seq,
                                .state = state,
                                .reason = state == model::TargetState::kVerified ? "" : "nginx -t",
                                .paths = {"/srv/a/web-fullchain.pem"},
                                .serial_hex = leaf->serial_hex()})
                      .ok());
    }
  }

  testing::PkiEnv env_;
  IssuerRegistry issuers_;
  RecordingNotifier notifier_;
  std::unique_ptr<CertificateService> certs_;
  std::unique_ptr<jobs::JobEngine> engine_;
  std::unique_ptr<DeploymentService> deployments_;
  std::unique_ptr<AgentService> agents_;
  std::unique_ptr<SecretService> secrets_;
  Caller alice_{.principal_id = "prn_alice", .account_id = "acc_a"};
  std::string cert_, serial_;
};

TEST_F(DeploymentTest, InstallsOnMatchingAgentsOnly) {
  model::Agent dev1 = Enroll("acc_a", {{"env", "dev"}, {"role", "web"}}, "web-1");
  model::Agent dev2 = Enroll("acc_a", {{"env", "dev"}}, "web-2");
  model::Agent prod = Enroll("acc_a", {{"env", "prod"}}, "web-3");
  auto dep = deployments_->Create(
      alice_, {.certificate_id = cert_, .selector = {{"env", "dev"}}, .profile = "nginx"});
  ASSERT_TRUE(dep.ok()) << dep.error().ToString();
  EXPECT_EQ(dep->state, model::DeploymentState::kRunning);
  Drain();
  DeploymentView v = View(dep->id);
  ASSERT_EQ(v.targets.size(), 2u);
  EXPECT_EQ(v.version, 1);
  EXPECT_FALSE(v.deployment.secret_id.empty());
  EXPECT_EQ(notifier_.notified.size(), 2u);
  // The prod agent has no job and may not read the passphrase.
  EXPECT_TRUE(deployments_->PendingJobs(prod)->empty());
  auto refused = secrets_->ReadValue(agents_->AgentCaller(prod, "t"), v.deployment.secret_id, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);

  ActAsAgent(dev1, model::TargetState::kVerified);
  EXPECT_EQ(View(dep->id).deployment.state, model::DeploymentState::kRunning);
  ActAsAgent(dev2, model::TargetState::kVerified);
  v = View(dep->id);
  EXPECT_EQ(v.deployment.state, model::DeploymentState::kSucceeded) << v.deployment.state_detail;
  for (const TargetView& t : v.targets) {
    EXPECT_EQ(t.target.state, model::TargetState::kVerified);
    EXPECT_TRUE(t.target.verified_at.has_value());
    EXPECT_EQ(t.serial_hex, serial_);
  }
  auto inv = deployments_->InventoryForCertificate(alice_, cert_);
  ASSERT_TRUE(inv.ok());
  ASSERT_EQ(inv->size(), 2u);
  EXPECT_EQ((*inv)[0].serial_hex, serial_);
  EXPECT_EQ((*inv)[0].target.paths[0], "/srv/a/web-fullchain.pem");
  auto by_agent = deployments_->InventoryForAgent(alice_, dev2.id);
  ASSERT_TRUE(by_agent.ok());
  ASSERT_EQ(by_agent->size(), 1u);
  EXPECT_EQ(by_agent->front().hostname, "web-2");
  env_.clock.Advance(std::chrono::seconds(2));
  Drain();  // the wait step sees the settled state and ends
  auto job = engine_->Get(v.deployment.job_id);
  EXPECT_EQ(job->state, model::JobState::kSucceeded);
  auto types = EventTypes();
  EXPECT_EQ(Count(types, "agent.enrolled"), 3);
  EXPECT_EQ(Count(types, "deployment.succeeded"), 1);
  EXPECT_EQ(Count(types, "deployment.failed"), 0);
}

TEST_F(DeploymentTest, NoMatchingAgentEndsAtOnce) {
  Enroll("acc_a", {{"env", "prod"}});
  auto dep = deployments_->Create(
      alice_, {.certificate_id = cert_, .selector = {{"env", "dev"}}, .profile = "nginx"});
  ASSERT_TRUE(dep.ok());
  EXPECT_EQ(dep->state, model::DeploymentState::kNoTargets);  // decided at once
  DeploymentView v = View(dep->id);
  EXPECT_EQ(v.deployment.state, model::DeploymentState::kNoTargets);
  EXPECT_TRUE(v.deployment.secret_id.empty());  // nothing exported for nobody
  EXPECT_NE(v.deployment.state_detail.find("env=dev"), std::string::npos);
  EXPECT_TRUE(v.targets.empty());
  EXPECT_EQ(Count(EventTypes(), "deployment.failed"), 1);
}

// Issue #13: a certificate whose name its account no longer claims is not deployed, neither by
// a new deployment nor by a redeploy.
TEST_F(DeploymentTest, ReleasedClaimRefusesCreateAndRedeploy) {
  Enroll("acc_a", {{"env", "dev"}});
  auto dep = deployments_->Create(
      alice_, {.certificate_id = cert_, .selector = {{"env", "dev"}}, .profile = "nginx"});
  ASSERT_TRUE(dep.ok()) << dep.error().ToString();
  {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)->domain_claims().Delete("dcl_acc_a_example.test").ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  auto again = deployments_->Create(
      alice_, {.certificate_id = cert_, .selector = {{"env", "dev"}}, .profile = "nginx"});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(again.error().message().find("rule domain.unclaimed"), std::string::npos)
      << again.error().message();
  EXPECT_NE(again.error().message().find("web.example.test"), std::string::npos);
  auto redeploy = deployments_->Redeploy(alice_, dep->id);
  ASSERT_FALSE(redeploy.ok());
  EXPECT_EQ(redeploy.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(redeploy.error().message().find("rule domain.unclaimed"), std::string::npos);
}

TEST_F(DeploymentTest, LateAgentReceivesTheDeployment) {
  auto dep = deployments_->Create(
      alice_, {.certificate_id = cert_, .selector = {{"env", "dev"}}, .profile = "nginx"});
  ASSERT_TRUE(dep.ok());
  Drain();
  EXPECT_EQ(View(dep->id).deployment.state, model::DeploymentState::kNoTargets);
  model::Agent late = Enroll("acc_a", {{"env", "dev"}});
  EXPECT_EQ(View(dep->id).deployment.state, model::DeploymentState::kRunning);
  Drain();  // the late agent started the export
  ActAsAgent(late, model::TargetState::kVerified);
  EXPECT_EQ(View(dep->id).deployment.state, model::DeploymentState::kSucceeded);
}

TEST_F(DeploymentTest, CrossAccountNeedsAGrant) {
  Enroll("acc_b", {{"env", "dev"}});
  NewDeployment spec{.certificate_id = cert_,
                     .target_account_id = "acc_b",
                     .selector = {{"env", "dev"}},
                     .profile = "nginx"};
  auto refused = deployments_->Create(alice_, spec);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(refused.error().message().find("grant.missing"), std::string::npos);
  {
    auto tx = env_.store->Begin();
    model::Grant g{.id = "grt_1",
                   .from_account_id = "acc_a",
                   .to_account_id = "acc_b",
                   .created_by = "prn_b",
                   .created_at = env_.clock.Now()};
    ASSERT_TRUE((*tx)->grants().Insert(g).ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  auto dep = deployments_->Create(alice_, spec);
  ASSERT_TRUE(dep.ok()) << dep.error().ToString();
  Drain();
  DeploymentView v = View(dep->id);
  ASSERT_EQ(v.targets.size(), 1u);
  // The passphrase lives in the target account.
  auto tx = env_.store->Begin();
  EXPECT_EQ((*tx)->secrets().Get(v.deployment.secret_id)->account_id, "acc_b");
}

TEST_F(DeploymentTest, FailuresAndDeadlineFailTheDeployment) {
  model::Agent a = Enroll("acc_a", {{"env", "dev"}});
  model::Agent silent = Enroll("acc_a", {{"env", "dev"}});
  auto dep = deployments_->Create(alice_, {.certificate_id = cert_,
                                           .selector = {{"env", "dev"}},
                                           .profile = "nginx",
                                           .deadline = std::chrono::minutes(5)});
  ASSERT_TRUE(dep.ok());
  Drain();
  ActAsAgent(a, model::TargetState::kRolledBack);
  EXPECT_EQ(View(dep->id).deployment.state, model::DeploymentState::kRunning);
  env_.clock.Advance(std::chrono::minutes(6));
  Drain();
  DeploymentView v = View(dep->id);
  EXPECT_EQ(v.deployment.state, model::DeploymentState::kFailed);
  for (const TargetView& t : v.targets) {
    if (t.target.agent_id == silent.id) {
      EXPECT_EQ(t.target.state, model::TargetState::kFailed);
      EXPECT_NE(t.target.reason.find("deadline"), std::string::npos);
    } else {
      EXPECT_EQ(t.target.state, model::TargetState::kRolledBack);
      EXPECT_EQ(t.target.reason, "nginx -t");
    }
  }
  auto types = EventTypes();
  EXPECT_EQ(Count(types, "deployment.target_failed"), 2);  // the rollback, then the deadline
  EXPECT_EQ(Count(types, "deployment.failed"), 1);
}

TEST_F(DeploymentTest, StaleReportsAndForeignTargetsAreRefused) {
  model::Agent a = Enroll("acc_a", {{"env", "dev"}});
  model::Agent other = Enroll("acc_a", {{"env", "prod"}});
  auto dep = deployments_->Create(
      alice_, {.certificate_id = cert_, .selector = {{"env", "dev"}}, .profile = "nginx"});
  ASSERT_TRUE(dep.ok());
  Drain();
  auto jobs = deployments_->PendingJobs(a);
  ASSERT_EQ(jobs->size(), 1u);
  const AgentJob& job = jobs->front();
  auto stale = deployments_->Report(
      a, job.target.id, {.seq = job.target.seq - 1, .state = model::TargetState::kVerified});
  EXPECT_EQ(stale.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(deployments_->Bundle(other, job.target.id).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(deployments_
                ->Report(other, job.target.id,
                         {.seq = job.target.seq, .state = model::TargetState::kVerified})
                .error()
                .code(),
            ErrorCode::kNotFound);
  auto bad_path = deployments_->Report(
      a, job.target.id,
      {.seq = job.target.seq, .state = model::TargetState::kVerified, .paths = {"relative/path"}});
  EXPECT_EQ(bad_path.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(DeploymentTest, RedeployIsANewGenerationWithANewPassphrase) {
  model::Agent a = Enroll("acc_a", {{"env", "dev"}});
  auto dep = deployments_->Create(
      alice_, {.certificate_id = cert_, .selector = {{"env", "dev"}}, .profile = "nginx"});
  ASSERT_TRUE(dep.ok());
  Drain();
  auto first = deployments_->PendingJobs(a);
  const int64_t first_seq = first->front().target.seq;
  ActAsAgent(a, model::TargetState::kVerified);
  auto again = deployments_->Redeploy(alice_, dep->id);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  Drain();
  DeploymentView v = View(dep->id);
  EXPECT_EQ(v.deployment.generation, 2);
  EXPECT_EQ(v.deployment.secret_version, 2);
  ASSERT_EQ(v.targets.size(), 1u);
  EXPECT_GT(v.targets[0].target.seq, first_seq);
  EXPECT_EQ(v.targets[0].target.state, model::TargetState::kPending);
  // A report for the first generation's sequence number is stale now.
  EXPECT_EQ(deployments_
                ->Report(a, v.targets[0].target.id,
                         {.seq = first_seq, .state = model::TargetState::kVerified})
                .error()
                .code(),
            ErrorCode::kConflict);
  ActAsAgent(a, model::TargetState::kVerified);
  EXPECT_EQ(View(dep->id).deployment.state, model::DeploymentState::kSucceeded);
}

TEST_F(DeploymentTest, NotExportableCertificatesCannotBeDeployed) {
  auto view = certs_->Request(alice_, {.name = "locked", .domains = {"locked.example.test"}});
  ASSERT_TRUE(view.ok());
  auto dep = deployments_->Create(
      alice_,
      {.certificate_id = view->certificate.id, .selector = {{"env", "dev"}}, .profile = "nginx"});
  EXPECT_EQ(dep.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(
      deployments_->Create(alice_, {.certificate_id = cert_, .selector = {}, .profile = "nginx"})
          .error()
          .code(),
      ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      deployments_
          ->Create(alice_,
                   {.certificate_id = cert_, .selector = {{"env", "dev"}}, .profile = "../etc"})
          .error()
          .code(),
      ErrorCode::kInvalidArgument);
}

TEST_F(DeploymentTest, EnrollmentTokensAreSingleUse) {
  Caller admin{.principal_id = "prn_admin", .account_id = "acc_a", .role = model::Role::kAdmin};
  auto token = agents_->CreateEnrollmentToken(admin, "acc_a", {{"env", "dev"}}, std::nullopt);
  ASSERT_TRUE(token.ok());
  const std::string t(token->token.view());
  auto first = agents_->Enroll({t, Csr(), "one"});
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_EQ(first->agent.tags, (model::Tags{{"env", "dev"}}));
  auto leaf = x509::Certificate::FromPem(first->certificate_pem);
  ASSERT_TRUE(leaf.ok());
  auto who = agents_->Authenticate(leaf->der());
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->id, first->agent.id);
  auto second = agents_->Enroll({t, Csr(), "two"});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(Count(EventTypes(), "agent.enrollment_token_reused"), 1);
  // Expired and unknown tokens, bad CSRs.
  auto old =
      agents_->CreateEnrollmentToken(admin, "acc_a", {{"env", "dev"}}, std::chrono::minutes(1));
  env_.clock.Advance(std::chrono::minutes(2));
  EXPECT_EQ(agents_->Enroll({std::string(old->token.view()), Csr(), "x"}).error().code(),
            ErrorCode::kUnauthorized);
  EXPECT_EQ(agents_->Enroll({"cfe_" + std::string(43, 'A'), Csr(), "x"}).error().code(),
            ErrorCode::kUnauthorized);
  auto fresh = agents_->CreateEnrollmentToken(admin, "acc_a", {{"env", "dev"}}, std::nullopt);
  EXPECT_FALSE(agents_->Enroll({std::string(fresh->token.view()), "not a csr", "x"}).ok());
  EXPECT_FALSE(agents_->Enroll({std::string(fresh->token.view()), Csr(), "$(id)"}).ok());
  EXPECT_FALSE(agents_->CreateEnrollmentToken(admin, "acc_a", {}, std::nullopt).ok());  // no tags
}

TEST_F(DeploymentTest, RenewalKeepsThePreviousCertificateValid) {
  Caller admin{.principal_id = "prn_admin", .account_id = "acc_a", .role = model::Role::kAdmin};
  auto token = agents_->CreateEnrollmentToken(admin, "acc_a", {{"env", "dev"}}, std::nullopt);
  auto creds = agents_->Enroll({std::string(token->token.view()), Csr(), "h"});
  ASSERT_TRUE(creds.ok());
  // Agent certificates renew in the last third of their lifetime (issue #13).
  env_.clock.Advance(std::chrono::days(21));
  auto renewed = agents_->Renew(creds->agent, Csr());
  ASSERT_TRUE(renewed.ok()) << renewed.error().ToString();
  auto old_leaf = x509::Certificate::FromPem(creds->certificate_pem);
  auto new_leaf = x509::Certificate::FromPem(renewed->certificate_pem);
  EXPECT_NE(old_leaf->serial_hex(), new_leaf->serial_hex());
  EXPECT_TRUE(agents_->Authenticate(old_leaf->der()).ok());
  EXPECT_TRUE(agents_->Authenticate(new_leaf->der()).ok());
  EXPECT_EQ(agents_->Authenticate(std::nullopt).error().code(), ErrorCode::kUnauthorized);
}

}  // namespace
}  // namespace certfleet::lifecycle
