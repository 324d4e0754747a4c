#include "acme/client/exec_solver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <system_error>
#include <thread>
#include <utility>

#include "dns/names.h"

namespace certfleet::acme {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The only environment the program gets: no proxy settings, credentials or locale leak through.
constexpr char kPathEnv[] = "PATH=/usr/bin:/bin";
constexpr size_t kStdoutInMessage = 128;

std::string ErrnoText(std::string_view what, int err) {
  return std::string(what) + ": " + std::generic_category().message(err);
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Outcome {
  int exit_code = 0;  // when exited normally
  int signal = 0;     // the terminating signal, 0 if it exited
  std::string out;
  bool out_too_large = false;
  std::string err_tail;
  bool err_truncated = false;  // err_tail lost its beginning
};

std::string DescribeExit(const Outcome& o) {
  if (o.signal != 0) return "killed by signal " + std::to_string(o.signal);
  return "exit status " + std::to_string(o.exit_code);
}

// Waits for `pid` to end without reaping it (the zombie keeps its process group id reserved),
// until `deadline`. False on timeout.
bool WaitExitNoReap(pid_t pid, SteadyClock::time_point deadline) {
  for (;;) {
    siginfo_t info{};
    int rc = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (rc == 0 && info.si_pid == pid) return true;
    if (rc != 0 && errno != EINTR) return true;  // not our child any more: nothing to wait for
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Kills what is left of the program's process group (helpers it started and left behind, or the
// whole group on timeout), then reaps the program. Killing before reaping means the group id
// cannot have been reused by an unrelated process.
int KillGroupAndReap(pid_t pid) {
  ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Runs argv (argv[0] absolute) with `input` on stdin, capturing stdout (at most
// kExecSolverMaxStdout; beyond that the group is killed) and the last kExecSolverStderrTail (plus
// `tail_slack`) bytes of stderr. Errors: Unavailable when the program cannot be started, Timeout.
Result<Outcome> RunProgram(const std::vector<std::string>& argv, std::string_view input,
                           std::chrono::milliseconds timeout, size_t tail_slack) {
  // stdin is a socketpair rather than a pipe: send(MSG_NOSIGNAL) to a program that exited
  // without reading its input fails with EPIPE instead of raising SIGPIPE in certfleet.
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Unavailable(ErrnoText("socketpair", errno));
  }
  Fd in_w(sv[0]), in_r(sv[1]);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return Unavailable(ErrnoText("pipe", errno));
  Fd out_r(p[0]), out_w(p[1]);
  if (::pipe2(p, O_CLOEXEC) != 0) return Unavailable(ErrnoText("pipe", errno));
  Fd err_r(p[0]), err_w(p[1]);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
  // Descriptors another thread opened without O_CLOEXEC must not reach the program.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawn_file_actions_addchdir_np(&fa, "/");
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);  // own group: a timeout kills the program's helpers too
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::string path_env = kPathEnv;
  char* envp[] = {path_env.data(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, &attr, cargv.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Unavailable(ErrnoText("cannot start " + argv[0], rc));
  in_r.Reset();
  out_w.Reset();
  err_w.Reset();
  SetNonBlocking(in_w.get());
  SetNonBlocking(out_r.get());
  SetNonBlocking(err_r.get());

  Outcome o;
  const size_t keep_err = kExecSolverStderrTail + tail_slack;
  size_t sent = 0;
  bool out_open = true, err_open = true, timed_out = false;
  if (input.empty()) in_w.Reset();
  const auto deadline = SteadyClock::now() + timeout;
  while (out_open || err_open) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd fds[3] = {{in_w.get(), POLLOUT, 0},
                            {out_open ? out_r.get() : -1, POLLIN, 0},
                            {err_open ? err_r.get() : -1, POLLIN, 0}};
    const int n = ::poll(fds, 3, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) {
      const int err = errno;
      KillGroupAndReap(pid);
      return Unavailable(ErrnoText("poll", err));
    }
    if (n <= 0) continue;
    if (fds[0].revents != 0) {
      const ssize_t w =
          ::send(in_w.get(), input.data() + sent, input.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) sent += static_cast<size_t>(w);
      // Done, or the program stopped reading (EPIPE): either way stdin is finished; the program's
      // response decides the outcome.
      if (sent == input.size() || (w < 0 && errno != EAGAIN && errno != EINTR)) in_w.Reset();
    }
    char buf[4096];
    if (fds[1].revents != 0) {
      const ssize_t r = ::read(out_r.get(), buf, sizeof(buf));
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) out_open = false;
      if (r > 0) {
        if (o.out.size() + static_cast<size_t>(r) > kExecSolverMaxStdout) {
          o.out_too_large = true;
          break;
        }
        o.out.append(buf, static_cast<size_t>(r));
      }
    }
    if (fds[2].revents != 0) {
      const ssize_t r = ::read(err_r.get(), buf, sizeof(buf));
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) err_open = false;
      if (r > 0) {
        o.err_tail.append(buf, static_cast<size_t>(r));
        if (o.err_tail.size() > keep_err) {
          o.err_tail.erase(0, o.err_tail.size() - keep_err);
          o.err_truncated = true;
        }
      }
    }
  }
  // Both pipes may close before the program exits; it gets the same deadline.
  if (!timed_out && !o.out_too_large) timed_out = !WaitExitNoReap(pid, deadline);
  const int status = KillGroupAndReap(pid);
  if (timed_out) {
    return Error(ErrorCode::kTimeout, "timed out after " + std::to_string(timeout.count()) +
                                          " ms (process group killed)");
  }
  if (WIFSIGNALED(status)) {
    o.signal = WTERMSIG(status);
  } else {
    o.exit_code = WEXITSTATUS(status);
  }
  return o;
}

// Text from the program made safe for an error message: every byte that belongs to an occurrence
// of `value` (including a partial one at the front when `front_cut`, i.e. the text lost its
// beginning) becomes "<value>", control characters become spaces.
std::string Sanitize(std::string_view text, std::string_view value, bool front_cut) {
  std::vector<bool> hide(text.size(), false);
  if (!value.empty()) {
    for (size_t at = text.find(value); at != std::string_view::npos;
         at = text.find(value, at + 1)) {
      std::fill(hide.begin() + static_cast<ptrdiff_t>(at),
                hide.begin() + static_cast<ptrdiff_t>(at + value.size()), true);
    }
    if (front_cut) {
      for (size_t k = 1; k < value.size() && k <= text.size(); ++k) {
        if (text.substr(0, k) == value.substr(value.size() - k)) {
          std::fill(hide.begin(), hide.begin() + static_cast<ptrdiff_t>(k), true);
        }
      }
    }
  }
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (hide[i]) {
      if (i == 0 || !hide[i - 1]) out += "<value>";
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(text[i]);
    out += (c < 0x20 || c == 0x7f) ? ' ' : text[i];
  }
  return out;
}

std::string Head(std::string s, size_t max) {
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

std::string Tail(std::string s, size_t max) {
  if (s.size() > max) s = "..." + s.substr(s.size() - max);
  return s;
}

Error Prefixed(const Error& e, const std::string& prefix) {
  Error out(e.code(), prefix + ": " + e.message());
  if (e.retryable()) out.WithRetry(e.retry_after());
  return out;
}

}  // namespace

bool ExecProgram::AllowsAccount(std::string_view account_name) const {
  return std::any_of(accounts.begin(), accounts.end(),
                     [&](const std::string& a) { return a == "*" || a == account_name; });
}

bool LooksLikePath(std::string_view text) {
  return text.find('/') != std::string_view::npos ||
         (!text.empty() && (text.front() == '.' || text.front() == '~'));
}

Result<const ExecProgram*> ResolveExecProgram(const ExecPrograms& programs, std::string_view stored,
                                              const std::vector<std::string>& stored_args,
                                              std::string_view account_name) {
  const ExecProgram* found = nullptr;
  if (!stored.empty() && stored.front() == '/') {
    // A row from before issue #13 names a path: it runs only as the configured entry it equals.
    for (const auto& [name, p] : programs) {
      if (p.program == stored && p.args == stored_args && p.AllowsAccount(account_name)) {
        found = &p;
        break;
      }
    }
  } else if (stored_args.empty()) {
    auto it = programs.find(stored);
    if (it != programs.end() && it->second.AllowsAccount(account_name)) found = &it->second;
  }
  if (found == nullptr) {
    std::string shown(stored.substr(0, 128));
    return Forbidden("exec program \"" + Sanitize(shown, "", false) +
                     "\" is not configured for this account: exec solver programs are named in "
                     "certfleetd's configuration ([exec_solvers.NAME], with the accounts that may "
                     "use each) (rule " +
                     kExecNotAllowedRule + ")");
  }
  return found;
}

Result<std::unique_ptr<ExecSolver>> ExecSolver::Create(ExecSolverOptions options) {
  const std::string& program = options.program;
  if (program.empty() || program[0] != '/') {
    return InvalidArgument("exec solver program must be an absolute path");
  }
  if (program.find('\0') != std::string::npos) {
    return InvalidArgument("exec solver program path holds a NUL byte");
  }
  const std::string what = "exec solver program " + program;
  char resolved[PATH_MAX];
  if (::realpath(program.c_str(), resolved) == nullptr) {
    return InvalidArgument(ErrnoText(what, errno));
  }
  struct stat st {};
  if (::stat(resolved, &st) != 0) return InvalidArgument(ErrnoText(what, errno));
  if (!S_ISREG(st.st_mode)) return InvalidArgument(what + " is not a regular file");
  if (::access(resolved, X_OK) != 0) return InvalidArgument(what + " is not executable");
  // Anyone able to rewrite or replace the program could run code as certfleet.
  if ((st.st_mode & S_IWOTH) != 0) return InvalidArgument(what + " is writable by everyone");
  std::string dir(resolved);
  dir.erase(std::max<size_t>(dir.rfind('/'), 1));
  struct stat dst {};
  if (::stat(dir.c_str(), &dst) != 0) return InvalidArgument(ErrnoText(what, errno));
  if ((dst.st_mode & S_IWOTH) != 0 && (dst.st_mode & S_ISVTX) == 0) {
    return InvalidArgument(what + ": directory " + dir + " is writable by everyone");
  }
  for (const std::string& a : options.args) {
    if (a.find('\0') != std::string::npos) {
      return InvalidArgument("exec solver argument holds a NUL byte");
    }
  }
  if (!options.zone.empty()) {
    CF_TRY(dns::ValidateZoneName(options.zone));
    options.zone = dns::CanonicalName(options.zone);
  }
  if (options.timeout < kExecSolverMinTimeout || options.timeout > kExecSolverMaxTimeout) {
    return InvalidArgument("exec solver timeout must be between 1 s and 10 min");
  }
  return std::unique_ptr<ExecSolver>(new ExecSolver(std::move(options)));
}

Status ExecSolver::Present(std::string_view fqdn, std::string_view value) {
  return Run("present", fqdn, value);
}

Status ExecSolver::CleanUp(std::string_view fqdn, std::string_view value) {
  return Run("cleanup", fqdn, value);
}

Status ExecSolver::Run(std::string_view action, std::string_view fqdn,
                       std::string_view value) const {
  CF_TRY(dns::ValidateRecordName(fqdn));
  CF_TRY(dns::ValidateTxtValue(value));
  const std::string name = dns::CanonicalName(fqdn);
  if (name.rfind(std::string(kAcmeChallengeLabel) + ".", 0) != 0) {
    return InvalidArgument("dns-01 record name must start with _acme-challenge.");
  }
  nlohmann::json request = {{"version", kExecSolverProtocolVersion},
                            {"action", action},
                            {"fqdn", name},
                            {"value", value}};
  if (!options_.zone.empty()) request["zone"] = options_.zone;
  const std::string input =
      request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";

  std::vector<std::string> argv;
  argv.reserve(options_.args.size() + 1);
  argv.push_back(options_.program);
  argv.insert(argv.end(), options_.args.begin(), options_.args.end());
  const std::string what =
      "exec solver " + options_.program + " " + std::string(action) + " " + name;
  Result<Outcome> run = RunProgram(argv, input, options_.timeout, value.size());
  if (!run.ok()) return Prefixed(run.error(), what);
  const Outcome& o = *run;

  std::string stderr_part;
  const std::string tail = Sanitize(o.err_tail, value, o.err_truncated);
  if (!tail.empty()) stderr_part = "; stderr: " + Tail(tail, kExecSolverMessageText);
  const std::string status = " (" + DescribeExit(o) + ")";
  if (o.out_too_large) {
    return Unavailable(what + ": wrote more than " + std::to_string(kExecSolverMaxStdout) +
                       " bytes to stdout (stopped)" + stderr_part);
  }
  const nlohmann::json response = nlohmann::json::parse(o.out, nullptr, /*allow_exceptions=*/false);
  const bool well_formed =
      response.is_object() && response.contains("ok") && response["ok"].is_boolean();
  std::string error_text;
  if (well_formed && response.contains("error") && response["error"].is_string()) {
    error_text =
        Head(Sanitize(response["error"].get<std::string>(), value, false), kExecSolverMessageText);
  }
  if (o.signal != 0 || o.exit_code != 0) {
    return Unavailable(what + ": failed" + status + (error_text.empty() ? "" : ": " + error_text) +
                       stderr_part);
  }
  if (!well_formed) {
    const std::string shown = Head(Sanitize(o.out, value, false), kStdoutInMessage);
    return Unavailable(what + ": stdout is not a JSON object with a boolean \"ok\"" + status +
                       (shown.empty() ? ": (empty)" : ": " + shown) + stderr_part);
  }
  if (!response["ok"].get<bool>()) {
    return Unavailable(what + ": program reported failure" + status + ": " +
                       (error_text.empty() ? "(no error text)" : error_text) + stderr_part);
  }
  return Ok();
}

}  // namespace certfleet::acme
