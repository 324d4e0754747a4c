// certfleetd's configuration file (issue #13): the server-side sections and the rule that only
// root or certfleetd's own user may write it.
#include "config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace certfleet::daemon {
namespace {

namespace fs = std::filesystem;

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "cf-config-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Write(const std::string& text, mode_t mode = 0600) {
    const std::string path = dir_ + "/certfleetd.toml";
    std::ofstream(path, std::ios::trunc) << text;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }
  std::string dir_;
};

TEST_F(ConfigFileTest, ReadsServerSideSections) {
  Config c;
  Status st = LoadConfigFile(Write(R"(
max_connections = 100
max_connections_per_address = 7
drain_period = "5s"

[exec_solvers.corp-dns]
program = "/usr/local/lib/certfleet/dns-hook"   # absolute
args = ["--zone", "example.com"]
timeout = "90s"
accounts = ["team-a", "team-b"]

[[outbound.allow]]
accounts = ["default"]
networks = ["127.0.0.0/8", "::1/128", "10.1.0.0/16"]
)"),
                             c);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(c.max_connections, 100u);
  EXPECT_EQ(c.max_connections_per_address, 7u);
  EXPECT_EQ(c.drain_period, "5s");
  ASSERT_EQ(c.exec_solvers.count("corp-dns"), 1u);
  const acme::ExecProgram& p = c.exec_solvers.at("corp-dns");
  EXPECT_EQ(p.program, "/usr/local/lib/certfleet/dns-hook");
  EXPECT_EQ(p.args, (std::vector<std::string>{"--zone", "example.com"}));
  EXPECT_EQ(p.timeout, std::chrono::seconds(90));
  EXPECT_TRUE(p.AllowsAccount("team-b"));
  EXPECT_FALSE(p.AllowsAccount("team-c"));
  ASSERT_EQ(c.outbound_allow.size(), 1u);
  net::OutboundPolicy policy(c.outbound_allow);
  EXPECT_TRUE(policy.Allows("default", "10.1.4.5"));
  EXPECT_FALSE(policy.Allows("team-a", "127.0.0.1"));
}

TEST_F(ConfigFileTest, DefaultsAreSafe) {
  Config c;
  EXPECT_EQ(c.max_connections, 4096u);
  EXPECT_EQ(c.max_connections_per_address, 256u);
  EXPECT_TRUE(c.drain_period.empty());  // a single server stops at once
  EXPECT_TRUE(c.exec_solvers.empty());
  EXPECT_TRUE(c.outbound_allow.empty());
}

TEST_F(ConfigFileTest, RefusesBadSections) {
  for (const char* text : {
           "[exec_solvers.x]\nprogram = \"relative/hook\"\naccounts = [\"*\"]\n",
           "[exec_solvers.x]\nprogram = \"/bin/true\"\n",  // no accounts
           "[exec_solvers.x]\nprogram = \"/bin/true\"\naccounts = [\"*\"]\nshell = true\n",
           "[exec_solvers.x]\nprogram = \"/bin/true\"\naccounts = [\"*\"]\ntimeout = 5\n",
           "[[outbound.allow]]\naccounts = [\"*\"]\nnetworks = [\"10.1.2.3/16\"]\n",
           "[[outbound.allow]]\naccounts = [\"*\"]\n",
           "[outbound]\ndeny = []\n",
           "max_connections = 0\n",
           "max_connections_per_address = -1\n",
           "unknown_key = 1\n",
       }) {
    Config c;
    EXPECT_FALSE(LoadConfigFile(Write(text), c).ok()) << text;
  }
}

// Issue #15: replicas behind a load balancer.
TEST_F(ConfigFileTest, ReadsTrustedProxiesAndServerNames) {
  Config c;
  Status st = LoadConfigFile(Write(R"(
trusted_proxies = ["10.0.0.0/24", "2001:db8::5", "127.0.0.1/32"]
server_names = ["Certfleet.Example.com", "192.0.2.10", "2001:DB8:0::10", "certfleet.example.com"]
)"),
                             c);
  ASSERT_TRUE(st.ok()) << st.error().message();
  ASSERT_EQ(c.trusted_proxies.size(), 3u);
  EXPECT_EQ(c.trusted_proxies[0].ToString(), "10.0.0.0/24");
  EXPECT_TRUE(c.trusted_proxies[1].Contains("2001:db8::5"));
  EXPECT_FALSE(c.trusted_proxies[1].Contains("2001:db8::6"));
  EXPECT_TRUE(c.trusted_proxies[2].Contains("127.0.0.1"));
  // Lower-cased, canonical, and each once.
  EXPECT_EQ(c.server_names,
            (std::vector<std::string>{"certfleet.example.com", "192.0.2.10", "2001:db8::10"}));
}

TEST_F(ConfigFileTest, NoProxyAndNoExtraNamesByDefault) {
  Config c;
  EXPECT_TRUE(c.trusted_proxies.empty());  // nobody may speak for another address
  EXPECT_TRUE(c.server_names.empty());
}

TEST_F(ConfigFileTest, RefusesBadTrustedProxiesAndServerNames) {
  for (const char* text : {
           "trusted_proxies = \"10.0.0.0/24\"\n",    // not a list
           "trusted_proxies = [\"10.0.0.1/24\"]\n",  // host bits below the prefix
           "trusted_proxies = [\"10.0.0.0/33\"]\n",
           "trusted_proxies = [\"haproxy.example.com\"]\n",
           "trusted_proxies = [42]\n",
           "server_names = [\"*.example.com\"]\n",
           "server_names = [\"localhost\"]\n",  // one label: the CA's lint refuses it
           "server_names = [\"certfleet.example.com.\"]\n",
           "server_names = [\"under_score.example.com\"]\n",
           "server_names = [\"\"]\n",
           "server_names = [\"10.0.0.1/32\"]\n",
           "server_names = \"certfleet.example.com\"\n",
       }) {
    Config c;
    EXPECT_FALSE(LoadConfigFile(Write(text), c).ok()) << text;
  }
}

// Issue #16: the ACME server's validator settings and its [acme_server] section.
TEST_F(ConfigFileTest, ReadsTheAcmeServerSections) {
  Config c;
  Status st = LoadConfigFile(Write(R"(
acme_http01_port = 5002
acme_tls_alpn01_port = 5001
acme_resolver = "127.0.0.1:5353"
[network]
allow_private = ["127.0.0.0/8", "10.20.0.0/16"]
[acme_server]
eab_required = false
open_account = "lab"
open_principal = "bot"
authorize_claimed_domains = true
caa_identities = ["certfleet.example.com"]
base_url = "https://certfleet.example.com:8443"
orders_per_hour = 10
default_profile = "short-lived"
)"),
                             c);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(c.acme_http01_port, 5002);
  EXPECT_EQ(c.acme_tls_alpn01_port, 5001);
  EXPECT_EQ(c.acme_resolver, "127.0.0.1:5353");
  ASSERT_EQ(c.network_allow_private.size(), 2u);
  EXPECT_TRUE(c.network_allow_private[0].Contains("127.0.0.1"));
  EXPECT_FALSE(c.acme_server.eab_required);
  EXPECT_EQ(c.acme_server.open_account, "lab");
  EXPECT_EQ(c.acme_server.open_principal, "bot");
  EXPECT_TRUE(c.acme_server.authorize_claimed_domains);
  EXPECT_EQ(c.acme_server.caa_identities, std::vector<std::string>{"certfleet.example.com"});
  EXPECT_EQ(c.acme_server.base_url, "https://certfleet.example.com:8443");
  EXPECT_EQ(c.acme_server.orders_per_hour, 10);
  EXPECT_EQ(c.acme_server.pending_authorizations, 1000);
  EXPECT_EQ(c.acme_server.default_profile, "short-lived");
}

TEST_F(ConfigFileTest, AcmeServerDefaultsAreSafe) {
  Config c;
  EXPECT_TRUE(c.acme_server.enabled);
  EXPECT_TRUE(c.acme_server.eab_required);
  EXPECT_FALSE(c.acme_server.authorize_claimed_domains);
  EXPECT_TRUE(c.network_allow_private.empty());  // the validator reaches public addresses only
  EXPECT_EQ(c.acme_http01_port, 80);
  EXPECT_EQ(c.acme_tls_alpn01_port, 443);
}

TEST_F(ConfigFileTest, RefusesBadAcmeServerSettings) {
  for (const char* text : {
           "[network]\nallow_private = [\"127.0.0.1/8\"]\n",
           "[network]\nallow = [\"127.0.0.0/8\"]\n",
           "[acme_server]\neab_required = false\n",  // to whom would accounts bind?
           "[acme_server]\nbase_url = \"http://certfleet.example.com\"\n",
           "[acme_server]\nbase_url = \"https://certfleet.example.com/\"\n",
           "[acme_server]\norders_per_hour = 0\n",
           "[acme_server]\ndefault_profile = \"api-server\"\n",  // not offered
           "[acme_server]\ndefault_profile = \"code-signing\"\n",
           "[acme_server]\nwhatever = 1\n",
           "acme_http01_port = 70000\n",
       }) {
    Config c;
    EXPECT_FALSE(LoadConfigFile(Write(text), c).ok()) << text;
  }
}

TEST_F(ConfigFileTest, ReadsTheUiSection) {
  Config defaults;
  EXPECT_EQ(defaults.ui.dir, "");  // no console unless one is installed
  EXPECT_EQ(defaults.ui.session_idle, "15m");
  EXPECT_EQ(defaults.ui.session_max, "8h");
  Config c;
  Status st = LoadConfigFile(Write(R"(
[ui]
dir = "/usr/share/certfleet/ui"
session_idle = "10m"
session_max = "4h"
)"),
                             c);
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_EQ(c.ui.dir, "/usr/share/certfleet/ui");
  EXPECT_EQ(c.ui.session_idle, "10m");
  EXPECT_EQ(c.ui.session_max, "4h");
  Config bad;
  EXPECT_FALSE(LoadConfigFile(Write("[ui]\ndirectory = \"/x\"\n"), bad).ok());
  EXPECT_FALSE(LoadConfigFile(Write("[ui]\nsession_idle = 900\n"), bad).ok());
  EXPECT_FALSE(LoadConfigFile(Write("ui = \"/x\"\n"), bad).ok());
}

TEST(ConfigFlags, AddTrustedProxyAndServerName) {
  Config c;
  EXPECT_TRUE(AddTrustedProxy("127.0.0.1/32", c).ok());
  EXPECT_TRUE(AddTrustedProxy("::1", c).ok());
  EXPECT_FALSE(AddTrustedProxy("127.0.0.1/8", c).ok());
  EXPECT_FALSE(AddTrustedProxy("", c).ok());
  EXPECT_EQ(c.trusted_proxies.size(), 2u);
  EXPECT_TRUE(AddServerName("lb.example.test", c).ok());
  EXPECT_TRUE(AddServerName("::ffff:127.0.0.2", c).ok());
  EXPECT_FALSE(AddServerName("lb", c).ok());
  EXPECT_FALSE(AddServerName("-lb.example.test", c).ok());
  EXPECT_EQ(c.server_names, (std::vector<std::string>{"lb.example.test", "::ffff:127.0.0.2"}));
}

TEST_F(ConfigFileTest, RefusesAFileOthersCanWrite) {
  for (mode_t mode : {0620, 0602, 0666, 0660}) {
    Config c;
    Status st = LoadConfigFile(Write("log_level = \"info\"\n", mode), c);
    ASSERT_FALSE(st.ok()) << std::oct << mode;
    EXPECT_NE(st.error().message().find("writable by group or others"), std::string::npos);
  }
  for (mode_t mode : {0600, 0644, 0400, 0640}) {
    Config c;
    EXPECT_TRUE(LoadConfigFile(Write("log_level = \"info\"\n", mode), c).ok()) << std::oct << mode;
  }
}

TEST_F(ConfigFileTest, OwnerMustBeRootOrTheServiceUser) {
  EXPECT_TRUE(CheckConfigFilePermissions("f", S_IFREG | 0600, 0, 1000).ok());
  EXPECT_TRUE(CheckConfigFilePermissions("f", S_IFREG | 0600, 1000, 1000).ok());
  auto other = CheckConfigFilePermissions("f", S_IFREG | 0600, 1001, 1000);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message().find("owned by uid 1001"), std::string::npos);
  EXPECT_FALSE(CheckConfigFilePermissions("f", S_IFREG | 0660, 0, 0).ok());
  EXPECT_FALSE(CheckConfigFilePermissions("f", S_IFDIR | 0700, 0, 0).ok());
  if (::geteuid() == 0) {
    // As root the real check can be exercised: a file owned by another user is refused.
    Config c;
    const std::string path = Write("log_level = \"info\"\n");
    ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
    EXPECT_FALSE(LoadConfigFile(path, c).ok());
  }
}

}  // namespace
}  // namespace certfleet::daemon
