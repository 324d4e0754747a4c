// certfleet-agent: the host-side program (docs/agents.md "The agent on the host"). Composition
// root: flags -> local config, CA bundle, state dir -> AgentRuntime on a worker thread; the main
// thread only waits for signals.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent_config.h"
#include "agent/agent_runtime.h"
#include "base/clock.h"
#include "base/files.h"
#include "base/log.h"
#include "base/random.h"

namespace certfleet::agent_app {
namespace {

constexpr size_t kMaxCaBytes = 1 << 20;

struct Flags {
  std::string server;
  std::string ca;
  std::string state_dir;
  std::string config;
  std::string enroll_token_file;
  std::string log_level = "info";
  int poll_wait = 25;
  std::vector<std::string> bundle_roots;
  bool no_system_roots = false;
};

// Debian's bundle of the public CAs' roots (package ca-certificates).
constexpr char kSystemRoots[] = "/etc/ssl/certs/ca-certificates.crt";
constexpr size_t kMaxRootsBytes = 4 << 20;

Result<log::Level> ParseLevel(const std::string& s) {
  if (s == "debug") return log::Level::kDebug;
  if (s == "info") return log::Level::kInfo;
  if (s == "warn") return log::Level::kWarn;
  if (s == "error") return log::Level::kError;
  return InvalidArgument("--log-level must be debug, info, warn or error");
}

int Fail(const Error& e) {
  log::Error("certfleet-agent failed", {{"error", e.ToString()}});
  return 1;
}

// TEST-ONLY. CERTFLEET_FAILPOINT=<step> makes the agent SIGKILL itself just before that step
// (docs/agents.md): the atomic-install steps write_temp:<file>, link_prev:<file>, mark_pending,
// rename:<file>, fsync_dirs, clear_pending, then reload, verify and report. The e2e crash tests
// use it to prove that a restarted agent recovers. Without the variable no hook exists at all:
// the returned function is empty and every call site skips it.
agent::Failpoint FailpointFromEnvironment() {
  const char* value = std::getenv("CERTFLEET_FAILPOINT");
  if (value == nullptr || *value == '\0') return {};
  std::string target(value);
  log::Warn("test-only failpoint armed: the agent will kill itself", {{"failpoint", target}});
  return [target](std::string_view step) {
    if (step != target) return;
    log::Warn("failpoint reached, raising SIGKILL", {{"failpoint", target}});
    ::raise(SIGKILL);
  };
}

int Run(const Flags& flags) {
  // Everything the agent creates is private unless it sets a mode itself.
  ::umask(077);
  auto level = ParseLevel(flags.log_level);
  if (!level.ok()) return Fail(level.error());
  log::SetMinLevel(*level);
  if (flags.poll_wait < 0 || flags.poll_wait > 60) {
    return Fail(InvalidArgument("--poll-wait must be 0..60 seconds"));
  }
  auto config = agent::LoadAgentConfig(flags.config);
  if (!config.ok()) return Fail(config.error());
  auto ca = ReadFileLimited(flags.ca, kMaxCaBytes);
  if (!ca.ok()) return Fail(ca.error());

  agent::RuntimeOptions options;
  options.server_url = flags.server;
  options.ca_pem = std::move(*ca);
  // Deployed certificates may chain to certfleet's CA (--ca), to a public CA (ACME: the system
  // bundle, unless --no-system-roots) or to roots given with --bundle-roots.
  std::vector<std::string> root_files = flags.bundle_roots;
  if (!flags.no_system_roots && ::access(kSystemRoots, R_OK) == 0) {
    root_files.push_back(kSystemRoots);
  }
  for (const std::string& f : root_files) {
    auto pem = ReadFileLimited(f, kMaxRootsBytes);
    if (!pem.ok()) return Fail(pem.error());
    options.bundle_roots_pem += *pem + "\n";
  }
  options.state_dir = flags.state_dir;
  options.config = std::move(*config);
  options.enroll_token_file = flags.enroll_token_file;
  options.poll_wait = std::chrono::seconds(flags.poll_wait);
  options.installer.failpoint = FailpointFromEnvironment();

  SystemClock clock;
  auto runtime = agent::AgentRuntime::Create(std::move(options), clock, SystemRandomSource());
  if (!runtime.ok()) return Fail(runtime.error());

  // Block the stop signals in every thread (the worker inherits this mask; commands the agent
  // runs get a clean one from run_command.cc), then wait for them synchronously on this thread.
  // SIGUSR1 is the worker telling us it ended on its own (a fatal start-up error).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A peer closing a TLS connection early must be an error on that call, not a dead agent.
  ::signal(SIGPIPE, SIG_IGN);

  log::Info("certfleet-agent starting",
            {{"server", flags.server}, {"state_dir", flags.state_dir}, {"config", flags.config}});
  Status result = Ok();
  agent::AgentRuntime& rt = **runtime;
  std::thread worker([&rt, &result] {
    result = rt.Run();
    ::kill(::getpid(), SIGUSR1);
  });

  int sig = 0;
  while (true) {
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGUSR1 && !rt.stop_requested()) {
      worker.join();
      if (!result.ok()) return 1;
      return 0;
    }
    if (sig == SIGTERM || sig == SIGINT) break;
  }
  log::Info("certfleet-agent stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  rt.RequestStop();
  // An install in flight is finished (and reported) first; a long poll or a backoff sleep is
  // simply abandoned.
  if (rt.WaitUntilStoppable()) {
    worker.join();
    log::Info("certfleet-agent stopped");
    return 0;
  }
  log::Info("certfleet-agent stopped", {{"abandoned", "a request in flight (long poll)"}});
  std::fflush(stderr);
  // The worker is blocked in a network wait that holds no state; leave without unwinding it
  // (returning would run static destructors under its feet).
  std::_Exit(0);
}

}  // namespace
}  // namespace certfleet::agent_app

int main(int argc, char** argv) {
  certfleet::agent_app::Flags flags;
  CLI::App app{"certfleet-agent: installs certificates deployed by certfleetd on this host"};
  app.add_option("--server", flags.server, "certfleetd URL, e.g. https://certfleet.example:8443")
      ->required();
  app.add_option("--ca", flags.ca, "PEM bundle that verifies certfleetd (its var/ca.pem)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--state-dir", flags.state_dir,
                 "directory for the agent key, certificate and state (created 0700)")
      ->required();
  app.add_option("--config", flags.config, "local profile configuration (TOML)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--enroll-token-file", flags.enroll_token_file,
                 "file holding the one-time enrollment token; read only when not enrolled yet");
  app.add_option("--log-level", flags.log_level, "debug, info, warn or error (default info)");
  app.add_option("--poll-wait", flags.poll_wait, "long-poll wait in seconds, 0..60 (default 25)");
  app.add_option("--bundle-roots", flags.bundle_roots,
                 "PEM file of more roots deployed certificates may chain to (repeatable; e.g. a "
                 "private ACME CA's root)")
      ->check(CLI::ExistingFile);
  app.add_flag("--no-system-roots", flags.no_system_roots,
               "do not accept deployed certificates that chain to the system's public roots");
  CLI11_PARSE(app, argc, argv);
  return certfleet::agent_app::Run(flags);
}
