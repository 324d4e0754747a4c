// The protocol client's strict parsing (against a scripted transport), the backoff bounds and
// the state directory.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <deque>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "agent/agent_client.h"
#include "agent/agent_state.h"
#include "agent/backoff.h"
#include "agent/test_bundles.h"
#include "net/problem.h"

namespace certfleet::agent {
namespace {

using namespace testing;  // NOLINT
using nlohmann::json;
using x509::testing::TempDir;

// ---------------------------------------------------------------- scripted transport

struct Sent {
  std::string method, url, body;
};

class ScriptedHttp final : public net::HttpsClient {
 public:
  explicit ScriptedHttp(std::deque<Result<net::HttpResponse>>* script, std::vector<Sent>* sent)
      : script_(script), sent_(sent) {}
  Result<net::HttpResponse> Do(const std::string& method, const std::string& url,
                               const std::map<std::string, std::string>&,
                               const std::string& body) override {
    sent_->push_back({method, url, body});
    if (script_->empty()) return Unavailable("script exhausted");
    Result<net::HttpResponse> r = std::move(script_->front());
    script_->pop_front();
    return r;
  }

 private:
  std::deque<Result<net::HttpResponse>>* script_;
  std::vector<Sent>* sent_;
};

struct ClientFixture {
  std::deque<Result<net::HttpResponse>> script;
  std::vector<Sent> sent;
  AgentClient client{"https://cf.test:8443", std::make_unique<ScriptedHttp>(&script, &sent),
                     std::make_unique<ScriptedHttp>(&script, &sent)};
  void Answer(int status, const std::string& body) {
    net::HttpResponse r;
    r.status = status;
    r.body = body;
    script.push_back(std::move(r));
  }
  void AnswerJson(int status, const json& body) { Answer(status, body.dump()); }
};

json GoodJob(int64_t seq) {
  return {{"id", "dtg_01"},
          {"deployment_id", "dep_01"},
          {"seq", seq},
          {"generation", 1},
          {"certificate_id", "crt_01"},
          {"certificate_name", "web"},
          {"version_id", "crv_01"},
          {"version", 2},
          {"serial", "4F1C"},
          {"not_after", "2026-12-01T00:00:00Z"},
          {"profile", "web"},
          {"secret_id", "sec_01"},
          {"secret_version", 1}};
}

TEST(AgentClientTest, PollParsesSortsAndValidatesJobs) {
  ClientFixture f;
  f.AnswerJson(200, json{{"jobs", {GoodJob(9), GoodJob(7)}},
                         {"cert_renew_after", "2026-12-01T00:00:00Z"},
                         {"future_field", 1}});
  auto r = f.client.Poll(std::chrono::seconds(25));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(r->jobs.size(), 2u);
  EXPECT_EQ(r->jobs[0].seq, 7);
  EXPECT_EQ(r->jobs[1].seq, 9);
  EXPECT_EQ(r->jobs[0].serial, "4f1c");
  EXPECT_EQ(r->jobs[0].profile, "web");
  EXPECT_TRUE(r->cert_renew_after.has_value());
  EXPECT_EQ(f.sent[0].method, "GET");
  EXPECT_EQ(f.sent[0].url, "https://cf.test:8443/v1/agent/jobs?wait=25");
  EXPECT_FALSE(f.client.Poll(std::chrono::seconds(61)).ok());
}

TEST(AgentClientTest, PollRefusesMalformedJobs) {
  struct Case {
    const char* what;
    std::function<void(json&)> mutate;
  };
  const Case cases[] = {
      {"seq zero", [](json& j) { j["seq"] = 0; }},
      {"seq negative", [](json& j) { j["seq"] = -3; }},
      {"seq float", [](json& j) { j["seq"] = 1.5; }},
      {"seq string", [](json& j) { j["seq"] = "7"; }},
      {"seq missing", [](json& j) { j.erase("seq"); }},
      {"id with slash", [](json& j) { j["id"] = "../../v1/admin"; }},
      {"id empty", [](json& j) { j["id"] = ""; }},
      {"id missing", [](json& j) { j.erase("id"); }},
      {"deployment missing", [](json& j) { j.erase("deployment_id"); }},
      {"profile with space", [](json& j) { j["profile"] = "web server"; }},
      {"profile too long", [](json& j) { j["profile"] = std::string(65, 'a'); }},
      {"version zero", [](json& j) { j["version"] = 0; }},
      {"secret id bad", [](json& j) { j["secret_id"] = "sec/1"; }},
      {"secret version missing", [](json& j) { j.erase("secret_version"); }},
      {"serial not hex", [](json& j) { j["serial"] = "zz"; }},
      {"bad time", [](json& j) { j["not_after"] = "tomorrow"; }},
  };
  for (const Case& c : cases) {
    ClientFixture f;
    json job = GoodJob(3);
    c.mutate(job);
    f.AnswerJson(200, json{{"jobs", {job}}});
    auto r = f.client.Poll(std::chrono::seconds(0));
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed) << c.what;
  }
  for (const char* body : {"", "[]", "{\"jobs\": {}}", "{}", "{\"jobs\": [1]}", "{not json"}) {
    ClientFixture f;
    f.Answer(200, std::string(body));
    auto r = f.client.Poll(std::chrono::seconds(0));
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed) << body;
  }
  ClientFixture dup;
  dup.AnswerJson(200, json{{"jobs", {GoodJob(4), GoodJob(4)}}});
  EXPECT_EQ(dup.client.Poll(std::chrono::seconds(0)).error().code(), ErrorCode::kMalformed);
}

constexpr char kChToken[] = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
constexpr char kChKeyAuthz[] =
    "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

json GoodChallenge(const std::string& action = "present") {
  return {{"token", kChToken},
          {"key_authorization", kChKeyAuthz},
          {"action", action},
          {"identifier", "Web.Example.test"}};
}

TEST(AgentClientTest, PollParsesChallenges) {
  {
    ClientFixture f;
    f.AnswerJson(200, json{{"jobs", {GoodJob(1)}},
                           {"challenges",
                            {GoodChallenge(), json{{"token", kChToken}, {"action", "remove"}}}}});
    auto r = f.client.Poll(std::chrono::seconds(0));
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    ASSERT_EQ(r->challenges.size(), 2u);
    EXPECT_EQ(r->challenges[0].token, kChToken);
    EXPECT_EQ(r->challenges[0].key_authorization, kChKeyAuthz);
    EXPECT_EQ(r->challenges[0].action, Http01Action::kPresent);
    EXPECT_EQ(r->challenges[0].identifier, "web.example.test");  // lower-cased
    EXPECT_EQ(r->challenges[1].identifier, "");                  // optional
    EXPECT_EQ(r->challenges[1].action, Http01Action::kRemove);
    EXPECT_EQ(r->challenges[1].key_authorization, "");
    EXPECT_EQ(r->jobs.size(), 1u);
  }
  for (const json& body :
       {json{{"jobs", json::array()}}, json{{"jobs", json::array()}, {"challenges", nullptr}},
        json{{"jobs", json::array()}, {"challenges", json::array()}}}) {
    ClientFixture f;
    f.AnswerJson(200, body);
    auto r = f.client.Poll(std::chrono::seconds(0));
    ASSERT_TRUE(r.ok()) << body.dump();
    EXPECT_TRUE(r->challenges.empty());
  }
  {
    ClientFixture f;  // 100 is the most a poll may carry
    f.AnswerJson(200, json{{"jobs", json::array()},
                           {"challenges", json(std::vector<json>(100, GoodChallenge()))}});
    ASSERT_TRUE(f.client.Poll(std::chrono::seconds(0)).ok());
  }
}

TEST(AgentClientTest, PollRefusesMalformedChallenges) {
  struct Case {
    const char* what;
    std::function<void(json&)> mutate;
  };
  const Case cases[] = {
      {"token missing", [](json& c) { c.erase("token"); }},
      {"token empty", [](json& c) { c["token"] = ""; }},
      {"token with slash", [](json& c) { c["token"] = "../../etc/passwd"; }},
      {"token with padding", [](json& c) { c["token"] = "abc="; }},
      {"token too long", [](json& c) { c["token"] = std::string(257, 'a'); }},
      {"token a number", [](json& c) { c["token"] = 5; }},
      {"action missing", [](json& c) { c.erase("action"); }},
      {"action unknown", [](json& c) { c["action"] = "publish"; }},
      {"key authorization missing", [](json& c) { c.erase("key_authorization"); }},
      {"key authorization for another token",
       [](json& c) { c["key_authorization"] = "otherToken.9jg46WB3rR"; }},
      {"key authorization without thumbprint",
       [](json& c) { c["key_authorization"] = std::string(kChToken) + "."; }},
      {"key authorization not base64url",
       [](json& c) { c["key_authorization"] = std::string(kChToken) + ".a+b/c"; }},
      {"key authorization too long",
       [](json& c) {
         c["key_authorization"] = std::string(kChToken) + "." + std::string(470, 'a');
       }},
      {"remove with a bad key authorization",
       [](json& c) {
         c["action"] = "remove";
         c["key_authorization"] = "x";
       }},
      {"identifier not a DNS name", [](json& c) { c["identifier"] = "../x"; }},
      {"identifier a wildcard", [](json& c) { c["identifier"] = "*.example.test"; }},
      {"not an object", [](json& c) { c = "present"; }},
  };
  for (const Case& c : cases) {
    ClientFixture f;
    json ch = GoodChallenge();
    c.mutate(ch);
    f.AnswerJson(200, json{{"jobs", json::array()}, {"challenges", {ch}}});
    auto r = f.client.Poll(std::chrono::seconds(0));
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed) << c.what;
    EXPECT_EQ(r.error().message().find(kChKeyAuthz), std::string::npos) << c.what;
  }
  for (const json& challenges :
       {json(json::object()), json("x"), json(std::vector<json>(101, GoodChallenge()))}) {
    ClientFixture f;
    f.AnswerJson(200, json{{"jobs", json::array()}, {"challenges", challenges}});
    auto r = f.client.Poll(std::chrono::seconds(0));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
  }
}

TEST(AgentClientTest, AckChallengeSendsStateAndReason) {
  ClientFixture f;
  f.AnswerJson(200, json::object());
  f.AnswerJson(200, json::object());
  f.Answer(404, "");
  f.Answer(503, "");
  ASSERT_TRUE(f.client.AckChallenge(kChToken, "presented", "").ok());
  ASSERT_EQ(f.sent.size(), 1u);
  EXPECT_EQ(f.sent[0].method, "POST");
  EXPECT_EQ(f.sent[0].url, std::string("https://cf.test:8443/v1/agent/challenges/") + kChToken);
  EXPECT_EQ(json::parse(f.sent[0].body), (json{{"state", "presented"}}));

  ASSERT_TRUE(
      f.client.AckChallenge(kChToken, "failed", "cannot write\n" + std::string(2000, 'x')).ok());
  json sent = json::parse(f.sent[1].body);
  EXPECT_EQ(sent["state"], "failed");
  const std::string reason = sent["reason"].get<std::string>();
  EXPECT_EQ(reason.size(), 1024u);
  EXPECT_EQ(reason.substr(0, 13), "cannot write?");

  EXPECT_EQ(f.client.AckChallenge(kChToken, "removed", "").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(f.client.AckChallenge(kChToken, "removed", "").error().code(), ErrorCode::kUnavailable);

  // Refused before any request.
  EXPECT_EQ(f.client.AckChallenge("../jobs", "removed", "").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(f.client.AckChallenge("", "removed", "").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(f.client.AckChallenge(kChToken, "done", "").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(f.sent.size(), 4u);
}

TEST(AgentClientTest, StatusCodesMapToErrors) {
  ClientFixture f;
  f.AnswerJson(401, json{{"title", "unauthorized"}, {"detail", "unknown client\x01 certificate"}});
  f.Answer(403, "");
  f.Answer(404, "");
  f.Answer(409, "");
  net::HttpResponse limited;
  limited.status = 429;
  limited.headers["retry-after"] = "7";
  f.script.push_back(limited);
  f.Answer(503, "<html>busy</html>");
  f.script.push_back(Unavailable("connection refused").WithRetry());

  auto r1 = f.client.Poll(std::chrono::seconds(0));
  EXPECT_EQ(r1.error().code(), ErrorCode::kUnauthorized);
  EXPECT_NE(r1.error().message().find("unknown client? certificate"), std::string::npos);
  EXPECT_EQ(f.client.Poll(std::chrono::seconds(0)).error().code(), ErrorCode::kForbidden);
  EXPECT_EQ(f.client.Poll(std::chrono::seconds(0)).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(f.client.Poll(std::chrono::seconds(0)).error().code(), ErrorCode::kConflict);
  auto rl = f.client.Poll(std::chrono::seconds(0));
  EXPECT_EQ(rl.error().code(), ErrorCode::kRateLimited);
  ASSERT_TRUE(rl.error().retry_after().has_value());
  EXPECT_EQ(*rl.error().retry_after(), std::chrono::seconds(7));
  auto r5 = f.client.Poll(std::chrono::seconds(0));
  EXPECT_EQ(r5.error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(r5.error().retryable());
  EXPECT_EQ(f.client.Poll(std::chrono::seconds(0)).error().code(), ErrorCode::kUnavailable);
}

// certfleetd's problem documents: the code comes from the type, not the status, so a stale report
// (conflict, which the runtime ignores) is not confused with a refused one (failed_precondition,
// same 409), and a 500 is retried like any server-side failure.
TEST(AgentClientTest, ProblemTypesDecideTheCode) {
  ClientFixture f;
  auto answer = [&](ErrorCode code, const std::string& detail) {
    f.script.push_back(net::EncodeProblem(code, detail, 0, {{"request_id", "req_1"}}));
  };
  answer(ErrorCode::kConflict, "stale report: job dtg_01 is at sequence 9");
  answer(ErrorCode::kFailedPrecondition, "the deployment has no version");
  answer(ErrorCode::kMalformed, "body is not JSON");
  answer(ErrorCode::kInternal, "an internal error occurred");
  JobReport rep{7, "verified", "", {}, "4f1c"};

  Status stale = f.client.Report("dtg_01", rep);
  EXPECT_EQ(stale.error().code(), ErrorCode::kConflict);
  EXPECT_EQ(stale.error().message(),
            "server answered HTTP 409 conflict: stale report: job dtg_01 is at sequence 9");
  Status refused = f.client.Report("dtg_01", rep);
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(refused.error().retryable());
  EXPECT_EQ(f.client.Report("dtg_01", rep).error().code(), ErrorCode::kMalformed);
  Status internal = f.client.Report("dtg_01", rep);
  EXPECT_EQ(internal.error().code(), ErrorCode::kInternal);
  EXPECT_TRUE(internal.error().retryable());
}

TEST(AgentClientTest, BundleMustMatchTheJobSeq) {
  AgentJob job;
  job.id = "dtg_01";
  job.seq = 7;
  const json good = {
      {"seq", 7},
      {"certificate", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"},
      {"chain", ""},
      {"private_key",
       "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n"
       "-----END ENCRYPTED PRIVATE KEY-----\n"}};
  {
    ClientFixture f;
    f.AnswerJson(200, good);
    auto b = f.client.FetchBundle(job);
    ASSERT_TRUE(b.ok()) << b.error().ToString();
    EXPECT_EQ(b->seq, 7);
    EXPECT_NE(b->private_key.view().find("ENCRYPTED"), std::string_view::npos);
    EXPECT_EQ(f.sent[0].url, "https://cf.test:8443/v1/agent/jobs/dtg_01/bundle");
  }
  for (auto mutate : std::vector<std::function<void(json&)>>{
           [](json& j) { j["seq"] = 6; },
           [](json& j) { j["certificate"] = ""; },
           [](json& j) { j["private_key"] = ""; },
           [](json& j) { j["certificate"] = "not pem"; },
           [](json& j) { j.erase("private_key"); },
       }) {
    ClientFixture f;
    json b = good;
    mutate(b);
    f.AnswerJson(200, b);
    auto r = f.client.FetchBundle(job);
    ASSERT_FALSE(r.ok()) << b.dump();
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
  }
}

TEST(AgentClientTest, SecretReportRenewAndEnrollBodies) {
  ClientFixture f;
  f.AnswerJson(200, json{{"value", "s3cret-passphrase"}});
  auto s = f.client.FetchSecret("sec_01", 2);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->view(), "s3cret-passphrase");
  EXPECT_EQ(f.sent.back().url, "https://cf.test:8443/v1/agent/secrets/sec_01?version=2");
  f.AnswerJson(200, json{{"value", ""}});
  EXPECT_EQ(f.client.FetchSecret("sec_01", 2).error().code(), ErrorCode::kMalformed);
  EXPECT_FALSE(f.client.FetchSecret("sec_01", 0).ok());

  f.Answer(200, "{}");
  JobReport rep{7, "failed", std::string(2000, 'x') + "\n", {"/srv/a.pem"}, "4f1c"};
  ASSERT_TRUE(f.client.Report("dtg_01", rep).ok());
  json body = json::parse(f.sent.back().body);
  EXPECT_EQ(f.sent.back().url, "https://cf.test:8443/v1/agent/jobs/dtg_01/report");
  EXPECT_EQ(body["seq"], 7);
  EXPECT_EQ(body["state"], "failed");
  EXPECT_EQ(body["reason"].get<std::string>().size(), 1024u);
  EXPECT_EQ(body["paths"], json::array({"/srv/a.pem"}));
  rep.state = "done";
  EXPECT_EQ(f.client.Report("dtg_01", rep).error().code(), ErrorCode::kInvalidArgument);
  f.Answer(409, "");
  rep.state = "verified";
  EXPECT_EQ(f.client.Report("dtg_01", rep).error().code(), ErrorCode::kConflict);

  f.AnswerJson(
      201, json{{"agent_id", "agt_01"},
                {"account", "acc_01"},
                {"tags", {{"env", "dev"}}},
                {"certificate", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"},
                {"chain", ""},
                {"not_after", "2026-12-27T00:00:00Z"}});
  auto e = f.client.Enroll(SecretBytes::FromView("cfe_abc-DEF.123"), "CSR", "web-1");
  ASSERT_TRUE(e.ok()) << e.error().ToString();
  EXPECT_EQ(e->agent_id, "agt_01");
  EXPECT_EQ(e->tags.at("env"), "dev");
  json sent = json::parse(f.sent.back().body);
  EXPECT_EQ(sent["token"], "cfe_abc-DEF.123");
  EXPECT_EQ(sent["hostname"], "web-1");
  // A token that would break out of the JSON string is refused, and not echoed.
  auto bad = f.client.Enroll(SecretBytes::FromView("cfe_\"x"), "CSR", "web-1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message().find("cfe_"), std::string::npos);
}

// ---------------------------------------------------------------- backoff

class FixedRandom final : public Random {
 public:
  explicit FixedRandom(uint64_t v) : v_(v) {}
  void Fill(void* out, size_t n) override {
    std::memset(out, 0, n);
    std::memcpy(out, &v_, std::min(n, sizeof v_));
  }

 private:
  uint64_t v_;
};

TEST(BackoffTest, CeilingDoublesFromOneSecondToSixty) {
  BackoffPolicy p;
  const int64_t want[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(BackoffCeiling(p, i).count(), want[i]) << i;
  EXPECT_EQ(BackoffCeiling(p, 1000).count(), 60000);
}

TEST(BackoffTest, FullJitterStaysWithinBounds) {
  BackoffPolicy p;
  FixedRandom zero(0);
  // Uniform(bound) = v % bound: pick v so that the result is the top of the range.
  for (int attempt = 0; attempt < 10; ++attempt) {
    const int64_t ceiling = BackoffCeiling(p, attempt).count();
    EXPECT_EQ(BackoffDelay(p, attempt, zero).count(), 0);
    FixedRandom top{uint64_t(ceiling)};  // ceiling % (ceiling + 1) == ceiling
    EXPECT_EQ(BackoffDelay(p, attempt, top).count(), ceiling);
    FixedRandom huge(UINT64_MAX / 4);
    const int64_t d = BackoffDelay(p, attempt, huge).count();
    EXPECT_GE(d, 0);
    EXPECT_LE(d, ceiling);
  }
  // Retry-After is a floor, capped at the maximum.
  EXPECT_EQ(BackoffDelay(p, 0, zero, std::chrono::seconds(5)).count(), 5000);
  EXPECT_EQ(BackoffDelay(p, 0, zero, std::chrono::seconds(3600)).count(), 60000);
  EXPECT_EQ(BackoffDelay(p, -1, zero).count(), 0);
}

// ---------------------------------------------------------------- state dir

TEST(StateDirTest, CreatesPrivateDirAndKeyWithExactModes) {
  TempDir t;
  const std::string dir = t.path() + "/state/nested";
  // A permissive umask must not widen anything: every mode is set explicitly.
  const mode_t old_umask = ::umask(0);
  auto sd = StateDir::Open(dir);
  ASSERT_TRUE(sd.ok()) << sd.error().ToString();
  EXPECT_EQ(ModeOf(dir), 0700u);
  EXPECT_FALSE((*sd)->HasCertificate());
  EXPECT_EQ((*sd)->LoadIdentity().error().code(), ErrorCode::kNotFound);

  Pki pki;
  Leaf leaf = MakeLeaf(pki, 3);
  // Once every new file is written, and before any is renamed into place, the one that becomes
  // agent.key already exists with mode 0600: it was created so (O_CREAT|O_EXCL with 0600).
  std::vector<std::pair<std::string, mode_t>> temps;
  (*sd)->set_failpoint_for_testing([&](std::string_view step) {
    if (step != "mark_pending") return;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      temps.emplace_back(e.path().filename().string(), ModeOf(e.path().string()));
    }
  });
  ASSERT_TRUE((*sd)->SaveIdentity(*leaf.key, leaf.cert.ToPem(), pki.inter.cert.ToPem()).ok());
  ::umask(old_umask);
  bool saw_key_temp = false;
  for (const auto& [name, mode] : temps) {
    if (name.rfind(".agent.key.tmp-", 0) == 0) {
      saw_key_temp = true;
      EXPECT_EQ(mode, 0600u) << name;
    }
  }
  EXPECT_TRUE(saw_key_temp);
  EXPECT_EQ(ModeOf(dir + "/agent.key"), 0600u);
  EXPECT_EQ(ModeOf(dir + "/agent.crt"), 0644u);
  EXPECT_FALSE(Exists(dir + "/agent.key.prev"));
  auto id = (*sd)->LoadIdentity();
  ASSERT_TRUE(id.ok()) << id.error().ToString();
  EXPECT_EQ(id->certificate.serial_hex(), leaf.cert.serial_hex());

  // A key that does not match the certificate is refused before anything is written.
  Leaf other = MakeLeaf(pki, 4);
  EXPECT_EQ((*sd)->SaveIdentity(*other.key, leaf.cert.ToPem(), "").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ((*sd)->LoadIdentity()->certificate.serial_hex(), leaf.cert.serial_hex());

  // Replacing the identity keeps no copy of the old key around.
  ASSERT_TRUE((*sd)->SaveIdentity(*other.key, other.cert.ToPem(), "").ok());
  EXPECT_FALSE(Exists(dir + "/agent.key.prev"));
  EXPECT_EQ((*sd)->LoadIdentity()->certificate.serial_hex(), other.cert.serial_hex());
}

TEST(StateDirTest, TightensAnExistingDirAndRefusesSymlinks) {
  TempDir t;
  const std::string dir = t.path() + "/wide";
  std::filesystem::create_directory(dir);
  ::chmod(dir.c_str(), 0755);
  ASSERT_TRUE(StateDir::Open(dir).ok());
  EXPECT_EQ(ModeOf(dir), 0700u);
  std::filesystem::create_directory_symlink(dir, t.path() + "/link");
  auto r = StateDir::Open(t.path() + "/link");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kForbidden);
}

TEST(StateDirTest, StateRoundTripsWithPrivateMode) {
  TempDir t;
  auto sd = StateDir::Open(t.path() + "/s");
  ASSERT_TRUE(sd.ok());
  auto empty = (*sd)->LoadState();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->last_seq, 0);
  AgentState s;
  s.agent_id = "agt_01";
  s.last_seq = 7;
  s.last_result = JobResult{"dtg_01", 7, "verified", "", {"/a", "/b"}, "4f1c"};
  s.installed["dep_01"] = 3;
  ASSERT_TRUE((*sd)->SaveState(s).ok());
  EXPECT_EQ(ModeOf(t.path() + "/s/state.json"), 0600u);
  auto back = (*sd)->LoadState();
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->agent_id, "agt_01");
  EXPECT_EQ(back->last_seq, 7);
  ASSERT_TRUE(back->last_result.has_value());
  EXPECT_EQ(back->last_result->paths.size(), 2u);
  EXPECT_EQ(back->last_result->state, "verified");
  EXPECT_EQ(back->installed.at("dep_01"), 3);
  EXPECT_FALSE(StateFromJson("{\"format\": 2}").ok());
  EXPECT_FALSE(StateFromJson("{\"format\": 1, \"last_seq\": -1}").ok());
  EXPECT_FALSE(StateFromJson("[]").ok());
}

}  // namespace
}  // namespace certfleet::agent
