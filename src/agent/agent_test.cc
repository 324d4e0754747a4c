#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "agent/agent_config.h"
#include "agent/atomic_install.h"
#include "agent/bundle_check.h"
#include "agent/installers.h"
#include "agent/run_command.h"
#include "agent/safe_path.h"
#include "agent/test_bundles.h"
#include "crypto/pkcs12.h"

namespace certfleet::agent {
namespace {

using namespace testing;  // NOLINT
using x509::testing::TempDir;
namespace fs = std::filesystem;

// ---------------------------------------------------------------- config

TEST(AgentConfigTest, ParsesValidProfile) {
  auto cfg = ParseAgentConfig(R"(
allowed_roots = ["/etc/certfleet", "/srv/tls"]
[profiles.web]
installer = "nginx"
cert_dir = "/etc/certfleet/web"
key_dir = "/srv/tls/private"
owner = "root"
group = "root"
key_encrypted = true
test = ["/usr/sbin/nginx", "-t"]
reload = ["/usr/sbin/nginx", "-s", "reload"]
reload_timeout = "2m"
verify_address = "127.0.0.1:443"
verify_sni = "app.example.test"
name = "app"
)");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  auto p = cfg->FindProfile("web");
  ASSERT_TRUE(p.ok());
  const Profile& w = **p;
  EXPECT_EQ(w.installer, InstallerKind::kNginx);
  EXPECT_EQ(w.cert_root, "/etc/certfleet");
  EXPECT_EQ(w.key_root, "/srv/tls");
  EXPECT_EQ(w.uid, 0u);
  EXPECT_EQ(w.gid, 0u);
  EXPECT_TRUE(w.key_encrypted);
  EXPECT_EQ(w.reload.size(), 3u);
  EXPECT_EQ(w.reload_timeout, std::chrono::seconds(120));
  EXPECT_EQ(w.name, "app");
  EXPECT_FALSE(cfg->FindProfile("nope").ok());
}

TEST(AgentConfigTest, DefaultsNameAndKeyDir) {
  auto cfg = ParseAgentConfig(
      "allowed_roots = [\"/etc/certfleet\"]\n[profiles.p1]\ninstaller = \"files\"\n"
      "cert_dir = \"/etc/certfleet/p1\"\n");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  const Profile& p = cfg->profiles.at("p1");
  EXPECT_EQ(p.name, "p1");
  EXPECT_EQ(p.key_dir, "/etc/certfleet/p1");
  EXPECT_EQ(p.reload_timeout, std::chrono::seconds(30));
  EXPECT_FALSE(p.uid.has_value());
}

struct BadCase {
  const char* what;
  const char* profile_body;
};

TEST(AgentConfigTest, RejectsInvalidProfiles) {
  const BadCase cases[] = {
      {"unknown key", "installer = \"files\"\ncert_dir = \"/etc/certfleet/a\"\nmode = 1\n"},
      {"relative dir", "installer = \"files\"\ncert_dir = \"etc/certfleet/a\"\n"},
      {"dot dot", "installer = \"files\"\ncert_dir = \"/etc/certfleet/../shadow\"\n"},
      {"dot", "installer = \"files\"\ncert_dir = \"/etc/certfleet/./a\"\n"},
      {"double slash", "installer = \"files\"\ncert_dir = \"/etc/certfleet//a\"\n"},
      {"trailing slash", "installer = \"files\"\ncert_dir = \"/etc/certfleet/a/\"\n"},
      {"outside root", "installer = \"files\"\ncert_dir = \"/etc/ssl\"\n"},
      {"root prefix trick", "installer = \"files\"\ncert_dir = \"/etc/certfleetx/a\"\n"},
      {"key outside root",
       "installer = \"files\"\ncert_dir = \"/etc/certfleet/a\"\nkey_dir = \"/root\"\n"},
      {"reload string",
       "installer = \"files\"\ncert_dir = \"/etc/certfleet/a\"\nreload = \"nginx -s reload\"\n"},
      {"reload relative",
       "installer = \"files\"\ncert_dir = \"/etc/certfleet/a\"\nreload = [\"nginx\"]\n"},
      {"unknown installer", "installer = \"iis\"\ncert_dir = \"/etc/certfleet/a\"\n"},
      {"missing installer", "cert_dir = \"/etc/certfleet/a\"\n"},
      {"unknown owner",
       "installer = \"files\"\ncert_dir = \"/etc/certfleet/a\"\nowner = \"no-such-user-x\"\n"},
      {"unknown group",
       "installer = \"files\"\ncert_dir = \"/etc/certfleet/a\"\ngroup = \"no-such-group-x\"\n"},
      {"exec without argv", "installer = \"exec\"\ncert_dir = \"/etc/certfleet/a\"\n"},
      {"bad timeout",
       "installer = \"files\"\ncert_dir = \"/etc/certfleet/a\"\nreload_timeout = \"30\"\n"},
      {"bad name", "installer = \"files\"\ncert_dir = \"/etc/certfleet/a\"\nname = \"../x\"\n"},
      {"bad encrypted",
       "installer = \"files\"\ncert_dir = \"/etc/certfleet/a\"\nkey_encrypted = \"yes\"\n"},
      {"bad verify",
       "installer = \"files\"\ncert_dir = \"/etc/certfleet/a\"\n"
       "verify_address = \"localhost\"\n"},
  };
  for (const BadCase& c : cases) {
    auto cfg = ParseAgentConfig(
        std::string("allowed_roots = [\"/etc/certfleet\"]\n[profiles.a]\n") + c.profile_body);
    EXPECT_FALSE(cfg.ok()) << c.what;
    if (!cfg.ok()) {
      EXPECT_EQ(cfg.error().code(), ErrorCode::kInvalidArgument) << c.what;
    }
  }
}

TEST(AgentConfigTest, RejectsBadTopLevel) {
  EXPECT_FALSE(ParseAgentConfig("allowed_roots = [\"/etc/certfleet\"]\nextra = 1\n").ok());
  EXPECT_FALSE(ParseAgentConfig("allowed_roots = [\"relative\"]\n").ok());
  EXPECT_FALSE(ParseAgentConfig("allowed_roots = []\n").ok());
  EXPECT_FALSE(ParseAgentConfig("allowed_roots = [\"/a/../b\"]\n").ok());
  auto syntax = ParseAgentConfig("allowed_roots = [\n");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.error().message().find("line"), std::string::npos);
  EXPECT_FALSE(
      ParseAgentConfig("allowed_roots = [\"/x\"]\n[profiles.\"bad name!\"]\ninstaller=\"files\"\n"
                       "cert_dir=\"/x\"\n")
          .ok());
}

TEST(AgentConfigTest, Http01Section) {
  const std::string roots = "allowed_roots = [\"/etc/certfleet\", \"/var/www\"]\n";
  auto none = ParseAgentConfig(roots);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->http01.has_value());

  auto both =
      ParseAgentConfig(roots + "[http01]\nwebroot = \"/var/www/acme\"\nlisten = \"0.0.0.0:80\"\n");
  ASSERT_TRUE(both.ok()) << both.error().ToString();
  ASSERT_TRUE(both->http01.has_value());
  EXPECT_EQ(both->http01->webroot, "/var/www/acme");
  EXPECT_EQ(both->http01->webroot_root, "/var/www");
  EXPECT_EQ(both->http01->listen, "0.0.0.0:80");
  EXPECT_EQ(both->http01->listen_host, "0.0.0.0");
  EXPECT_EQ(both->http01->listen_port, 80);

  auto webroot_only = ParseAgentConfig(roots + "[http01]\nwebroot = \"/var/www\"\n");
  ASSERT_TRUE(webroot_only.ok()) << webroot_only.error().ToString();
  EXPECT_TRUE(webroot_only->http01->listen.empty());

  auto v6 = ParseAgentConfig(roots + "[http01]\nlisten = \"[::]:8080\"\n");
  ASSERT_TRUE(v6.ok()) << v6.error().ToString();
  EXPECT_EQ(v6->http01->listen_host, "::");
  EXPECT_EQ(v6->http01->listen_port, 8080);
  EXPECT_TRUE(v6->http01->webroot.empty());

  auto name = ParseAgentConfig(roots + "[http01]\nlisten = \"web-1.example:65535\"\n");
  ASSERT_TRUE(name.ok()) << name.error().ToString();
  EXPECT_EQ(name->http01->listen_host, "web-1.example");
  EXPECT_EQ(name->http01->listen_port, 65535);

  const char* bad[] = {
      "",                                      // neither key
      "webroot = \"/srv/acme\"\n",             // outside the allowed roots
      "webroot = \"var/www\"\n",               // relative
      "webroot = \"/var/www/../etc\"\n",       // not normalized
      "webroot = \"/var/www/\"\n",             // trailing slash
      "webroot = \"\"\n",                      // empty
      "webroot = 1\n",                         // not a string
      "listen = \"0.0.0.0\"\n",                // no port
      "listen = \"0.0.0.0:0\"\n",              // port 0
      "listen = \"0.0.0.0:65536\"\n",          // port too large
      "listen = \"0.0.0.0:80x\"\n",            // not a number
      "listen = \":80\"\n",                    // no host
      "listen = \"::1:80\"\n",                 // IPv6 without brackets
      "listen = \"[::1]80\"\n",                // no colon after the bracket
      "listen = \"[zz]:80\"\n",                // not IPv6
      "listen = \"a b:80\"\n",                 // space
      "listen = \"0.0.0.0:80\"\nport = 80\n",  // unknown key
  };
  for (const char* body : bad) {
    auto cfg = ParseAgentConfig(roots + "[http01]\n" + body);
    EXPECT_FALSE(cfg.ok()) << body;
    if (!cfg.ok()) {
      EXPECT_EQ(cfg.error().code(), ErrorCode::kInvalidArgument) << body;
    }
  }
  EXPECT_FALSE(ParseAgentConfig(roots + "http01 = \"/var/www\"\n").ok());  // not a table
}

TEST(AgentConfigTest, ExampleFileParses) {
  auto cfg = LoadAgentConfig(std::string(CERTFLEET_SOURCE_DIR) + "/examples/agent.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_TRUE(cfg->FindProfile("web").ok());
}

TEST(AgentConfigTest, Durations) {
  EXPECT_EQ(*ParseDuration("t", "45s"), std::chrono::seconds(45));
  EXPECT_EQ(*ParseDuration("t", "1h"), std::chrono::seconds(3600));
  EXPECT_FALSE(ParseDuration("t", "2h").ok());
  EXPECT_FALSE(ParseDuration("t", "0s").ok());
  EXPECT_FALSE(ParseDuration("t", "-5s").ok());
  EXPECT_FALSE(ParseDuration("t", "5d").ok());
}

// ---------------------------------------------------------------- safe_path

class SafePathTest : public ::testing::TestWithParam<bool> {};

TEST_P(SafePathTest, RefusesSymlinksAndTraversal) {
  const bool force_walk = GetParam();
  TempDir t;
  const std::string root = t.path() + "/root";
  const std::string outside = t.path() + "/outside";
  fs::create_directories(root + "/a/b");
  fs::create_directories(outside);
  fs::create_symlink(outside, root + "/a/evil");
  fs::create_symlink(root + "/a/b", root + "/inner-link");
  auto rfd = OpenRootDir(root);
  ASSERT_TRUE(rfd.ok());
  OpenBeneathOptions o{.force_walk = force_walk};
  EXPECT_TRUE(OpenDirBeneath(rfd->get(), "a/b", o).ok());
  EXPECT_TRUE(OpenDirBeneath(rfd->get(), "", o).ok());
  for (const char* bad : {"a/evil", "inner-link", "a/../a/b", "..", "a/./b", "/etc", "a//b"}) {
    auto r = OpenDirBeneath(rfd->get(), bad, o);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kForbidden) << bad;
  }
  EXPECT_EQ(OpenDirBeneath(rfd->get(), "a/missing", o).error().code(), ErrorCode::kNotFound);
  // Creating refuses to go through a symlink too.
  OpenBeneathOptions c{.create = true, .force_walk = force_walk};
  EXPECT_TRUE(OpenDirBeneath(rfd->get(), "new/dir", c).ok());
  EXPECT_FALSE(OpenDirBeneath(rfd->get(), "a/evil/sub", c).ok());
  EXPECT_FALSE(Exists(outside + "/sub"));
}

INSTANTIATE_TEST_SUITE_P(Openat2AndWalk, SafePathTest, ::testing::Bool());

TEST(SafePathTest, RelativeBeneath) {
  EXPECT_EQ(*RelativeBeneath("/etc/certfleet", "/etc/certfleet/a/b"), "a/b");
  EXPECT_EQ(*RelativeBeneath("/etc/certfleet", "/etc/certfleet"), "");
  EXPECT_FALSE(RelativeBeneath("/etc/certfleet", "/etc/certfleetx").ok());
  EXPECT_EQ(*RelativeBeneath("/", "/etc"), "etc");
}

// A profile whose cert_dir was swapped for a symlink to elsewhere writes nothing there.
TEST(SafePathTest, InstallRefusesPlantedSymlinkAndSentinelStays) {
  Pki pki;
  Leaf leaf = MakeLeaf(pki, 1);
  TempDir t;
  const std::string root = t.path() + "/root";
  const std::string outside = t.path() + "/victim";
  fs::create_directories(root);
  fs::create_directories(outside);
  fs::create_symlink(outside, root + "/web");
  const std::string sentinel = outside + "/web-privkey.pem";
  { std::ofstream(sentinel) << "sentinel"; }
  auto cfg =
      ConfigWith(root, "[profiles.web]\ninstaller = \"files\"\ncert_dir = \"" + root + "/web\"\n");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  auto r = InstallBundle(cfg->profiles.at("web"), MustCheck(pki, leaf), InputFor(leaf));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kForbidden);
  EXPECT_EQ(ReadAll(sentinel), "sentinel");
  EXPECT_EQ(fs::directory_iterator(outside)->path().filename(), "web-privkey.pem");
}

// A symlink planted at a file name is replaced (rename replaces the link itself), never
// followed: the link's target stays unchanged.
TEST(SafePathTest, PlantedFileSymlinkIsNotFollowed) {
  Pki pki;
  Leaf leaf = MakeLeaf(pki, 1);
  TempDir t;
  const std::string root = t.path() + "/root";
  fs::create_directories(root + "/web");
  const std::string sentinel = t.path() + "/shadow";
  { std::ofstream(sentinel) << "sentinel"; }
  fs::create_symlink(sentinel, root + "/web/web-privkey.pem");
  auto cfg =
      ConfigWith(root, "[profiles.web]\ninstaller = \"files\"\ncert_dir = \"" + root + "/web\"\n");
  ASSERT_TRUE(cfg.ok());
  auto r = InstallBundle(cfg->profiles.at("web"), MustCheck(pki, leaf), InputFor(leaf));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(ReadAll(sentinel), "sentinel");
  EXPECT_FALSE(fs::is_symlink(root + "/web/web-privkey.pem"));
  EXPECT_EQ(ModeOf(root + "/web/web-privkey.pem"), 0600u);
}

// ---------------------------------------------------------------- atomic install

struct InstallDir {
  TempDir t;
  UniqueFd fd;
  InstallDir() {
    auto r = OpenRootDir(t.path());
    CF_CHECK(r.ok());
    fd = std::move(r).value();
  }
  std::string Path(const std::string& n) const { return t.path() + "/" + n; }
  std::vector<InstallFile> Files(const std::string& cert, const std::string& key) const {
    std::vector<InstallFile> f(2);
    f[0] = {fd.get(), "cert.pem", SecretBytes::FromView(cert), 0644, {}, {}};
    f[1] = {fd.get(), "key.pem", SecretBytes::FromView(key), 0600, {}, {}};
    return f;
  }
  std::vector<FileRef> Refs() const { return {{fd.get(), "cert.pem"}, {fd.get(), "key.pem"}}; }
};

TEST(AtomicInstallTest, InstallsWithModesKeepsPrevAndRollsBack) {
  InstallDir d;
  mode_t old_umask = ::umask(0);  // a permissive umask must not widen anything
  auto t1 = InstallTransaction::Commit(d.Files("cert1", "key1"), {});
  ASSERT_TRUE(t1.ok()) << t1.error().ToString();
  EXPECT_EQ(ReadAll(d.Path("cert.pem")), "cert1");
  EXPECT_EQ(ModeOf(d.Path("key.pem")), 0600u);
  EXPECT_EQ(ModeOf(d.Path("cert.pem")), 0644u);
  ::umask(077);  // a strict umask must not narrow the final modes either
  auto t2 = InstallTransaction::Commit(d.Files("cert2", "key2"), {});
  ::umask(old_umask);
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(ModeOf(d.Path("cert.pem")), 0644u);
  EXPECT_EQ(ReadAll(d.Path("key.pem")), "key2");
  EXPECT_EQ(ReadAll(d.Path("key.pem.prev")), "key1");
  ASSERT_TRUE(t2->Rollback().ok());
  EXPECT_EQ(ReadAll(d.Path("cert.pem")), "cert1");
  EXPECT_EQ(ReadAll(d.Path("key.pem")), "key1");
  ASSERT_TRUE(t2->Rollback().ok());  // idempotent
  EXPECT_EQ(ReadAll(d.Path("key.pem")), "key1");
  // Rolling back a first install removes files that did not exist before it.
  InstallDir fresh;
  auto t3 = InstallTransaction::Commit(fresh.Files("c", "k"), {});
  ASSERT_TRUE(t3.ok());
  ASSERT_TRUE(t3->Rollback().ok());
  EXPECT_FALSE(Exists(fresh.Path("cert.pem")));
  EXPECT_FALSE(Exists(fresh.Path("key.pem")));
  // No temp or marker left behind.
  for (const auto& e : fs::directory_iterator(d.t.path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
    EXPECT_EQ(e.path().filename().string().find(".pending"), std::string::npos) << e.path();
  }
}

TEST(AtomicInstallTest, RejectsBadNames) {
  InstallDir d;
  auto f = d.Files("c", "k");
  f[1].name = "../key.pem";
  EXPECT_FALSE(InstallTransaction::Commit(std::move(f), {}).ok());
  auto g = d.Files("c", "k");
  g[1].name = "cert.pem";
  EXPECT_FALSE(InstallTransaction::Commit(std::move(g), {}).ok());
}

TEST(AtomicInstallTest, PendingMarkerBlocksUntilRecovered) {
  InstallDir d;
  ASSERT_TRUE(InstallTransaction::Commit(d.Files("c1", "k1"), {}).ok());
  AtomicInstallOptions crash;
  crash.failpoint = [](std::string_view step) {
    if (step == "rename:key.pem") throw std::runtime_error("crash");
  };
  EXPECT_THROW((void)InstallTransaction::Commit(d.Files("c2", "k2"), crash), std::runtime_error);
  // Mixed state: new cert, old key, marker present.
  EXPECT_EQ(ReadAll(d.Path("cert.pem")), "c2");
  EXPECT_EQ(ReadAll(d.Path("key.pem")), "k1");
  auto blocked = InstallTransaction::Commit(d.Files("c3", "k3"), {});
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.error().code(), ErrorCode::kFailedPrecondition);
  auto rec = RecoverInterrupted(d.Refs(), "install");
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(*rec);
  EXPECT_EQ(ReadAll(d.Path("cert.pem")), "c1");
  EXPECT_EQ(ReadAll(d.Path("key.pem")), "k1");
  EXPECT_FALSE(*RecoverInterrupted(d.Refs(), "install"));
  EXPECT_TRUE(InstallTransaction::Commit(d.Files("c3", "k3"), {}).ok());
}

// The crash-consistency invariant: the agent is SIGKILLed (here: _exit in a forked child) at
// every step of an install and of a rollback; after recovery the live key matches the live
// certificate, and it is either the complete old or the complete new pair.
TEST(AtomicInstallTest, CrashAtEveryStepLeavesAMatchingPair) {
  Pki pki;
  Leaf v1 = MakeLeaf(pki, 1);
  Leaf v2 = MakeLeaf(pki, 2);
  TempDir t;
  const std::string root = t.path();
  fs::create_directories(root + "/certs");
  fs::create_directories(root + "/keys");
  auto cfg = ConfigWith(root, "[profiles.web]\ninstaller = \"files\"\ncert_dir = \"" + root +
                                  "/certs\"\nkey_dir = \"" + root + "/keys\"\n");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  const Profile& profile = cfg->profiles.at("web");
  const CheckedBundle b1 = MustCheck(pki, v1);
  const CheckedBundle b2 = MustCheck(pki, v2);

  // Record the step names of one install + rollback.
  std::vector<std::string> steps;
  {
    InstallerOptions rec;
    rec.failpoint = [&](std::string_view s) { steps.emplace_back(s); };
    ASSERT_TRUE(InstallBundle(profile, b1, InputFor(v1)).ok());
    auto a = InstallBundle(profile, b2, InputFor(v2), rec);
    ASSERT_TRUE(a.ok()) << a.error().ToString();
    ASSERT_TRUE((*a)->Rollback().ok());
  }
  ASSERT_GE(steps.size(), 12u);

  auto live_pair = [&]() -> std::string {
    std::string chain = ReadAll(root + "/certs/web-fullchain.pem");
    BundleInput in;
    in.fullchain_pem = chain;
    in.key_pem = SecretBytes::FromString(ReadAll(root + "/keys/web-privkey.pem"));
    auto b = CheckBundle(in, pki.roots(), T0() + std::chrono::hours(24));
    if (!b.ok()) return "broken: " + b.error().message();
    return b->leaf.serial_hex();
  };

  for (const std::string& crash_at : steps) {
    SCOPED_TRACE(crash_at);
    ASSERT_TRUE(InstallBundle(profile, b1, InputFor(v1)).ok());  // start from v1
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      InstallerOptions o;
      o.failpoint = [&](std::string_view s) {
        if (s == crash_at) ::_exit(0);
      };
      auto a = InstallBundle(profile, b2, InputFor(v2), o);
      if (a.ok()) (void)(*a)->Rollback();
      ::_exit(3);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    // The live names are never missing, even before recovery.
    EXPECT_TRUE(Exists(root + "/certs/web-fullchain.pem"));
    EXPECT_TRUE(Exists(root + "/keys/web-privkey.pem"));
    ASSERT_TRUE(RecoverProfile(profile).ok());
    const std::string serial = live_pair();
    EXPECT_TRUE(serial == v1.cert.serial_hex() || serial == v2.cert.serial_hex()) << serial;
  }
}

// ---------------------------------------------------------------- bundle check

TEST(BundleCheckTest, AcceptsGoodAndRefusesBadBundles) {
  Pki pki;
  Leaf leaf = MakeLeaf(pki, 7);
  Leaf other = MakeLeaf(pki, 8);
  const TimePoint now = T0() + std::chrono::hours(24);
  ASSERT_TRUE(CheckBundle(InputFor(leaf), pki.roots(), now).ok());

  BundleInput mismatched = InputFor(leaf);
  mismatched.key_pem = other.key->ToPkcs8Pem();
  EXPECT_EQ(CheckBundle(mismatched, pki.roots(), now).error().code(), ErrorCode::kInvalidArgument);

  EXPECT_EQ(
      CheckBundle(InputFor(leaf), pki.roots(), T0() + std::chrono::hours(24 * 100)).error().code(),
      ErrorCode::kForbidden);
  EXPECT_EQ(CheckBundle(InputFor(leaf), pki.roots(), T0() - std::chrono::hours(1)).error().code(),
            ErrorCode::kForbidden);

  BundleInput two_keys = InputFor(leaf);
  two_keys.key_pem.Append(other.key->ToPkcs8Pem().view());
  EXPECT_EQ(CheckBundle(two_keys, pki.roots(), now).error().code(), ErrorCode::kMalformed);

  BundleInput leaf_last = InputFor(leaf);
  leaf_last.fullchain_pem = pki.inter.cert.ToPem() + leaf.cert.ToPem();
  EXPECT_FALSE(CheckBundle(leaf_last, pki.roots(), now).ok());

  Pki stranger;
  EXPECT_EQ(CheckBundle(InputFor(leaf), stranger.roots(), now).error().code(),
            ErrorCode::kForbidden);

  BundleInput key_in_chain = InputFor(leaf);
  key_in_chain.fullchain_pem += std::string(leaf.key->ToPkcs8Pem().view());
  EXPECT_FALSE(CheckBundle(key_in_chain, pki.roots(), now).ok());
}

TEST(BundleCheckTest, DecryptsEncryptedKeyInMemory) {
  Pki pki;
  Leaf leaf = MakeLeaf(pki, 9);
  const TimePoint now = T0() + std::chrono::hours(24);
  SecretBytes pass = SecretBytes::FromView("correct horse battery staple");
  BundleInput in;
  in.fullchain_pem = leaf.fullchain;
  in.key_pem = SecretBytes::FromString(*leaf.key->ToEncryptedPkcs8Pem(pass, {10000}));
  in.passphrase = pass.Clone();
  EXPECT_TRUE(CheckBundle(in, pki.roots(), now).ok());
  in.passphrase = SecretBytes::FromView("wrong passphrase");
  EXPECT_EQ(CheckBundle(in, pki.roots(), now).error().code(), ErrorCode::kUnauthorized);
  in.passphrase.reset();
  EXPECT_FALSE(CheckBundle(in, pki.roots(), now).ok());
}

// ---------------------------------------------------------------- run_command

TEST(RunCommandTest, ArgumentsAreLiteral) {
  auto r = RunCommand({"/bin/echo", "$(id)", ";", "reboot", "`id`", "a b"});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "$(id) ; reboot `id` a b\n");
}

TEST(RunCommandTest, MinimalEnvironmentAndExitCodes) {
  ::setenv("CERTFLEET_TEST_SECRET", "should-not-leak", 1);
  auto env = RunCommand({"/usr/bin/env"});
  ::unsetenv("CERTFLEET_TEST_SECRET");
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->out.rfind("PATH=", 0), 0u);
  EXPECT_EQ(env->out.find("CERTFLEET_TEST_SECRET"), std::string::npos);
  auto f = RunCommand({"/bin/false"});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->exit_code, 1);
  EXPECT_FALSE(RunChecked("false", {"/bin/false"}).ok());
  EXPECT_FALSE(RunCommand({"echo", "x"}).ok());  // relative program
  EXPECT_FALSE(RunCommand({}).ok());
  EXPECT_FALSE(RunCommand({"/nonexistent/program"}).ok());
}

TEST(RunCommandTest, TimeoutKillsProcessGroup) {
  CommandOptions o;
  o.timeout = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  auto r = RunCommand({"/bin/sleep", "10"}, o);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kTimeout);
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST(RunCommandTest, OutputIsBounded) {
  CommandOptions o;
  o.max_output = 1000;
  auto r = RunCommand({"/usr/bin/head", "-c", "100000", "/dev/zero"}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out.size(), 1000u);
}

// ---------------------------------------------------------------- installers

struct InstallerFixture {
  Pki pki;
  Leaf v1 = MakeLeaf(pki, 1);
  Leaf v2 = MakeLeaf(pki, 2);
  TempDir t;
  std::string root = t.path();
  InstallerFixture() { fs::create_directories(root + "/tls"); }
  Profile Make(const std::string& body) {
    auto cfg = ConfigWith(root, "[profiles.p]\ncert_dir = \"" + root + "/tls\"\n" + body);
    CF_CHECK(cfg.ok());
    return cfg->profiles.at("p");
  }
};

TEST(InstallersTest, FilesLayout) {
  InstallerFixture f;
  Profile p = f.Make("installer = \"files\"\nname = \"app\"\n");
  auto a = InstallBundle(p, MustCheck(f.pki, f.v1), InputFor(f.v1));
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ((*a)->paths().size(), 3u);
  EXPECT_EQ(ReadAll(f.root + "/tls/app-fullchain.pem"), f.v1.fullchain);
  EXPECT_EQ(ReadAll(f.root + "/tls/app-chain.pem"), f.pki.inter.cert.ToPem());
  EXPECT_EQ(ReadAll(f.root + "/tls/app-privkey.pem"), f.v1.key->ToPkcs8Pem().view());
  EXPECT_EQ(ModeOf(f.root + "/tls/app-privkey.pem"), 0600u);
  EXPECT_EQ(ModeOf(f.root + "/tls/app-fullchain.pem"), 0644u);
}

TEST(InstallersTest, EncryptedKeyWithPassphraseFile) {
  InstallerFixture f;
  Profile p = f.Make("installer = \"files\"\nkey_encrypted = true\n");
  auto a = InstallBundle(p, MustCheck(f.pki, f.v1), InputFor(f.v1));
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ(ModeOf(f.root + "/tls/p-passphrase"), 0600u);
  SecretBytes pass = SecretBytes::FromString(ReadAll(f.root + "/tls/p-passphrase"));
  auto key = crypto::PrivateKey::FromEncryptedPem(ReadAll(f.root + "/tls/p-privkey.pem"), pass);
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(f.v1.cert.MatchesKey(*key));
}

TEST(InstallersTest, HaproxyAndPkcs12) {
  InstallerFixture f;
  Profile h = f.Make("installer = \"haproxy\"\n");
  ASSERT_TRUE(InstallBundle(h, MustCheck(f.pki, f.v1), InputFor(f.v1)).ok());
  const std::string combined = ReadAll(f.root + "/tls/p.pem");
  EXPECT_EQ(ModeOf(f.root + "/tls/p.pem"), 0600u);
  EXPECT_EQ(combined, f.v1.fullchain + std::string(f.v1.key->ToPkcs8Pem().view()));

  InstallerFixture g;
  Profile p = g.Make("installer = \"pkcs12\"\n");
  ASSERT_TRUE(InstallBundle(p, MustCheck(g.pki, g.v1), InputFor(g.v1)).ok());
  EXPECT_EQ(ModeOf(g.root + "/tls/p.p12"), 0600u);
  auto parsed = crypto::ParsePkcs12(ReadAll(g.root + "/tls/p.p12"),
                                    SecretBytes::FromString(ReadAll(g.root + "/tls/p-passphrase")));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(parsed->leaf_der, g.v1.cert.der());
  EXPECT_EQ(parsed->chain_der.size(), 1u);
}

TEST(InstallersTest, ExecGetsPathsAndFailureRollsBack) {
  InstallerFixture f;
  Profile ok = f.Make("installer = \"exec\"\nexec = [\"/bin/ls\"]\n");
  ASSERT_TRUE(InstallBundle(ok, MustCheck(f.pki, f.v1), InputFor(f.v1)).ok());
  Profile bad = f.Make("installer = \"exec\"\nexec = [\"/bin/false\"]\n");
  auto r = InstallBundle(bad, MustCheck(f.pki, f.v2), InputFor(f.v2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ReadAll(f.root + "/tls/p-fullchain.pem"), f.v1.fullchain);  // rolled back
}

TEST(InstallersTest, FailedReloadOrVerifyRollsBack) {
  InstallerFixture f;
  Profile p = f.Make("installer = \"nginx\"\n");
  ASSERT_TRUE(InstallBundle(p, MustCheck(f.pki, f.v1), InputFor(f.v1)).ok());
  Profile failing = f.Make("installer = \"nginx\"\ntest = [\"/bin/false\"]\n");
  EXPECT_FALSE(InstallBundle(failing, MustCheck(f.pki, f.v2), InputFor(f.v2)).ok());
  EXPECT_EQ(ReadAll(f.root + "/tls/p-fullchain.pem"), f.v1.fullchain);

  Profile verify = f.Make("installer = \"nginx\"\nverify_address = \"127.0.0.1:1\"\n");
  InstallerOptions o;
  int calls = 0;
  o.fetch_serial = [&](const std::string&, const std::string&) -> Result<std::string> {
    ++calls;
    return f.v1.cert.serial_hex();  // the server keeps serving the old certificate
  };
  o.verify_attempts = 3;
  o.verify_interval = std::chrono::milliseconds(1);
  auto r = InstallBundle(verify, MustCheck(f.pki, f.v2), InputFor(f.v2), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(calls, 3);
  EXPECT_NE(r.error().message().find("expected serial"), std::string::npos);
  EXPECT_EQ(ReadAll(f.root + "/tls/p-fullchain.pem"), f.v1.fullchain);

  // A reload in progress: an old worker answers once after the first good handshake. Success
  // needs three new-serial handshakes in a row, so the stray old answer resets the count.
  std::vector<std::string> answers = {f.v2.cert.serial_hex(), f.v1.cert.serial_hex(),
                                      f.v2.cert.serial_hex(), f.v2.cert.serial_hex(),
                                      f.v2.cert.serial_hex()};
  size_t next = 0;
  InstallerOptions flapping;
  flapping.fetch_serial = [&](const std::string&, const std::string&) -> Result<std::string> {
    return answers[std::min(next++, answers.size() - 1)];
  };
  flapping.verify_interval = std::chrono::milliseconds(1);
  ASSERT_TRUE(InstallBundle(verify, MustCheck(f.pki, f.v2), InputFor(f.v2), flapping).ok());
  EXPECT_EQ(next, 5u);
  EXPECT_EQ(ReadAll(f.root + "/tls/p-fullchain.pem"), f.v2.fullchain);
}

}  // namespace
}  // namespace certfleet::agent
