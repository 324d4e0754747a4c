// The agent runtime against an in-process fake of the server side of docs/agents.md: enrollment,
// the job loop (install, refusals, re-reports, rollback), certificate renewal and stopping.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "agent/agent_runtime.h"
#include "agent/test_agent_server.h"
#include "agent/test_bundles.h"
#include "base/time_util.h"

namespace certfleet::agent {
namespace {

using namespace testing;  // NOLINT
using nlohmann::json;
using x509::testing::TempDir;
namespace fs = std::filesystem;

constexpr char kPassphrase[] = "correct-horse-battery-staple-42";

struct RuntimeFixture : public ::testing::Test {
  Pki pki;
  FakeAgentServer server{pki};
  TempDir t;
  const std::string root = t.path() + "/root";
  const std::string state_dir = t.path() + "/state";
  const std::string token_file = t.path() + "/token";
  FakeClock clock{T0() + std::chrono::hours(24)};
  std::string profiles;
  InstallerOptions installer;

  RuntimeFixture() {
    fs::create_directories(root + "/web");
    profiles =
        "[profiles.web]\ninstaller = \"files\"\ncert_dir = \"" + root + "/web\"\nname = \"app\"\n";
    t.Write("token", server.token + "\n");
  }

  std::unique_ptr<AgentRuntime> Make(bool with_token = true) {
    auto cfg = ConfigWith(root, profiles);
    CF_CHECK(cfg.ok());
    RuntimeOptions o;
    o.server_url = server.url();
    o.ca_pem = server.ca_pem();
    o.state_dir = state_dir;
    o.config = std::move(*cfg);
    if (with_token) o.enroll_token_file = token_file;
    o.hostname = "web-1";
    o.poll_wait = std::chrono::seconds(0);
    o.backoff.base = std::chrono::milliseconds(10);
    o.backoff.max = std::chrono::milliseconds(50);
    o.min_idle_poll_interval = std::chrono::milliseconds(20);
    o.installer = installer;
    auto r = AgentRuntime::Create(std::move(o), clock, SystemRandomSource());
    CF_CHECK(r.ok());
    return std::move(r).value();
  }

  std::unique_ptr<AgentRuntime> Started() {
    auto rt = Make();
    Status st = rt->Start();
    EXPECT_TRUE(st.ok()) << st.error().ToString();
    return rt;
  }

  // A job for `leaf` and its bundle (key encrypted under the deployment's passphrase secret).
  void Queue(int64_t seq, int64_t version, const Leaf& leaf, const std::string& profile = "web",
             const std::string& deployment = "dep_01WEB", const std::string& id = "dtg_01WEB",
             const crypto::PrivateKey* key_override = nullptr) {
    json job = {{"id", id},
                {"deployment_id", deployment},
                {"seq", seq},
                {"generation", 1},
                {"certificate_id", "crt_01WEB"},
                {"certificate_name", "web"},
                {"version_id", "crv_01WEB" + std::to_string(version)},
                {"version", version},
                {"serial", leaf.cert.serial_hex()},
                {"not_after", FormatRfc3339(leaf.cert.not_after())},
                {"profile", profile},
                {"secret_id", "sec_01WEB"},
                {"secret_version", 1}};
    const crypto::PrivateKey& key = key_override ? *key_override : *leaf.key;
    auto enc =
        key.ToEncryptedPkcs8Pem(SecretBytes::FromView(kPassphrase), {.pbkdf2_iterations = 10000});
    CF_CHECK(enc.ok());
    json bundle = {{"seq", seq},
                   {"certificate", leaf.cert.ToPem()},
                   {"chain", pki.inter.cert.ToPem()},
                   {"private_key", *enc}};
    server.AddJob(job, bundle);
    server.SetSecret("sec_01WEB", 200, kPassphrase);
  }

  std::string Live(const std::string& name) const { return ReadAll(root + "/web/" + name); }
};

TEST_F(RuntimeFixture, EnrollPollBundleSecretInstallReport) {
  ::testing::internal::CaptureStderr();
  auto rt = Started();
  Leaf leaf = MakeLeaf(pki, 11);
  Queue(1, 1, leaf);
  Result<bool> progress = rt->RunOnce();
  const std::string logs = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(progress.ok()) << progress.error().ToString();
  EXPECT_TRUE(*progress);

  // Identity: private dir, key 0600, certificate issued for that key.
  EXPECT_EQ(ModeOf(state_dir), 0700u);
  EXPECT_EQ(ModeOf(state_dir + "/agent.key"), 0600u);
  EXPECT_EQ(ModeOf(state_dir + "/state.json"), 0600u);
  auto client_cert = x509::Certificate::FromPem(ReadAll(state_dir + "/agent.crt"));
  ASSERT_TRUE(client_cert.ok());
  auto client_key =
      crypto::PrivateKey::FromPem(SecretBytes::FromString(ReadAll(state_dir + "/agent.key")));
  ASSERT_TRUE(client_key.ok());
  EXPECT_TRUE(client_cert->MatchesKey(*client_key));
  EXPECT_EQ(server.last_client_serial(), client_cert->serial_hex());
  EXPECT_EQ(rt->agent_id(), server.agent_id);

  // The files, with the key decrypted by the passphrase and written 0600.
  EXPECT_EQ(Live("app-fullchain.pem"), leaf.cert.ToPem() + pki.inter.cert.ToPem());
  EXPECT_EQ(Live("app-chain.pem"), pki.inter.cert.ToPem());
  EXPECT_EQ(Live("app-privkey.pem"), leaf.key->ToPkcs8Pem().view());
  EXPECT_EQ(ModeOf(root + "/web/app-privkey.pem"), 0600u);

  // The report the server received.
  auto reports = server.reports();
  ASSERT_EQ(reports.size(), 1u);
  const json& r = reports[0];
  EXPECT_EQ(r["job_id"], "dtg_01WEB");
  EXPECT_EQ(r["seq"], 1);
  EXPECT_EQ(r["state"], "installed");  // the profile has no verify_address
  EXPECT_EQ(r["reason"], "");
  EXPECT_EQ(r["serial"], leaf.cert.serial_hex());
  EXPECT_EQ(r["paths"], json::array({root + "/web/app-fullchain.pem", root + "/web/app-chain.pem",
                                     root + "/web/app-privkey.pem"}));
  EXPECT_EQ(server.pending(), 0u);
  EXPECT_EQ(rt->state().last_seq, 1);
  EXPECT_EQ(rt->state().installed.at("dep_01WEB"), 1);
  auto persisted = StateFromJson(ReadAll(state_dir + "/state.json"));
  ASSERT_TRUE(persisted.ok());
  EXPECT_EQ(persisted->last_seq, 1);
  EXPECT_EQ(persisted->agent_id, server.agent_id);

  // Logs name the agent, job and deployment, and never the token, passphrase or keys.
  EXPECT_NE(logs.find("\"agent_id\":\"" + server.agent_id + "\""), std::string::npos) << logs;
  EXPECT_NE(logs.find("\"job_id\":\"dtg_01WEB\""), std::string::npos);
  EXPECT_NE(logs.find("\"deployment_id\":\"dep_01WEB\""), std::string::npos);
  EXPECT_EQ(logs.find(server.token), std::string::npos);
  EXPECT_EQ(logs.find(kPassphrase), std::string::npos);
  EXPECT_EQ(logs.find("PRIVATE KEY"), std::string::npos);

  // A restart reuses the identity: no second enrollment.
  auto again = Make(/*with_token=*/false);
  ASSERT_TRUE(again->Start().ok());
  EXPECT_EQ(again->state().last_seq, 1);
  EXPECT_EQ(server.counts()["enroll"], 1);
}

TEST_F(RuntimeFixture, EnrollmentNeedsTheTokenFile) {
  auto rt = Make(/*with_token=*/false);
  Status st = rt->Start();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(Exists(state_dir + "/agent.key"));
  EXPECT_EQ(server.counts()["enroll"], 0);

  // A used token is refused (409) and reported without echoing it.
  auto first = Make();
  ASSERT_TRUE(first->Start().ok());
  fs::remove_all(state_dir);
  auto second = Make();
  Status reused = second->Start();
  ASSERT_FALSE(reused.ok());
  EXPECT_EQ(reused.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(reused.error().ToString().find(server.token), std::string::npos);
}

TEST_F(RuntimeFixture, RefusesReplayedSeq) {
  auto rt = Started();
  Leaf v1 = MakeLeaf(pki, 21);
  Queue(5, 1, v1);
  ASSERT_TRUE(rt->RunOnce().ok());
  ASSERT_EQ(rt->state().last_seq, 5);
  const std::string before = Live("app-fullchain.pem");

  Leaf old = MakeLeaf(pki, 22);
  Queue(3, 2, old, "web", "dep_01WEB", "dtg_02OTHER");
  Result<bool> r = rt->RunOnce();
  ASSERT_FALSE(r.ok());  // only replays: the loop backs off instead of spinning
  auto reports = server.reports();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1]["job_id"], "dtg_02OTHER");
  EXPECT_EQ(reports[1]["seq"], 3);
  EXPECT_EQ(reports[1]["state"], "failed");
  EXPECT_NE(reports[1]["reason"].get<std::string>().find("replayed job: seq 3"), std::string::npos);
  EXPECT_EQ(server.counts()["bundle"], 1);  // nothing fetched for the replay
  EXPECT_EQ(Live("app-fullchain.pem"), before);
  EXPECT_EQ(rt->state().last_seq, 5);
}

TEST_F(RuntimeFixture, RefusesOlderVersionOfADeployment) {
  auto rt = Started();
  Leaf v2 = MakeLeaf(pki, 31);
  Queue(1, 2, v2);
  ASSERT_TRUE(rt->RunOnce().ok());
  Leaf v1 = MakeLeaf(pki, 32);
  Queue(2, 1, v1);
  ASSERT_TRUE(rt->RunOnce().ok());
  auto reports = server.reports();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1]["seq"], 2);
  EXPECT_EQ(reports[1]["state"], "failed");
  EXPECT_EQ(reports[1]["reason"],
            "version 1 of deployment dep_01WEB is older than the installed version 2; refusing "
            "to downgrade");
  EXPECT_EQ(Live("app-fullchain.pem"), v2.cert.ToPem() + pki.inter.cert.ToPem());
  EXPECT_EQ(server.counts()["bundle"], 1);
  EXPECT_EQ(rt->state().last_seq, 2);
  EXPECT_EQ(rt->state().installed.at("dep_01WEB"), 2);

  // The same version again (a redeploy) and another deployment's lower version are fine.
  Leaf v2b = MakeLeaf(pki, 33);
  Queue(3, 2, v2b);
  Leaf other = MakeLeaf(pki, 34);
  Queue(4, 1, other, "web", "dep_02OTHER", "dtg_02OTHER");
  ASSERT_TRUE(rt->RunOnce().ok());
  reports = server.reports();
  ASSERT_EQ(reports.size(), 4u);
  EXPECT_EQ(reports[2]["state"], "installed");
  EXPECT_EQ(reports[3]["state"], "installed");
}

TEST_F(RuntimeFixture, SameSeqIsReReportedNotReinstalled) {
  auto rt = Started();
  Leaf v1 = MakeLeaf(pki, 41);
  Queue(1, 1, v1);
  server.SetLoseReports(true);
  Result<bool> lost = rt->RunOnce();
  ASSERT_FALSE(lost.ok());
  EXPECT_TRUE(IsRetryable(lost.error()));
  EXPECT_EQ(rt->state().last_seq, 1);  // persisted before reporting
  server.SetLoseReports(false);

  // The server sends the same assignment again: the stored result goes out, nothing is fetched
  // or installed again.
  fs::remove(root + "/web/app-chain.pem");
  ASSERT_TRUE(rt->RunOnce().ok());
  auto reports = server.reports();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0], reports[1]);
  EXPECT_EQ(reports[1]["state"], "installed");
  EXPECT_EQ(server.counts()["bundle"], 1);
  EXPECT_EQ(server.counts()["secret"], 1);
  EXPECT_FALSE(Exists(root + "/web/app-chain.pem"));
  EXPECT_EQ(server.pending(), 0u);

  // Also across a restart (the result lives in state.json).
  Leaf v2 = MakeLeaf(pki, 42);
  Queue(2, 2, v2);
  server.SetLoseReports(true);
  ASSERT_FALSE(rt->RunOnce().ok());
  server.SetLoseReports(false);
  rt.reset();
  auto restarted = Make(/*with_token=*/false);
  ASSERT_TRUE(restarted->Start().ok());
  ASSERT_TRUE(restarted->RunOnce().ok());
  reports = server.reports();
  ASSERT_EQ(reports.size(), 4u);
  EXPECT_EQ(reports[3], reports[2]);
  EXPECT_EQ(server.counts()["bundle"], 2);
}

// Both answers are 409: the runtime tells them apart by the problem type (net/problem.h). A
// conflict means the report was stale and is done with; a failed precondition is an error.
TEST_F(RuntimeFixture, AStaleReportIsDoneWithARefusedOneIsAnError) {
  auto rt = Started();
  Queue(1, 1, MakeLeaf(pki, 45));
  server.SetReportRefusal(ErrorCode::kFailedPrecondition);
  Result<bool> refused = rt->RunOnce();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message().find("report refused"), std::string::npos)
      << refused.error().message();

  server.SetReportRefusal(ErrorCode::kConflict);
  Result<bool> stale = rt->RunOnce();
  ASSERT_TRUE(stale.ok()) << stale.error().ToString();
  EXPECT_EQ(server.reports().size(), 2u);
}

TEST_F(RuntimeFixture, UnknownProfileRefusedPassphraseAndMismatchedKey) {
  auto rt = Started();
  Leaf v1 = MakeLeaf(pki, 51);
  Queue(1, 1, v1, "nope");
  ASSERT_TRUE(rt->RunOnce().ok());
  auto reports = server.reports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0]["state"], "failed");
  EXPECT_EQ(reports[0]["reason"], "unknown profile nope");

  Queue(2, 1, v1);
  server.SetSecret("sec_01WEB", 403, "");
  ASSERT_TRUE(rt->RunOnce().ok());
  reports = server.reports();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1]["state"], "failed");
  EXPECT_EQ(reports[1]["reason"], "passphrase refused");

  // A bundle whose key does not match its certificate is refused before anything is written.
  Leaf other = MakeLeaf(pki, 52);
  Queue(3, 1, v1, "web", "dep_01WEB", "dtg_01WEB", other.key.get());
  ASSERT_TRUE(rt->RunOnce().ok());
  reports = server.reports();
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[2]["state"], "failed");
  EXPECT_NE(reports[2]["reason"].get<std::string>().find("does not match"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(root + "/web"));
  EXPECT_TRUE(rt->state().installed.empty());
}

TEST_F(RuntimeFixture, VerifiedOrRolledBack) {
  profiles = "[profiles.web]\ninstaller = \"files\"\ncert_dir = \"" + root +
             "/web\"\nname = \"app\"\nverify_address = \"127.0.0.1:1\"\n";
  Leaf v1 = MakeLeaf(pki, 61);
  Leaf v2 = MakeLeaf(pki, 62);
  std::string served = v1.cert.serial_hex();
  installer.fetch_serial = [&](const std::string&, const std::string&) -> Result<std::string> {
    return served;
  };
  installer.verify_attempts = 3;
  installer.verify_interval = std::chrono::milliseconds(1);
  installer.verify_confirmations = 1;
  auto rt = Started();
  Queue(1, 1, v1);
  ASSERT_TRUE(rt->RunOnce().ok());
  Queue(2, 2, v2);  // the service keeps serving v1
  ASSERT_TRUE(rt->RunOnce().ok());
  auto reports = server.reports();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0]["state"], "verified");
  EXPECT_EQ(reports[1]["state"], "rolled_back");
  EXPECT_NE(reports[1]["reason"].get<std::string>().find("expected serial " + v2.cert.serial_hex()),
            std::string::npos);
  EXPECT_EQ(Live("app-fullchain.pem"), v1.cert.ToPem() + pki.inter.cert.ToPem());
  EXPECT_EQ(rt->state().installed.at("dep_01WEB"), 1);
}

TEST_F(RuntimeFixture, FailpointsFireBeforeReloadVerifyAndReport) {
  std::vector<std::string> steps;
  installer.failpoint = [&](std::string_view s) { steps.emplace_back(s); };
  auto rt = Started();
  Leaf v1 = MakeLeaf(pki, 71);
  Queue(1, 1, v1);
  ASSERT_TRUE(rt->RunOnce().ok());
  auto at = [&](const std::string& s) {
    return std::find(steps.begin(), steps.end(), s) - steps.begin();
  };
  ASSERT_LT(size_t(at("clear_pending")), steps.size());
  EXPECT_LT(at("clear_pending"), at("reload"));
  EXPECT_LT(at("reload"), at("verify"));
  EXPECT_LT(at("verify"), at("report"));
  EXPECT_EQ(steps.back(), "report");
}

TEST_F(RuntimeFixture, RenewsWhenAThirdOfTheLifetimeRemains) {
  clock.Set(std::chrono::system_clock::now());
  server.agent_clock = &clock;
  auto rt = Started();
  const std::string first = ReadAll(state_dir + "/agent.crt");
  const std::string first_key = ReadAll(state_dir + "/agent.key");
  ASSERT_TRUE(rt->renew_at().has_value());
  // Lifetime 30 days + 1 hour: renewal is due a third before the end, after about 20 days.
  clock.Advance(std::chrono::hours(24 * 19));
  ASSERT_TRUE(rt->RunOnce().ok());
  EXPECT_EQ(server.counts()["renew"], 0);
  clock.Advance(std::chrono::hours(24 * 2));
  ASSERT_TRUE(rt->RunOnce().ok());
  EXPECT_EQ(server.counts()["renew"], 1);
  const std::string second = ReadAll(state_dir + "/agent.crt");
  EXPECT_NE(second, first);
  EXPECT_NE(ReadAll(state_dir + "/agent.key"), first_key);
  EXPECT_EQ(ModeOf(state_dir + "/agent.key"), 0600u);
  EXPECT_FALSE(Exists(state_dir + "/agent.key.prev"));
  // The poll after the renewal already used the new certificate.
  EXPECT_EQ(server.last_client_serial(), x509::Certificate::FromPem(second)->serial_hex());
  ASSERT_TRUE(rt->RunOnce().ok());
  EXPECT_EQ(server.counts()["renew"], 1);
}

TEST_F(RuntimeFixture, StopsPromptlyWhenIdle) {
  auto rt = Make();
  Status result = Ok();
  std::thread worker([&] { result = rt->Run(); });
  // Let it enroll and poll a few times.
  for (int i = 0; i < 200 && server.counts()["poll"] < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(server.counts()["poll"], 3);
  const auto t0 = std::chrono::steady_clock::now();
  rt->RequestStop();
  rt->WaitUntilStoppable();
  worker.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_TRUE(result.ok()) << result.error().ToString();
}

}  // namespace
}  // namespace certfleet::agent
