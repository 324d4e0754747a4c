#include "agent/run_command.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/safe_path.h"

namespace certfleet::agent {
namespace {

void ReadSome(int fd, std::string& sink, size_t max, bool& open) {
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof(buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    open = false;
    return;
  }
  size_t room = max > sink.size() ? max - sink.size() : 0;
  sink.append(buf, std::min(room, static_cast<size_t>(n)));
}

}  // namespace

Result<CommandOutput> RunCommand(const std::vector<std::string>& argv,
                                 const CommandOptions& options) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return InvalidArgument("command program must be an absolute path");
  }
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Unavailable(ErrnoMessage("pipe", errno));
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return Unavailable(ErrnoMessage("pipe", errno));
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);  // own group, so a timeout kills its children too
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  std::string path = "PATH=" + options.path_env;
  char* envp[] = {path.data(), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, &attr, cargv.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Unavailable(ErrnoMessage("spawn " + argv[0], rc));
  out_w = UniqueFd();
  err_w = UniqueFd();

  CommandOutput result;
  bool out_open = true, err_open = true, timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd fds[2] = {{out_open ? out_r.get() : -1, POLLIN, 0},
                            {err_open ? err_r.get() : -1, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (fds[0].revents) ReadSome(out_r.get(), result.out, options.max_output, out_open);
    if (fds[1].revents) ReadSome(err_r.get(), result.err, options.max_output, err_open);
  }
  // The pipes may close before exit (a daemonizing child); wait for the process with the same
  // deadline.
  int status = 0;
  while (!timed_out) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return Internal(ErrnoMessage("waitpid", errno));
    if (std::chrono::steady_clock::now() >= deadline) {
      timed_out = true;
      break;
    }
    ::usleep(5000);
  }
  if (timed_out) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return Error(ErrorCode::kTimeout,
                 argv[0] + " timed out after " + std::to_string(options.timeout.count()) + " ms");
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

Status RunChecked(std::string_view what, const std::vector<std::string>& argv,
                  const CommandOptions& options) {
  CF_ASSIGN_OR_RETURN(CommandOutput out, RunCommand(argv, options));
  if (out.exit_code == 0) return Ok();
  std::string head = out.err.substr(0, 512);
  return FailedPrecondition(std::string(what) + " exited " + std::to_string(out.exit_code) +
                            (head.empty() ? "" : ": " + head));
}

}  // namespace certfleet::agent
