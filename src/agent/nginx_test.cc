// A real nginx on a free loopback port, started from a temp prefix: install, test, reload and
// verify over TLS that the new serial is served, then roll back and see the old serial again.
// Skipped when /usr/sbin/nginx is absent.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/installers.h"
#include "agent/run_command.h"
#include "agent/test_bundles.h"
#include "agent/tls_verify.h"

namespace certfleet::agent {
namespace {

using namespace testing;  // NOLINT
namespace fs = std::filesystem;
constexpr char kNginx[] = "/usr/sbin/nginx";

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  CF_CHECK(fd >= 0);
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CF_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  CF_CHECK(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Stops the nginx started from `dir` when the test ends, pass or fail.
struct NginxGuard {
  std::string dir;
  bool started = false;
  ~NginxGuard() {
    if (started) {
      (void)RunCommand({kNginx, "-p", dir, "-c", dir + "/nginx.conf", "-s", "stop"});
    }
  }
};

Result<std::string> WaitForSerial(const std::string& address, const std::string& want) {
  std::string last;
  for (int i = 0; i < 100; ++i) {
    auto s = FetchServedSerial(address, "app.example.test");
    if (s.ok() && *s == want) return *s;
    last = s.ok() ? *s : s.error().message();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Error(ErrorCode::kTimeout, "still served: " + last);
}

TEST(NginxInstallTest, ReloadVerifyAndRollBack) {
  if (!fs::exists(kNginx)) GTEST_SKIP() << "nginx not installed";
  Pki pki;
  Leaf v1 = MakeLeaf(pki, 0x101);
  Leaf v2 = MakeLeaf(pki, 0x202);
  x509::testing::TempDir t;
  const std::string dir = t.path();
  fs::create_directories(dir + "/tls/private");
  fs::create_directories(dir + "/logs");
  const int port = FreePort();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  {
    std::ofstream conf(dir + "/nginx.conf");
    // As root, "user root;" keeps the workers able to use the temp prefix; unprivileged, nginx
    // ignores the user directive's absence and runs as the caller.
    if (::geteuid() == 0) conf << "user root;\n";
    conf << "worker_processes 1;\npid " << dir << "/nginx.pid;\nerror_log " << dir
         << "/logs/error.log;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n"
         << "  client_body_temp_path " << dir << "/tmp_body;\n  proxy_temp_path " << dir
         << "/tmp_proxy;\n  fastcgi_temp_path " << dir << "/tmp_fcgi;\n  uwsgi_temp_path " << dir
         << "/tmp_uwsgi;\n  scgi_temp_path " << dir << "/tmp_scgi;\n  server {\n    listen "
         << address << " ssl;\n    server_name app.example.test;\n    ssl_certificate " << dir
         << "/tls/app-fullchain.pem;\n    ssl_certificate_key " << dir
         << "/tls/private/app-privkey.pem;\n    return 200 \"ok\";\n  }\n}\n";
  }
  const std::string nginx_args = "\"-p\", \"" + dir + "\", \"-c\", \"" + dir + "/nginx.conf\"";
  const std::string base = "installer = \"nginx\"\ncert_dir = \"" + dir + "/tls\"\nkey_dir = \"" +
                           dir + "/tls/private\"\nname = \"app\"\ntest = [\"" + kNginx +
                           "\", \"-t\", \"-q\", " + nginx_args + "]\n";
  const std::string web = base + "reload = [\"" + kNginx + "\", \"-s\", \"reload\", " + nginx_args +
                          "]\nreload_timeout = \"20s\"\nverify_address = \"" + address +
                          "\"\nverify_sni = \"app.example.test\"\n";
  auto cfg = ConfigWith(dir, "[profiles.first]\n" + base + "\n[profiles.web]\n" + web +
                                 "\n[profiles.keep]\n" + web + "keep_previous = true\n");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();

  // First install (nothing to reload yet), then start nginx on it.
  auto first = InstallBundle(cfg->profiles.at("first"), MustCheck(pki, v1), InputFor(v1));
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  NginxGuard guard{dir};
  auto start = RunCommand({kNginx, "-p", dir, "-c", dir + "/nginx.conf"});
  ASSERT_TRUE(start.ok()) << start.error().ToString();
  ASSERT_EQ(start->exit_code, 0) << start->err;
  guard.started = true;
  auto s1 = WaitForSerial(address, v1.cert.serial_hex());
  ASSERT_TRUE(s1.ok()) << s1.error().ToString();

  // The renewal: install, nginx -t, reload, and InstallBundle itself waits for the new serial.
  auto second = InstallBundle(cfg->profiles.at("web"), MustCheck(pki, v2), InputFor(v2));
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  auto s2 = FetchServedSerial(address, "app.example.test");
  ASSERT_TRUE(s2.ok()) << s2.error().ToString();
  EXPECT_EQ(*s2, v2.cert.serial_hex());

  // Rolling back restores the files and reloads: the old serial is served again.
  ASSERT_TRUE((*second)->Rollback().ok());
  auto back = WaitForSerial(address, v1.cert.serial_hex());
  EXPECT_TRUE(back.ok()) << back.error().ToString();

  // Issue #13: once an install is final, the previous private key goes (certificates stay)...
  const std::string prev_key = dir + "/tls/private/app-privkey.pem.prev";
  auto third = InstallBundle(cfg->profiles.at("web"), MustCheck(pki, v2), InputFor(v2));
  ASSERT_TRUE(third.ok()) << third.error().ToString();
  ASSERT_TRUE(fs::exists(prev_key));  // still there while a rollback may come
  (*third)->RemovePreviousKeys();
  EXPECT_FALSE(fs::exists(prev_key));
  EXPECT_TRUE(fs::exists(dir + "/tls/app-fullchain.pem.prev"));
  // ... unless the profile keeps it; then a rollback still restores the old pair.
  auto fourth = InstallBundle(cfg->profiles.at("keep"), MustCheck(pki, v1), InputFor(v1));
  ASSERT_TRUE(fourth.ok()) << fourth.error().ToString();
  (*fourth)->RemovePreviousKeys();
  EXPECT_TRUE(fs::exists(prev_key));
  ASSERT_TRUE((*fourth)->Rollback().ok());
  EXPECT_TRUE(WaitForSerial(address, v2.cert.serial_hex()).ok());
}

}  // namespace
}  // namespace certfleet::agent
