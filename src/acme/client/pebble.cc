#include "acme/client/pebble.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "net/https_client.h"
#include "net/test_tls.h"

extern char** environ;

namespace certfleet::acme::testing {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(20);
constexpr auto kStopTimeout = std::chrono::seconds(5);
constexpr auto kPoll = std::chrono::milliseconds(50);

std::string FindOnPath(const std::string& name) {
  const char* path = getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

Status WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) return Internal("cannot write " + path);
  return Ok();
}

Result<std::string> HttpsGet(const std::string& ca_pem, const std::string& url) {
  net::ClientOptions opts;
  opts.trust_pem = ca_pem;
  opts.timeout = std::chrono::milliseconds(2000);
  CF_ASSIGN_OR_RETURN(auto client, net::HttpsClient::Create(std::move(opts)));
  CF_ASSIGN_OR_RETURN(net::HttpResponse r, client->Do("GET", url, {}, ""));
  if (r.status != 200) return Unavailable(url + " answered " + std::to_string(r.status));
  return r.body;
}

}  // namespace

Result<std::unique_ptr<Pebble>> Pebble::Start(
    const std::map<std::string, std::string>& env,
    const std::map<std::string, std::string>& eab_mac_keys,
    const std::vector<std::string>& extra_args, uint16_t http_port) {
  std::string binary = FindOnPath("pebble");
  if (binary.empty()) {
    return FailedPrecondition(
        "the pebble binary is not on PATH: the ACME tests need Let's Encrypt's test CA "
        "(Debian package 'pebble', installed by scripts/install-deps.sh test)");
  }
  std::unique_ptr<Pebble> p(new Pebble());
  char tmpl[] = "/tmp/cf-acme-pebble-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return Internal("mkdtemp failed");
  p->dir_ = tmpl;
  p->extra_args_ = extra_args;
  p->http_port_ = http_port;
  net::testing::TestCert ca = net::testing::MakeCa("certfleet acme_test Pebble listener CA");
  net::testing::TestCert leaf =
      net::testing::MakeLeaf(ca, "localhost", "IP:127.0.0.1,DNS:localhost", /*server=*/true);
  p->listener_ca_pem_ = ca.cert_pem;
  if (eab_mac_keys.empty()) {
    p->eab_json_ = R"("externalAccountBindingRequired": false)";
  } else {
    // Test-chosen kids and base64url keys: nothing to escape.
    p->eab_json_ = R"("externalAccountBindingRequired": true, "externalAccountMACKeys": {)";
    const char* sep = "";
    for (const auto& [kid, key] : eab_mac_keys) {
      p->eab_json_ += std::string(sep) + "\"" + kid + "\": \"" + key + "\"";
      sep = ", ";
    }
    p->eab_json_ += "}";
  }
  CF_TRY(WriteFile(p->dir_ + "/cert.pem", leaf.cert_pem));
  CF_TRY(WriteFile(p->dir_ + "/key.pem", leaf.key_pem));
  chmod((p->dir_ + "/key.pem").c_str(), 0600);
  // Ports are picked free and then handed to pebble, so another process may take one in
  // between: retry a few times when pebble reports the address in use.
  Status last = Ok();
  for (int attempt = 0; attempt < 4; ++attempt) {
    last = p->Launch(env, binary);
    if (last.ok()) return p;
    p->Stop();
    if (p->LogTail().find("address already in use") == std::string::npos) break;
  }
  return std::move(last).error();
}

Status Pebble::Launch(const std::map<std::string, std::string>& env, const std::string& binary) {
  port_ = net::testing::UnusedPort();
  mgmt_port_ = net::testing::UnusedPort();
  while (mgmt_port_ == port_) mgmt_port_ = net::testing::UnusedPort();
  std::string config = R"({"pebble": {"listenAddress": "127.0.0.1:)" + std::to_string(port_) +
                       R"(", "managementListenAddress": "127.0.0.1:)" + std::to_string(mgmt_port_) +
                       R"(", "certificate": ")" + dir_ + R"(/cert.pem", "privateKey": ")" + dir_ +
                       R"(/key.pem", "httpPort": )" +
                       std::to_string(http_port_ != 0 ? http_port_ : net::testing::UnusedPort()) +
                       R"(, "tlsPort": )" + std::to_string(net::testing::UnusedPort()) +
                       R"(, "ocspResponderURL": "", )" + eab_json_ + "}}";
  std::string config_path = dir_ + "/pebble-config.json";
  CF_TRY(WriteFile(config_path, config));

  // Environment: ours without PEBBLE_*, then the caller's.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).rfind("PEBBLE_", 0) != 0) env_strings.emplace_back(*e);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string log_path = dir_ + "/pebble.log";
  std::vector<std::string> args = {binary, "-config", config_path};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return Internal("cannot open " + log_path);
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return Internal("fork failed");
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    setsid();
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (chdir(dir_.c_str()) != 0) _exit(126);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(log_fd);
  pid_ = pid;

  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Unavailable("pebble exited during start-up:\n" + LogTail());
    }
    if (HttpsGet(listener_ca_pem_, directory_url()).ok() && RootPem(0).ok()) return Ok();
    std::this_thread::sleep_for(kPoll);  // bounded poll of a readiness check
  }
  return Unavailable("pebble did not answer within 20 s:\n" + LogTail());
}

std::string Pebble::directory_url() const {
  return "https://127.0.0.1:" + std::to_string(port_) + "/dir";
}

Result<std::string> Pebble::RootPem(int index) const {
  return HttpsGet(listener_ca_pem_, "https://127.0.0.1:" + std::to_string(mgmt_port_) + "/roots/" +
                                        std::to_string(index));
}

std::string Pebble::LogTail() const {
  std::ifstream in(dir_ + "/pebble.log", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string log = ss.str();
  return log.size() > 3000 ? log.substr(log.size() - 3000) : log;
}

bool Pebble::Stop() {
  if (pid_ <= 0) return true;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return false;
}

Pebble::~Pebble() {
  Stop();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

}  // namespace certfleet::acme::testing
