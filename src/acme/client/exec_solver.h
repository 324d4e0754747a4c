// The "exec" dns-01 solver (issue #6): plugs any DNS provider in through a local program that
// speaks a small JSON protocol on stdin/stdout (docs/exec-solver.md is the reference for program
// authors).
//
// Per call (Present or CleanUp) the solver runs the program once, without a shell (posix_spawn
// with an argv array: `program` followed by the fixed `args`), in its own process group, with
// working directory "/" and an environment of only PATH=/usr/bin:/bin; when the program exits
// (or times out) whatever is left in its process group is killed. It writes one JSON object
// to the program's stdin and closes it:
//   {"version":1,"action":"present"|"cleanup","fqdn":"_acme-challenge.app.example.com",
//    "value":"<TXT value>","zone":"<configured zone, key absent when none>"}
// and expects exit status 0 and one JSON object on stdout: {"ok":true} or
// {"ok":false,"error":"text"}. The TXT value travels on stdin only: never in argv (visible in
// /proc) or the environment.
//
// Present returns Ok only when the program says the value is visible (propagation is the
// program's job); CleanUp of a value that is not there must be Ok for the program, as the
// Dns01Solver contract requires.
//
// Errors:
//  - InvalidArgument: a bad fqdn/value (the program is not run).
//  - Unavailable: the program could not be started, exited non-zero or by a signal, wrote more
//    than kExecSolverMaxStdout bytes, wrote something other than the response object, or
//    answered ok=false. The message names the program, the action, the record, the exit status,
//    the program's error text and a short tail of its stderr (truncated, control characters
//    replaced, and any occurrence of the TXT value redacted).
//  - Timeout: the program ran longer than `timeout`; its whole process group got SIGKILL.
//
// Thread safety: ExecSolver is immutable after Create; concurrent calls each run their own
// process.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "acme/client/dns01_solver.h"
#include "base/error.h"

namespace certfleet::acme {

inline constexpr std::chrono::milliseconds kExecSolverDefaultTimeout = std::chrono::seconds(60);
inline constexpr std::chrono::milliseconds kExecSolverMinTimeout = std::chrono::seconds(1);
inline constexpr std::chrono::milliseconds kExecSolverMaxTimeout = std::chrono::minutes(10);
// Output beyond this fails the call (the response is one small object).
inline constexpr size_t kExecSolverMaxStdout = 64 * 1024;
// How much of the end of stderr is kept, and how much of it (and of the program's error text)
// goes into an error message.
inline constexpr size_t kExecSolverStderrTail = 4 * 1024;
inline constexpr size_t kExecSolverMessageText = 512;
inline constexpr int kExecSolverProtocolVersion = 1;

struct ExecSolverOptions {
  // Absolute path of the program. Create checks that it exists and (after symlinks) is a regular
  // file executable by this process, and that neither it nor its directory is writable by
  // everyone (a sticky directory such as /tmp is accepted for the directory).
  std::string program;
  // Fixed arguments after the program name, passed verbatim (no shell: "$(id)" stays literal).
  // Must not hold secrets: argv is visible to every local user.
  std::vector<std::string> args;
  // Optional zone passed to the program as "zone" (canonical: lower case, no trailing dot).
  std::string zone;
  // Per call, 1 s..10 min.
  std::chrono::milliseconds timeout = kExecSolverDefaultTimeout;
};

// Programs are named only in certfleetd's own configuration (issue #13; docs/exec-solver.md,
// "Configuring programs"): an [exec_solvers.NAME] table gives the path, the fixed arguments, the
// timeout and the accounts that may use it. API callers, whatever their role, pick a program by
// NAME; no API call can make certfleetd run a path or arguments of its choosing.
inline constexpr char kExecNotAllowedRule[] = "exec.not_allowed";

struct ExecProgram {
  std::string name;
  std::string program;  // absolute path
  std::vector<std::string> args;
  std::chrono::milliseconds timeout = kExecSolverDefaultTimeout;
  std::vector<std::string> accounts;  // account names; "*" = every account

  bool AllowsAccount(std::string_view account_name) const;
  ExecSolverOptions ToOptions() const {
    return {.program = program, .args = args, .timeout = timeout};
  }
};
using ExecPrograms = std::map<std::string, ExecProgram, std::less<>>;

// Whether `text` (an API caller's "program" value) looks like a path rather than a configured
// name: it holds a '/' or starts with '.' or '~'. Such values are refused outright.
bool LooksLikePath(std::string_view text);

// The configured program that an exec solver of account `account_name` runs. `stored` is the
// solver's stored "program": a configured name, or, for solver rows written before issue #13, an
// absolute path, which runs only if a configured entry has exactly that path and `stored_args`
// (and lists the account). Checked at every use, not only at creation: the configuration may
// change between restarts. Forbidden (rule exec.not_allowed) when nothing configured matches or
// the entry does not list the account; the message is the same in both cases, so it does not
// tell another account which programs exist.
Result<const ExecProgram*> ResolveExecProgram(const ExecPrograms& programs, std::string_view stored,
                                              const std::vector<std::string>& stored_args,
                                              std::string_view account_name);

class ExecSolver : public Dns01Solver {
 public:
  // InvalidArgument for a program path that fails the checks above, an argument holding a NUL
  // byte, a bad zone name, or a timeout outside 1 s..10 min. Does not run the program.
  static Result<std::unique_ptr<ExecSolver>> Create(ExecSolverOptions options);

  Status Present(std::string_view fqdn, std::string_view value) override;
  Status CleanUp(std::string_view fqdn, std::string_view value) override;

  const ExecSolverOptions& options() const { return options_; }

 private:
  explicit ExecSolver(ExecSolverOptions options) : options_(std::move(options)) {}
  Status Run(std::string_view action, std::string_view fqdn, std::string_view value) const;

  ExecSolverOptions options_;
};

}  // namespace certfleet::acme
