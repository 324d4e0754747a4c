// Running local commands (reload, config test, exec installers) without a shell.
//
// RunCommand posix_spawns argv[0] (an absolute path) in its own process group with a minimal
// environment (PATH only), stdin from /dev/null, and captures at most `max_output` bytes each of
// stdout and stderr (the rest is drained and dropped). On timeout the whole process group gets
// SIGKILL and Timeout is returned. Arguments are passed verbatim: "$(id)" or ";" stay literal.
// Never pass secrets in argv (they would be visible in /proc). Thread-safe.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "base/error.h"

namespace certfleet::agent {

struct CommandOptions {
  std::chrono::milliseconds timeout{30000};
  size_t max_output = 64 * 1024;
  std::string path_env = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
};

struct CommandOutput {
  int exit_code = -1;  // or 128 + signal number if killed by a signal
  std::string out;
  std::string err;
};

// Result is the output for any exit status (the caller decides); errors are for argv problems
// (InvalidArgument), spawn failures (Unavailable) and the timeout (Timeout).
Result<CommandOutput> RunCommand(const std::vector<std::string>& argv,
                                 const CommandOptions& options = {});

// RunCommand, then FailedPrecondition "<what> exited N: <stderr head>" unless the exit code is 0.
Status RunChecked(std::string_view what, const std::vector<std::string>& argv,
                  const CommandOptions& options = {});

}  // namespace certfleet::agent
