// Revocation (issue #13) through the real services, job engine and CA on a SQLite store and a
// fake clock: revoked agents, enrollment tokens, principals and API tokens; agent certificates
// that renew only in their last third and all stay valid while the agent is active; lost
// enrollment responses; revoked grants. test/e2e/test_revocation.py runs the same with real
// binaries.
#include <gtest/gtest.h>

#include <algorithm>

#include "crypto/key.h"
#include "fakes/pki_env.h"
#include "jobs/engine.h"
#include "lifecycle/agent_service.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/deployment_service.h"
#include "lifecycle/governance_service.h"
#include "lifecycle/issuers/internal_issuer.h"
#include "x509/certificate.h"
#include "x509/csr.h"

namespace certfleet::lifecycle {
namespace {

class RecordingNotifier : public AgentNotifier {
 public:
  void Notify(const std::string& agent_id) override { notified.push_back(agent_id); }
  std::vector<std::string> notified;
};

struct Enrolled {
  model::Agent agent;
  std::string cert_der;
};

class RevocationTest : public ::testing::Test {
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
    governance_ =
        std::make_unique<GovernanceService>(*env_.store, env_.clock, SystemRandomSource());
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)->accounts().Insert({"acc_sys", "default", env_.clock.Now()}).ok());
    for (const char* id : {"acc_a", "acc_b"}) {
      ASSERT_TRUE((*tx)->accounts().Insert({id, id, env_.clock.Now()}).ok());
    }
    ASSERT_TRUE((*tx)->Commit().ok());
    for (const char* id : {"acc_a", "acc_b"}) env_.ClaimDomain(id, "example.test");
    auto view = certs_->Request(alice_, {.name = "web",
                                         .domains = {"web.example.test"},
                                         .exportable = true,
                                         .tags = {{"env", "dev"}}});
    ASSERT_TRUE(view.ok()) << view.error().ToString();
    cert_ = view->certificate.id;
  }

  std::string Token(const std::string& account) {
    Caller admin{.principal_id = "prn_admin", .account_id = account, .role = model::Role::kAdmin};
    auto token = agents_->CreateEnrollmentToken(admin, account, {{"env", "dev"}}, std::nullopt);
    EXPECT_TRUE(token.ok()) << token.error().ToString();
    return std::string(token->token.view());
  }

  Enrolled Enroll(const std::string& account) {
    auto creds = agents_->Enroll({Token(account), Csr(), "host"});
    EXPECT_TRUE(creds.ok()) << creds.error().ToString();
    return {creds->agent, Der(creds->certificate_pem)};
  }

  static std::string Der(const std::string& pem) {
    auto c = x509::Certificate::FromPem(pem);
    EXPECT_TRUE(c.ok());
    return c->der();
  }

  static std::string Csr(const crypto::PrivateKey* key = nullptr) {
    std::optional<crypto::PrivateKey> fresh;
    if (key == nullptr) {
      fresh = *crypto::PrivateKey::Generate(crypto::KeyType::kP256);
      key = &*fresh;
    }
    return x509::Csr::Build(*key, "", {"ignored.example.test"})->ToPem();
  }

  void Drain() {
    for (int i = 0; i < 20; ++i) {
      auto n = engine_->RunOnce();
      ASSERT_TRUE(n.ok()) << n.error().ToString();
      if (*n == 0) return;
    }
  }

  int CountEvents(const std::string& type) {
    auto tx = env_.store->Begin();
    auto events = (*tx)->events().ListAfter(0, 1000);
    return static_cast<int>(std::count_if(events->begin(), events->end(),
                                          [&](const model::Event& e) { return e.type == type; }));
  }

  DeploymentView View(const std::string& id) {
    auto v = deployments_->Get(alice_, id);
    EXPECT_TRUE(v.ok()) << v.error().ToString();
    return *v;
  }

  std::optional<model::DeploymentTarget> TargetOf(const std::string& dep,
                                                  const std::string& agent) {
    for (const TargetView& t : View(dep).targets) {
      if (t.target.agent_id == agent) return t.target;
    }
    return std::nullopt;
  }

  void Report(const model::Agent& agent, model::TargetState state) {
    auto jobs = deployments_->PendingJobs(agent);
    ASSERT_TRUE(jobs.ok());
    ASSERT_FALSE(jobs->empty());
    for (const AgentJob& job : *jobs) {
      ASSERT_TRUE(
          deployments_->Report(agent, job.target.id, {.seq = job.target.seq, .state = state}).ok());
    }
  }

  testing::PkiEnv env_;
  IssuerRegistry issuers_;
  RecordingNotifier notifier_;
  std::unique_ptr<CertificateService> certs_;
  std::unique_ptr<jobs::JobEngine> engine_;
  std::unique_ptr<DeploymentService> deployments_;
  std::unique_ptr<AgentService> agents_;
  std::unique_ptr<GovernanceService> governance_;
  Caller alice_{.principal_id = "prn_alice", .account_id = "acc_a"};
  Caller admin_a_{.principal_id = "prn_admin", .account_id = "acc_a", .role = model::Role::kAdmin};
  std::string cert_;
};

TEST_F(RevocationTest, RevokedAgentIsRefusedAndItsPendingTargetsAreCancelled) {
  Enrolled a = Enroll("acc_a");
  Enrolled b = Enroll("acc_a");
  auto dep = deployments_->Create(
      alice_, {.certificate_id = cert_, .selector = {{"env", "dev"}}, .profile = "nginx"});
  ASSERT_TRUE(dep.ok()) << dep.error().ToString();
  Drain();
  ASSERT_EQ(View(dep->id).targets.size(), 2u);
  const int secret_version = View(dep->id).deployment.secret_version;

  // Another account's admin cannot see it.
  EXPECT_EQ(agents_->Revoke(alice_, "acc_b", b.agent.id).error().code(), ErrorCode::kNotFound);
  notifier_.notified.clear();
  auto revoked = agents_->Revoke(admin_a_, "acc_a", b.agent.id);
  ASSERT_TRUE(revoked.ok()) << revoked.error().ToString();
  EXPECT_EQ(revoked->status, model::AgentStatus::kRevoked);
  EXPECT_EQ(CountEvents("agent.revoked"), 1);
  // The long-poll hub is told, so a parked poll is answered at once.
  EXPECT_EQ(notifier_.notified, std::vector<std::string>{b.agent.id});
  // Its certificate is refused, its principal disabled, its pending target cancelled.
  auto who = agents_->Authenticate(b.cert_der);
  ASSERT_FALSE(who.ok());
  EXPECT_EQ(who.error().code(), ErrorCode::kUnauthorized);
  EXPECT_FALSE(*agents_->IsActive(b.agent.id));
  EXPECT_TRUE(governance_->GetPrincipal(b.agent.principal_id)->disabled);
  auto cancelled = TargetOf(dep->id, b.agent.id);
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->state, model::TargetState::kCancelled);
  EXPECT_EQ(deployments_->Bundle(b.agent, cancelled->id).error().code(), ErrorCode::kConflict);
  // The deployment finishes on the remaining agent alone.
  Report(a.agent, model::TargetState::kVerified);
  DeploymentView v = View(dep->id);
  EXPECT_EQ(v.deployment.state, model::DeploymentState::kSucceeded) << v.deployment.state_detail;
  EXPECT_NE(v.deployment.state_detail.find("1 cancelled"), std::string::npos);
  // Revoking again changes nothing; a revoked agent gets nothing from a redeploy, and the
  // redeploy replaces the passphrase it could read with a new secret version.
  ASSERT_TRUE(agents_->Revoke(admin_a_, "acc_a", b.agent.id).ok());
  EXPECT_EQ(CountEvents("agent.revoked"), 1);
  ASSERT_TRUE(deployments_->Redeploy(alice_, dep->id).ok());
  Drain();
  v = View(dep->id);
  EXPECT_EQ(v.deployment.secret_version, secret_version + 1);
  EXPECT_EQ(TargetOf(dep->id, b.agent.id)->state, model::TargetState::kCancelled);
  EXPECT_EQ(TargetOf(dep->id, a.agent.id)->state, model::TargetState::kPending);
  EXPECT_TRUE(deployments_->PendingJobs(b.agent)->empty());
}

TEST_F(RevocationTest, DeploymentOfOnlyRevokedAgentsEndsWithoutWaiting) {
  Enrolled b = Enroll("acc_a");
  auto dep = deployments_->Create(
      alice_, {.certificate_id = cert_, .selector = {{"env", "dev"}}, .profile = "nginx"});
  ASSERT_TRUE(dep.ok());
  Drain();
  ASSERT_TRUE(agents_->Revoke(admin_a_, "acc_a", b.agent.id).ok());
  DeploymentView v = View(dep->id);
  EXPECT_EQ(v.deployment.state, model::DeploymentState::kFailed);
  EXPECT_NE(v.deployment.state_detail.find("cancelled"), std::string::npos);
}

TEST_F(RevocationTest, RenewsOnlyInTheLastThirdAndEveryIssuedCertificateStaysValid) {
  Enrolled a = Enroll("acc_a");
  // Fresh certificate (30 days): renewal is refused with a reason until 10 days remain.
  auto early = agents_->Renew(a.agent, Csr(), a.cert_der);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code(), ErrorCode::kConflict);
  EXPECT_NE(early.error().message().find("agent.renew_early"), std::string::npos);
  env_.clock.Advance(std::chrono::days(19));
  EXPECT_EQ(agents_->Renew(a.agent, Csr(), a.cert_der).error().code(), ErrorCode::kConflict);
  env_.clock.Advance(std::chrono::days(2));
  // Two renewals whose responses are lost: the agent keeps its original certificate.
  auto lost1 = agents_->Renew(a.agent, Csr(), a.cert_der);
  ASSERT_TRUE(lost1.ok()) << lost1.error().ToString();
  auto lost2 = agents_->Renew(a.agent, Csr(), a.cert_der);
  ASSERT_TRUE(lost2.ok()) << lost2.error().ToString();
  // The original is neither the current nor the previous serial now, and still authenticates.
  auto who = agents_->Authenticate(a.cert_der);
  ASSERT_TRUE(who.ok()) << who.error().ToString();
  EXPECT_EQ(who->id, a.agent.id);
  EXPECT_TRUE(agents_->Authenticate(Der(lost1->certificate_pem)).ok());
  EXPECT_TRUE(agents_->Authenticate(Der(lost2->certificate_pem)).ok());
  // A certificate past its end does not.
  env_.clock.Advance(std::chrono::days(10));
  EXPECT_EQ(agents_->Authenticate(a.cert_der).error().code(), ErrorCode::kUnauthorized);
  EXPECT_TRUE(agents_->Authenticate(Der(lost2->certificate_pem)).ok());
  // Revoking the agent refuses every one of them.
  ASSERT_TRUE(agents_->Revoke(admin_a_, "acc_a", a.agent.id).ok());
  EXPECT_FALSE(agents_->Authenticate(Der(lost1->certificate_pem)).ok());
  EXPECT_FALSE(agents_->Authenticate(Der(lost2->certificate_pem)).ok());
}

TEST_F(RevocationTest, LostEnrollmentResponseCanBeRetriedBySameKeyOnly) {
  const std::string token = Token("acc_a");
  auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  ASSERT_TRUE(key.ok());
  auto first = agents_->Enroll({token, Csr(&*key), "h"});
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  // The response was lost: the same key retries and gets the same agent, with no alert.
  env_.clock.Advance(std::chrono::minutes(3));
  auto retry = agents_->Enroll({token, Csr(&*key), "h"});
  ASSERT_TRUE(retry.ok()) << retry.error().ToString();
  EXPECT_EQ(retry->agent.id, first->agent.id);
  EXPECT_EQ(CountEvents("agent.enrollment_token_reused"), 0);
  EXPECT_EQ(CountEvents("agent.enrolled"), 1);
  EXPECT_EQ(agents_->Authenticate(Der(retry->certificate_pem))->id, first->agent.id);
  EXPECT_EQ(agents_->Authenticate(Der(first->certificate_pem))->id, first->agent.id);
  // Another key is a reuse: Conflict and the alert.
  auto other = agents_->Enroll({token, Csr(), "h"});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(CountEvents("agent.enrollment_token_reused"), 1);
  // After the retry window, the same key is a reuse too.
  env_.clock.Advance(std::chrono::minutes(8));
  EXPECT_EQ(agents_->Enroll({token, Csr(&*key), "h"}).error().code(), ErrorCode::kConflict);
  EXPECT_EQ(CountEvents("agent.enrollment_token_reused"), 2);
}

TEST_F(RevocationTest, RevokedAgentCannotComeBackThroughItsToken) {
  const std::string token = Token("acc_a");
  auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  auto first = agents_->Enroll({token, Csr(&*key), "h"});
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(agents_->Revoke(admin_a_, "acc_a", first->agent.id).ok());
  EXPECT_EQ(agents_->Enroll({token, Csr(&*key), "h"}).error().code(), ErrorCode::kConflict);
}

TEST_F(RevocationTest, RevokedEnrollmentTokenCannotEnroll) {
  Caller admin{.principal_id = "prn_admin", .account_id = "acc_a", .role = model::Role::kAdmin};
  auto token = agents_->CreateEnrollmentToken(admin, "acc_a", {{"env", "dev"}}, std::nullopt);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(agents_->RevokeEnrollmentToken("acc_b", token->record.id).error().code(),
            ErrorCode::kNotFound);
  auto revoked = agents_->RevokeEnrollmentToken("acc_a", token->record.id);
  ASSERT_TRUE(revoked.ok()) << revoked.error().ToString();
  EXPECT_TRUE(revoked->revoked_at.has_value());
  auto refused = agents_->Enroll({std::string(token->token.view()), Csr(), "h"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnauthorized);
  EXPECT_TRUE(agents_->List("acc_a")->empty());
}

TEST_F(RevocationTest, RevokedGrantStopsAssigningThatAccountsAgents) {
  Enrolled b1 = Enroll("acc_b");
  auto grant = governance_->CreateGrant(
      {.principal_id = "prn_badmin", .account_id = "acc_b", .role = model::Role::kAdmin}, "acc_a",
      "acc_b");
  ASSERT_TRUE(grant.ok());
  auto dep = deployments_->Create(alice_, {.certificate_id = cert_,
                                           .target_account_id = "acc_b",
                                           .selector = {{"env", "dev"}},
                                           .profile = "nginx"});
  ASSERT_TRUE(dep.ok()) << dep.error().ToString();
  Drain();
  ASSERT_EQ(TargetOf(dep->id, b1.agent.id)->state, model::TargetState::kPending);
  // Revoked before the agent fetched it: the target is cancelled, the deployment ends.
  auto revoked = governance_->RevokeGrant(grant->id);
  ASSERT_TRUE(revoked.ok());
  ASSERT_TRUE(deployments_->OnGrantRevoked(*revoked).ok());
  EXPECT_EQ(TargetOf(dep->id, b1.agent.id)->state, model::TargetState::kCancelled);
  EXPECT_TRUE(deployments_->PendingJobs(b1.agent)->empty());
  EXPECT_NE(View(dep->id).deployment.state, model::DeploymentState::kRunning);
  // An agent of that account enrolling later matches the selector and gets nothing.
  Enrolled b2 = Enroll("acc_b");
  EXPECT_FALSE(TargetOf(dep->id, b2.agent.id).has_value());
  EXPECT_TRUE(deployments_->PendingJobs(b2.agent)->empty());
  Drain();
  EXPECT_FALSE(TargetOf(dep->id, b2.agent.id).has_value());
  // A redeploy is refused without a grant.
  auto again = deployments_->Redeploy(alice_, dep->id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kForbidden);
}

TEST_F(RevocationTest, PrincipalsAreDisabledByOthersAndTheLastSystemAdminStays) {
  auto root = governance_->CreatePrincipal(
      {.account_id = "acc_sys", .name = "admin", .role = model::Role::kAdmin});
  ASSERT_TRUE(root.ok());
  auto ops = governance_->CreatePrincipal(
      {.account_id = "acc_a", .name = "ops", .role = model::Role::kOperator});
  ASSERT_TRUE(ops.ok());
  Caller root_caller{.principal_id = root->id,
                     .account_id = "acc_sys",
                     .role = model::Role::kAdmin,
                     .system_admin = true};
  // Not oneself.
  auto self = governance_->SetPrincipalDisabled(root_caller, root->id, true);
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(self.error().message().find("principal.self_disable"), std::string::npos);
  // The last active admin of the system account stays, whoever asks.
  auto last = governance_->SetPrincipalDisabled(admin_a_, root->id, true);
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.error().code(), ErrorCode::kConflict);
  auto second = governance_->CreatePrincipal(
      {.account_id = "acc_sys", .name = "admin2", .role = model::Role::kAdmin});
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(governance_->SetPrincipalDisabled(root_caller, second->id, true).ok());
  EXPECT_EQ(governance_->SetPrincipalDisabled(admin_a_, root->id, true).error().code(),
            ErrorCode::kConflict);
  // Others can be disabled and enabled.
  auto off = governance_->SetPrincipalDisabled(root_caller, ops->id, true);
  ASSERT_TRUE(off.ok());
  EXPECT_TRUE(off->disabled);
  auto on = governance_->SetPrincipalDisabled(root_caller, ops->id, false);
  ASSERT_TRUE(on.ok());
  EXPECT_FALSE(on->disabled);
}

TEST_F(RevocationTest, TokensAreListedByAccountAndRevoked) {
  auto ops = governance_->CreatePrincipal(
      {.account_id = "acc_a", .name = "ops", .role = model::Role::kOperator});
  auto other = governance_->CreatePrincipal(
      {.account_id = "acc_b", .name = "ops", .role = model::Role::kOperator});
  auto t1 = governance_->CreateToken(*ops, std::nullopt);
  auto t2 = governance_->CreateToken(*ops, std::nullopt);
  auto t3 = governance_->CreateToken(*other, std::nullopt);
  ASSERT_TRUE(t1.ok() && t2.ok() && t3.ok());
  auto list = governance_->ListTokens("acc_a", std::nullopt);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(governance_->ListTokens("acc_b", ops->id)->size(), 0u);
  auto revoked = governance_->RevokeToken(t1->record.id);
  ASSERT_TRUE(revoked.ok());
  EXPECT_TRUE(revoked->revoked);
  EXPECT_FALSE(governance_->GetToken(t2->record.id)->revoked);
  EXPECT_EQ(governance_->GetToken("tok_nope").error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace certfleet::lifecycle
