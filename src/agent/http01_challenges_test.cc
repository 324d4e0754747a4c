// http-01 challenges on the agent (issue #6): Http01Challenges against real files in a temp dir
// and a real listener, and the runtime against the fake server (present, remove, acks).
#include "agent/http01_challenges.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agent/agent_runtime.h"
#include "agent/test_agent_server.h"
#include "agent/test_bundles.h"

namespace certfleet::agent {
namespace {

using namespace testing;  // NOLINT
using nlohmann::json;
using x509::testing::TempDir;
namespace fs = std::filesystem;

constexpr char kToken[] = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
constexpr char kKeyAuthz[] =
    "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
constexpr char kToken2[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
constexpr char kKeyAuthz2[] =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";

struct HttpAnswer {
  int connect_errno = 0;  // non-zero: the connection failed
  std::string raw;
  int status() const { return raw.size() >= 12 ? std::stoi(raw.substr(9, 3)) : 0; }
  std::string body() const {
    const size_t end = raw.find("\r\n\r\n");
    return end == std::string::npos ? std::string() : raw.substr(end + 4);
  }
};

// A plain-socket GET of the challenge path on 127.0.0.1:port (what the CA does, minus DNS).
HttpAnswer GetChallenge(uint16_t port, const std::string& token,
                        const std::string& host = "web.example") {
  HttpAnswer out;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CF_CHECK(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    out.connect_errno = errno;
    ::close(fd);
    return out;
  }
  const std::string req = "GET /.well-known/acme-challenge/" + token +
                          " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  CF_CHECK(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size()));
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.raw.append(buf, size_t(n));
  }
  ::close(fd);
  return out;
}

Http01Config WebrootConfig(const std::string& root, const std::string& webroot) {
  Http01Config c;
  c.webroot = webroot;
  c.webroot_root = root;
  return c;
}

Http01Config ListenConfig() {
  Http01Config c;
  c.listen = "127.0.0.1:0";
  c.listen_host = "127.0.0.1";
  c.listen_port = 0;  // tests bind a free port (the config parser requires 1..65535)
  return c;
}

// ---------------------------------------------------------------- Http01Challenges

TEST(Http01ChallengesTest, WebrootFileIsWrittenExactlyAndRemoved) {
  TempDir t;
  const std::string root = t.path() + "/root";
  fs::create_directories(root + "/www");
  Http01Challenges h(WebrootConfig(root, root + "/www"));
  const std::string dir = root + "/www/.well-known/acme-challenge";
  const std::string file = dir + "/" + kToken;

  // The agent runs with a tight umask; the web server (another user) must still traverse the
  // directories it creates and read the file.
  const mode_t old_umask = ::umask(077);
  const Status presented = h.Present("web.example", kToken, kKeyAuthz);
  ::umask(old_umask);
  ASSERT_TRUE(presented.ok()) << presented.error().ToString();
  EXPECT_EQ(ReadAll(file), kKeyAuthz);  // no trailing newline
  EXPECT_EQ(ModeOf(file), 0644u);
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_EQ(ModeOf(dir), 0755u);
  EXPECT_EQ(ModeOf(root + "/www/.well-known"), 0755u);
  EXPECT_FALSE(h.listen_port().has_value());
  // Nothing but the file is left in the directory (no temp file).
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);

  // Presenting again replaces the content.
  ASSERT_TRUE(h.Present("web.example", kToken, std::string(kToken) + ".other_thumbprint").ok());
  EXPECT_EQ(ReadAll(file), std::string(kToken) + ".other_thumbprint");

  ASSERT_TRUE(h.Remove(kToken).ok());
  EXPECT_FALSE(Exists(file));
  EXPECT_TRUE(h.Remove(kToken).ok());  // absent is fine
}

TEST(Http01ChallengesTest, RemoveBeforeTheDirectoryExistsIsOk) {
  TempDir t;
  const std::string root = t.path() + "/root";
  fs::create_directories(root);
  Http01Challenges h(WebrootConfig(root, root + "/www"));
  EXPECT_TRUE(h.Remove(kToken).ok());
  EXPECT_FALSE(Exists(root + "/www"));
}

TEST(Http01ChallengesTest, WebrootNeverFollowsSymlinks) {
  TempDir t;
  const std::string root = t.path() + "/root";
  const std::string elsewhere = t.path() + "/elsewhere";
  fs::create_directories(root + "/www");
  fs::create_directories(elsewhere + "/acme-challenge");
  Http01Challenges h(WebrootConfig(root, root + "/www"));

  // A symlinked directory on the way: refused, nothing written outside.
  fs::create_directory_symlink(elsewhere, root + "/www/.well-known");
  Status st = h.Present("web.example", kToken, kKeyAuthz);
  ASSERT_FALSE(st.ok());
  EXPECT_FALSE(Exists(elsewhere + "/acme-challenge/" + kToken));
  EXPECT_EQ(st.error().ToString().find(kKeyAuthz), std::string::npos);

  // A symlink at the final name is replaced, not written through.
  fs::remove(root + "/www/.well-known");
  fs::create_directories(root + "/www/.well-known/acme-challenge");
  const std::string victim = t.path() + "/victim";
  t.Write("victim", "keep");
  fs::create_symlink(victim, root + "/www/.well-known/acme-challenge/" + kToken);
  ASSERT_TRUE(h.Present("web.example", kToken, kKeyAuthz).ok());
  EXPECT_EQ(ReadAll(victim), "keep");
  EXPECT_FALSE(fs::is_symlink(root + "/www/.well-known/acme-challenge/" + kToken));
  EXPECT_EQ(ReadAll(root + "/www/.well-known/acme-challenge/" + kToken), kKeyAuthz);
}

TEST(Http01ChallengesTest, ListenerServesWhileTokensAreHeld) {
  Http01Challenges h(ListenConfig());
  EXPECT_FALSE(h.listen_port().has_value());
  ASSERT_TRUE(h.Present("web.example", kToken, kKeyAuthz).ok());
  ASSERT_TRUE(h.Present("web.example", kToken2, kKeyAuthz2).ok());
  ASSERT_TRUE(h.listen_port().has_value());
  const uint16_t port = *h.listen_port();
  EXPECT_EQ(h.held(), 2u);

  HttpAnswer a = GetChallenge(port, kToken);
  ASSERT_EQ(a.connect_errno, 0);
  EXPECT_EQ(a.status(), 200);
  EXPECT_EQ(a.body(), kKeyAuthz);
  EXPECT_EQ(GetChallenge(port, "unknownToken").status(), 404);

  // The first remove keeps the listener for the other token; the last one stops it.
  ASSERT_TRUE(h.Remove(kToken).ok());
  EXPECT_EQ(GetChallenge(port, kToken).status(), 404);
  EXPECT_EQ(GetChallenge(port, kToken2).body(), kKeyAuthz2);
  ASSERT_TRUE(h.Remove(kToken2).ok());
  EXPECT_FALSE(h.listen_port().has_value());
  EXPECT_EQ(GetChallenge(port, kToken2).connect_errno, ECONNREFUSED);
}

// Issue #13: the listener answers a token only under the name certfleetd named for it, so a
// token ordered for one name is not served for another name routed to the same host.
TEST(Http01ChallengesTest, ListenerAnswersOnlyForTheTokensIdentifier) {
  Http01Challenges h(ListenConfig());
  ASSERT_TRUE(h.Present("Web.Example.", kToken, kKeyAuthz).ok());
  ASSERT_TRUE(h.Present("other.example", kToken2, kKeyAuthz2).ok());
  const uint16_t port = *h.listen_port();
  EXPECT_EQ(GetChallenge(port, kToken, "web.example:80").body(), kKeyAuthz);
  EXPECT_EQ(GetChallenge(port, kToken, "other.example").status(), 404);
  EXPECT_EQ(GetChallenge(port, kToken, "127.0.0.1").status(), 404);
  EXPECT_EQ(GetChallenge(port, kToken2, "web.example").status(), 404);
  EXPECT_EQ(GetChallenge(port, kToken2, "other.example").body(), kKeyAuthz2);
  // Without an identifier the listener has no name to answer for: refused, nothing held.
  Http01Challenges unnamed(ListenConfig());
  Status st = unnamed.Present("", kToken, kKeyAuthz);
  EXPECT_EQ(st.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(unnamed.held(), 0u);
}

TEST(Http01ChallengesTest, RefusesWithoutSectionAndBadInput) {
  Http01Challenges none(std::nullopt);
  Status st = none.Present("web.example", kToken, kKeyAuthz);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "this agent has no [http01] section in its configuration");
  EXPECT_TRUE(none.Remove(kToken).ok());

  TempDir t;
  fs::create_directories(t.path() + "/www");
  Http01Challenges h(WebrootConfig(t.path(), t.path() + "/www"));
  EXPECT_EQ(h.Present("web.example", "../../etc/passwd", "../../etc/passwd.x").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(h.Present("web.example", kToken, std::string(kToken2) + ".abc").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(h.Present("web.example", kToken, std::string(kToken) + ".a/b").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(h.Remove("a/b").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(Exists(t.path() + "/www/.well-known"));
}

TEST(Http01ChallengesTest, ListenerThatCannotBindFailsThePresent) {
  // Occupy a port, then ask for the same one.
  Http01Challenges first(ListenConfig());
  ASSERT_TRUE(first.Present("web.example", kToken, kKeyAuthz).ok());
  Http01Config busy = ListenConfig();
  busy.listen_port = *first.listen_port();
  Http01Challenges second(busy);
  Status st = second.Present("web.example", kToken2, kKeyAuthz2);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(second.held(), 0u);
}

TEST(Http01ChallengesTest, ResolvesListenHosts) {
  EXPECT_EQ(ResolveListenHost("127.0.0.1").value(), "127.0.0.1");
  EXPECT_EQ(ResolveListenHost("::1").value(), "::1");
  auto local = ResolveListenHost("localhost");
  ASSERT_TRUE(local.ok()) << local.error().ToString();
  EXPECT_TRUE(*local == "127.0.0.1" || *local == "::1") << *local;
  EXPECT_FALSE(ResolveListenHost("no-such-host.invalid").ok());
}

// ---------------------------------------------------------------- the runtime

struct ChallengeRuntimeFixture : public ::testing::Test {
  Pki pki;
  FakeAgentServer server{pki};
  TempDir t;
  const std::string root = t.path() + "/root";
  const std::string webroot = root + "/www";
  const std::string state_dir = t.path() + "/state";
  FakeClock clock{T0() + std::chrono::hours(24)};

  ChallengeRuntimeFixture() {
    fs::create_directories(webroot);
    t.Write("token", server.token + "\n");
  }

  // `http01` is the [http01] section's body; empty: no section. `listen` adds a listener on a
  // free port (which the config syntax cannot say).
  std::unique_ptr<AgentRuntime> Started(const std::string& http01, bool listen = false) {
    std::string text = "allowed_roots = [\"" + root + "\"]\n";
    if (!http01.empty()) text += "[http01]\n" + http01;
    auto cfg = ParseAgentConfig(text);
    EXPECT_TRUE(cfg.ok()) << cfg.error().ToString();
    if (listen) {
      Http01Config l = ListenConfig();
      if (cfg->http01) {
        l.webroot = cfg->http01->webroot;
        l.webroot_root = cfg->http01->webroot_root;
      }
      cfg->http01 = l;
    }
    RuntimeOptions o;
    o.server_url = server.url();
    o.ca_pem = server.ca_pem();
    o.state_dir = state_dir;
    o.config = std::move(*cfg);
    o.enroll_token_file = t.path() + "/token";
    o.hostname = "web-1";
    o.poll_wait = std::chrono::seconds(0);
    auto r = AgentRuntime::Create(std::move(o), clock, SystemRandomSource());
    CF_CHECK(r.ok());
    Status st = (*r)->Start();
    EXPECT_TRUE(st.ok()) << st.error().ToString();
    return std::move(r).value();
  }

  static json Task(const std::string& token, const std::string& ka, const std::string& action) {
    json j = {{"token", token}, {"action", action}, {"identifier", "web.example"}};
    if (!ka.empty()) j["key_authorization"] = ka;
    return j;
  }
};

TEST_F(ChallengeRuntimeFixture, WebrootPresentAndRemoveAreAcked) {
  ::testing::internal::CaptureStderr();
  auto rt = Started("webroot = \"" + webroot + "\"\n");
  const std::string file = webroot + "/.well-known/acme-challenge/" + kToken;

  server.AddChallenge(Task(kToken, kKeyAuthz, "present"));
  Result<bool> progress = rt->RunOnce();
  ASSERT_TRUE(progress.ok()) << progress.error().ToString();
  EXPECT_TRUE(*progress);  // the next poll follows at once
  EXPECT_EQ(ReadAll(file), kKeyAuthz);
  EXPECT_EQ(ModeOf(file), 0644u);
  auto acks = server.acks();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0], (json{{"token", kToken}, {"state", "presented"}}));  // no empty reason
  EXPECT_EQ(server.pending_challenges(), 0u);

  server.AddChallenge(Task(kToken, "", "remove"));
  progress = rt->RunOnce();
  ASSERT_TRUE(progress.ok());
  EXPECT_TRUE(*progress);
  EXPECT_FALSE(Exists(file));
  acks = server.acks();
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[1]["state"], "removed");

  // Nothing left: an idle poll is no progress.
  progress = rt->RunOnce();
  ASSERT_TRUE(progress.ok());
  EXPECT_FALSE(*progress);

  // One log line per action, with the token and never the key authorization.
  const std::string logs = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(logs.find("\"action\":\"present\""), std::string::npos) << logs;
  EXPECT_NE(logs.find("\"action\":\"remove\""), std::string::npos) << logs;
  EXPECT_NE(logs.find(std::string("\"token\":\"") + kToken + "\""), std::string::npos);
  EXPECT_EQ(logs.find(kKeyAuthz), std::string::npos);
}

TEST_F(ChallengeRuntimeFixture, ListenerAnswersUntilRemoved) {
  auto rt = Started("", /*listen=*/true);
  server.AddChallenge(Task(kToken, kKeyAuthz, "present"));
  ASSERT_TRUE(rt->RunOnce().ok());
  ASSERT_EQ(server.acks().size(), 1u);
  EXPECT_EQ(server.acks()[0]["state"], "presented");
  ASSERT_TRUE(rt->http01_listen_port().has_value());
  const uint16_t port = *rt->http01_listen_port();

  HttpAnswer a = GetChallenge(port, kToken);
  ASSERT_EQ(a.connect_errno, 0) << std::strerror(a.connect_errno);
  EXPECT_EQ(a.status(), 200);
  EXPECT_EQ(a.body(), kKeyAuthz);

  server.AddChallenge(Task(kToken, kKeyAuthz, "remove"));
  ASSERT_TRUE(rt->RunOnce().ok());
  ASSERT_EQ(server.acks().size(), 2u);
  EXPECT_EQ(server.acks()[1]["state"], "removed");
  EXPECT_FALSE(rt->http01_listen_port().has_value());
  EXPECT_EQ(GetChallenge(port, kToken).connect_errno, ECONNREFUSED);
}

TEST_F(ChallengeRuntimeFixture, WithoutHttp01SectionTheAckIsFailed) {
  auto rt = Started("");
  server.AddChallenge(Task(kToken, kKeyAuthz, "present"));
  ASSERT_TRUE(rt->RunOnce().ok());
  auto acks = server.acks();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0]["state"], "failed");
  EXPECT_EQ(acks[0]["reason"], "this agent has no [http01] section in its configuration");
  EXPECT_FALSE(Exists(webroot + "/.well-known"));
}

TEST_F(ChallengeRuntimeFixture, FailedWriteIsAckedFailedWithoutTheKeyAuthorization) {
  auto rt = Started("webroot = \"" + webroot + "\"\n");
  // A symlink on the way to the challenge directory.
  fs::create_directories(t.path() + "/elsewhere");
  fs::create_directory_symlink(t.path() + "/elsewhere", webroot + "/.well-known");
  server.AddChallenge(Task(kToken, kKeyAuthz, "present"));
  ASSERT_TRUE(rt->RunOnce().ok());
  auto acks = server.acks();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0]["state"], "failed");
  const std::string reason = acks[0]["reason"].get<std::string>();
  EXPECT_FALSE(reason.empty());
  EXPECT_EQ(reason.find(kKeyAuthz), std::string::npos);
}

TEST_F(ChallengeRuntimeFixture, LostAckIsRetriedOnTheNextPoll) {
  auto rt = Started("webroot = \"" + webroot + "\"\n");
  server.SetLoseAcks(true);
  server.AddChallenge(Task(kToken, kKeyAuthz, "present"));
  Result<bool> progress = rt->RunOnce();
  ASSERT_TRUE(progress.ok());
  EXPECT_FALSE(*progress);  // an unacknowledged task is not progress (no busy loop)
  EXPECT_EQ(server.pending_challenges(), 1u);

  server.SetLoseAcks(false);
  progress = rt->RunOnce();
  ASSERT_TRUE(progress.ok());
  EXPECT_TRUE(*progress);
  EXPECT_EQ(server.pending_challenges(), 0u);
  auto acks = server.acks();
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(acks[1]["state"], "presented");
  EXPECT_EQ(ReadAll(webroot + "/.well-known/acme-challenge/" + kToken), kKeyAuthz);
}

TEST_F(ChallengeRuntimeFixture, ChallengesComeBeforeJobs) {
  auto rt = Started("webroot = \"" + webroot + "\"\n");
  // A job for a profile the config does not have: it is reported failed, after the ack.
  server.AddJob({{"id", "dtg_01WEB"},
                 {"deployment_id", "dep_01WEB"},
                 {"seq", 1},
                 {"version", 1},
                 {"profile", "nope"},
                 {"secret_id", "sec_01"},
                 {"secret_version", 1}},
                json::object());
  server.AddChallenge(Task(kToken, kKeyAuthz, "present"));
  ASSERT_TRUE(rt->RunOnce().ok());
  ASSERT_EQ(server.acks().size(), 1u);
  ASSERT_EQ(server.reports().size(), 1u);
  EXPECT_EQ(server.order(), (std::vector<std::string>{"enroll", "poll", "ack", "report"}));
}

}  // namespace
}  // namespace certfleet::agent
