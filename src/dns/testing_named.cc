#include "dns/testing_named.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/encoding.h"
#include "base/random.h"
#include "dns/transport.h"

extern char** environ;

namespace certfleet::dns::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr auto kStartTimeout = std::chrono::seconds(15);
constexpr auto kStopTimeout = std::chrono::seconds(5);
constexpr int kPortAttempts = 3;

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Internal("cannot write " + path);
  return Ok();
}

// named from PATH, else the Debian location (/usr/sbin is not on every PATH).
std::string FindNamed() {
  std::string path = getenv("PATH") != nullptr ? getenv("PATH") : "";
  path += ":/usr/sbin:/sbin";
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/named";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// A port that was free on 127.0.0.1 a moment ago (TCP and UDP).
Result<uint16_t> FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Internal("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return Internal("cannot bind a loopback port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::string KeyText(const std::string& name, const std::string& algorithm,
                    const std::string& secret) {
  return "key \"" + name + "\" {\n\talgorithm " + algorithm + ";\n\tsecret \"" + secret +
         "\";\n};\n";
}

std::string ZoneText(const TestZone& zone) {
  // SOA minimum 1 s: negative answers are not cached for long.
  return "$TTL 60\n@ IN SOA ns1." + zone.name + ". hostmaster." + zone.name +
         ". 1 3600 600 86400 1\n@ IN NS ns1." + zone.name + ".\n@ IN A 127.0.0.1\nns1 IN A " +
         "127.0.0.1\n" + zone.extra_records + "\n";
}

std::string ReadTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > max_bytes) text = text.substr(text.size() - max_bytes);
  return text;
}

}  // namespace

Result<std::unique_ptr<TestingNamed>> TestingNamed::Start(std::vector<TestZone> zones) {
  std::unique_ptr<TestingNamed> named(new TestingNamed());
  named->zones_ = std::move(zones);
  std::string tmpl = (fs::temp_directory_path() / "cf-named-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return Internal("mkdtemp failed");
  named->dir_ = tmpl;
  CF_TRY(named->Launch());
  return named;
}

Status TestingNamed::Launch() {
  const std::string named_path = FindNamed();
  if (named_path.empty()) {
    return FailedPrecondition(
        "BIND9 `named` is not installed (not on PATH nor in /usr/sbin): these tests need a real "
        "named; install bind9 (scripts/install-deps.sh test)");
  }
  const std::string& d = dir_;
  Random& random = SystemRandomSource();
  std::string keys;
  struct Key {
    std::string name, algorithm, file;
  };
  const Key key_list[] = {{"acme-update", "hmac-sha256", key_file_sha256()},
                          {"acme-update-512", "hmac-sha512", key_file_sha512()}};
  for (const Key& k : key_list) {
    std::string text = KeyText(k.name, k.algorithm, Base64Encode(random.Bytes(32)));
    CF_TRY(WriteText(k.file, text));
    keys += text;
  }
  CF_TRY(WriteText(d + "/keys.conf", keys));
  for (const TestZone& z : zones_) CF_TRY(WriteText(d + "/" + z.name + ".zone", ZoneText(z)));

  const bool root = geteuid() == 0;
  std::string last_log;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    CF_ASSIGN_OR_RETURN(port_, FreePort());
    std::string conf = "options {\n  directory \"" + d + "\";\n  pid-file \"" + d +
                       "/named.pid\";\n  session-keyfile \"" + d +
                       "/session.key\";\n  managed-keys-directory \"" + d +
                       "\";\n  listen-on port " + std::to_string(port_) +
                       " { 127.0.0.1; };\n  listen-on-v6 { none; };\n  recursion no;\n"
                       "  dnssec-validation no;\n  allow-transfer { none; };\n  notify no;\n};\n"
                       "controls { };\nlogging {\n  channel to_file { file \"" +
                       d +
                       "/named.log\"; severity info; print-time yes; };\n"
                       "  category default { to_file; };\n  category lame-servers { null; };\n"
                       "};\ninclude \"" +
                       d + "/keys.conf\";\n";
    for (const TestZone& z : zones_) {
      conf += "zone \"" + z.name + "\" {\n  type primary;\n  file \"" + d + "/" + z.name +
              ".zone\";\n  update-policy { grant acme-update zonesub TXT; "
              "grant acme-update-512 zonesub TXT; };\n};\n";
    }
    CF_TRY(WriteText(d + "/named.conf", conf));
    if (root) {
      // named drops root for `bind` after reading its configuration; journals and the log are
      // written as `bind`.
      passwd* pw = getpwnam("bind");
      if (pw == nullptr) return FailedPrecondition("user `bind` does not exist (install bind9)");
      std::error_code ec;
      if (chown(d.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        return Internal("cannot chown " + d + " to bind");
      }
      for (const auto& entry : fs::recursive_directory_iterator(d, ec)) {
        if (chown(entry.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) {
          return Internal("cannot chown " + entry.path().string() + " to bind");
        }
      }
    }

    std::vector<std::string> args = {named_path, "-c", d + "/named.conf", "-f", "-n", "1"};
    if (root) {
      args.push_back("-u");
      args.push_back("bind");
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string stderr_path = d + "/named.stderr.log";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    int rc = posix_spawn(&pid_, named_path.c_str(), &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      pid_ = -1;
      return FailedPrecondition("cannot start " + named_path + ": " + std::strerror(rc));
    }

    // Ready when an SOA query over TCP answers NOERROR; bounded.
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    bool exited = false;
    bool collision = false;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited = true;
        pid_ = -1;
        break;
      }
      Result<internal::PktPtr> q = internal::NewQuery(zones_.front().name, LDNS_RR_TYPE_SOA);
      if (q.ok()) {
        Result<internal::Response> r = internal::Exchange(server(), **q, milliseconds(200));
        if (r.ok() && ldns_pkt_get_rcode(r->pkt.get()) == LDNS_RCODE_NOERROR) return Ok();
      }
      std::string log = ReadTail(d + "/named.log", 20000);
      // named keeps running when it cannot bind its listen-on address.
      if (log.find("address in use") != std::string::npos) {
        collision = true;
        break;
      }
      std::this_thread::sleep_for(milliseconds(20));  // bounded poll of a readiness check
    }
    last_log = LogTail();
    Stop();
    if (!collision || exited) break;
    std::filesystem::remove(d + "/named.log");
  }
  return Unavailable("named did not answer on 127.0.0.1:" + std::to_string(port_) + "\n" +
                     last_log);
}

std::string TestingNamed::LogTail() const {
  return "named log:\n" + ReadTail(dir_ + "/named.log", 3000) + "\nnamed stderr:\n" +
         ReadTail(dir_ + "/named.stderr.log", 2000);
}

void TestingNamed::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || r < 0) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

TestingNamed::~TestingNamed() {
  Stop();
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

}  // namespace certfleet::dns::testing
