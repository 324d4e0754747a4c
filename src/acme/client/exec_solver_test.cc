// ExecSolver (issue #6, "exec" solver): real fixture programs written at test time into a private
// temp dir, run through the real spawn path.
#include "acme/client/exec_solver.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace certfleet::acme {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kFqdn[] = "_acme-challenge.app.example.com";
// A realistic TXT value (base64url of a SHA-256): must never show up in argv or error messages.
constexpr char kValue[] = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";

class ExecSolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "cf-exec-solver-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Writes an executable (0700) fixture program.
  std::string Program(const std::string& name, const std::string& text,
                      fs::perms mode = fs::perms::owner_all) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::trunc) << text;
    fs::permissions(path, mode, fs::perm_options::replace);
    return path;
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::unique_ptr<ExecSolver> Solver(const std::string& program, std::vector<std::string> args = {},
                                     milliseconds timeout = seconds(10), std::string zone = "") {
    ExecSolverOptions options;
    options.program = program;
    options.args = std::move(args);
    options.timeout = timeout;
    options.zone = std::move(zone);
    Result<std::unique_ptr<ExecSolver>> solver = ExecSolver::Create(std::move(options));
    EXPECT_TRUE(solver.ok()) << solver.error().ToString();
    return solver.ok() ? std::move(solver).value() : nullptr;
  }

  fs::path dir_;
};

// Records the request line, argv and the initial environment (from /proc, before Python adds its
// own locale variables), then answers ok.
constexpr char kRecorder[] = R"(#!/usr/bin/python3
import json, os, sys
log_dir = sys.argv[1]
request = sys.stdin.read()
with open(os.path.join(log_dir, "requests"), "a") as f:
    f.write(request)
with open(os.path.join(log_dir, "argv"), "a") as f:
    f.write(json.dumps(sys.argv) + "\n")
with open("/proc/self/environ", "rb") as f:
    env = sorted(e.decode() for e in f.read().split(b"\0") if e)
with open(os.path.join(log_dir, "env"), "w") as f:
    f.write(json.dumps(env))
with open(os.path.join(log_dir, "cwd"), "w") as f:
    f.write(os.getcwd())
print(json.dumps({"ok": True}))
)";

TEST_F(ExecSolverTest, PresentCleanupRoundTrip) {
  auto solver = Solver(Program("recorder", kRecorder), {dir_.string(), "--flag=$(id);x"},
                       seconds(10), "Example.COM.");
  ASSERT_NE(solver, nullptr);
  ASSERT_TRUE(solver->Present("_acme-challenge.App.Example.com.", kValue).ok());
  ASSERT_TRUE(solver->CleanUp(kFqdn, kValue).ok());

  const std::string value = kValue;
  EXPECT_EQ(Read(Path("requests")),
            R"({"action":"present","fqdn":"_acme-challenge.app.example.com","value":")" + value +
                R"(","version":1,"zone":"example.com"})"
                "\n"
                R"({"action":"cleanup","fqdn":"_acme-challenge.app.example.com","value":")" +
                value +
                R"(","version":1,"zone":"example.com"})"
                "\n");
  // The value is on stdin only; fixed arguments arrive verbatim (no shell).
  const std::string argv = Read(Path("argv"));
  const std::string expected_argv =
      R"([")" + Path("recorder") + R"(", ")" + dir_.string() + R"(", "--flag=$(id);x"])";
  EXPECT_EQ(argv, expected_argv + "\n" + expected_argv + "\n");
  EXPECT_EQ(argv.find(kValue), std::string::npos);
  EXPECT_EQ(Read(Path("env")), R"(["PATH=/usr/bin:/bin"])");
  EXPECT_EQ(Read(Path("cwd")), "/");
}

TEST_F(ExecSolverTest, ZoneKeyAbsentWhenNotConfigured) {
  auto solver = Solver(Program("recorder", kRecorder), {dir_.string()});
  ASSERT_NE(solver, nullptr);
  ASSERT_TRUE(solver->Present(kFqdn, kValue).ok());
  EXPECT_EQ(Read(Path("requests")).find("zone"), std::string::npos);
}

TEST_F(ExecSolverTest, OkFalseCarriesErrorText) {
  auto solver = Solver(Program("refuse", R"(#!/usr/bin/python3
import json, sys
req = json.loads(sys.stdin.read())
sys.stderr.write("token rejected for " + req["value"] + "\n")
print(json.dumps({"ok": False, "error": "zone not managed\x07\x1b[31m, value " + req["value"]}))
)"));
  ASSERT_NE(solver, nullptr);
  Status s = solver->Present(kFqdn, kValue);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnavailable);
  const std::string& m = s.error().message();
  EXPECT_NE(m.find("zone not managed"), std::string::npos) << m;
  EXPECT_NE(m.find("exit status 0"), std::string::npos) << m;
  EXPECT_NE(m.find("token rejected for <value>"), std::string::npos) << m;
  EXPECT_NE(m.find(kFqdn), std::string::npos) << m;
  EXPECT_EQ(m.find(kValue), std::string::npos) << m;
  EXPECT_EQ(m.find('\x07'), std::string::npos) << m;
  EXPECT_EQ(m.find('\x1b'), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
}

TEST_F(ExecSolverTest, NonZeroExitReportsStatusAndStderrTail) {
  // Echoes the whole request to stderr: the message keeps the tail but never the value.
  auto solver = Solver(Program("fail",
                               "#!/bin/sh\ncat >&2\necho 'boom: API said 403' >&2\n"
                               "echo '{\"ok\":true}'\nexit 3\n"));
  ASSERT_NE(solver, nullptr);
  Status s = solver->CleanUp(kFqdn, kValue);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnavailable);
  const std::string& m = s.error().message();
  EXPECT_NE(m.find("exit status 3"), std::string::npos) << m;
  EXPECT_NE(m.find("boom: API said 403"), std::string::npos) << m;
  EXPECT_NE(m.find("cleanup"), std::string::npos) << m;
  EXPECT_EQ(m.find(kValue), std::string::npos) << m;
}

TEST_F(ExecSolverTest, LongStderrIsTruncatedAndNeverLeaksAPartialValue) {
  // 10 KiB of the value repeated: the kept tail starts in the middle of one copy.
  auto solver = Solver(Program("noisy", R"(#!/usr/bin/python3
import json, sys
v = json.loads(sys.stdin.read())["value"]
sys.stderr.write((v + "-") * 237 + "the end")
sys.exit(1)
)"));
  ASSERT_NE(solver, nullptr);
  Status s = solver->Present(kFqdn, kValue);
  ASSERT_FALSE(s.ok());
  const std::string& m = s.error().message();
  EXPECT_LT(m.size(), 1200u) << m;
  EXPECT_NE(m.find("the end"), std::string::npos) << m;
  // No 8-character piece of the value survives.
  const std::string value = kValue;
  for (size_t i = 0; i + 8 <= value.size(); ++i) {
    EXPECT_EQ(m.find(value.substr(i, 8)), std::string::npos) << m;
  }
}

TEST_F(ExecSolverTest, StderrTailCutInsideTheValueIsRedacted) {
  // 300 copies back to back: the kept tail starts a few bytes before the end of one copy.
  auto solver = Solver(Program("copies", R"(#!/usr/bin/python3
import json, sys
v = json.loads(sys.stdin.read())["value"]
sys.stderr.write(v * 300 + "the end")
sys.exit(1)
)"));
  ASSERT_NE(solver, nullptr);
  Status s = solver->Present(kFqdn, kValue);
  ASSERT_FALSE(s.ok());
  const std::string& m = s.error().message();
  const std::string suffix = "; stderr: <value>the end";
  ASSERT_GE(m.size(), suffix.size());
  EXPECT_EQ(m.substr(m.size() - suffix.size()), suffix) << m;
}

TEST_F(ExecSolverTest, SignalIsReported) {
  auto solver = Solver(Program("killed", "#!/bin/sh\ncat >/dev/null\nkill -TERM $$\n"));
  ASSERT_NE(solver, nullptr);
  Status s = solver->Present(kFqdn, kValue);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("killed by signal 15"), std::string::npos)
      << s.error().message();
}

TEST_F(ExecSolverTest, InvalidJsonIsAnError) {
  for (const char* out : {"not json", "", "[true]", "{\"ok\":\"yes\"}", "{\"ok\":true} x"}) {
    auto solver = Solver(
        Program("bad", "#!/bin/sh\ncat >/dev/null\nprintf '%s' '" + std::string(out) + "'\n"));
    ASSERT_NE(solver, nullptr);
    Status s = solver->Present(kFqdn, kValue);
    ASSERT_FALSE(s.ok()) << out;
    EXPECT_EQ(s.error().code(), ErrorCode::kUnavailable);
    EXPECT_NE(s.error().message().find("not a JSON object"), std::string::npos)
        << s.error().message();
  }
}

TEST_F(ExecSolverTest, OversizeStdoutIsAnError) {
  auto solver = Solver(Program("flood", R"(#!/usr/bin/python3
import sys
sys.stdin.read()
sys.stdout.write('{"ok":true,"pad":"' + "x" * 200000 + '"}')
)"));
  ASSERT_NE(solver, nullptr);
  Status s = solver->Present(kFqdn, kValue);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message().find("more than 65536 bytes"), std::string::npos)
      << s.error().message();
}

TEST_F(ExecSolverTest, ProgramIgnoringStdinStillWorks) {
  auto solver = Solver(Program("deaf", "#!/bin/sh\necho '{\"ok\":true}'\n"));
  ASSERT_NE(solver, nullptr);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(solver->Present(kFqdn, kValue).ok());
}

TEST_F(ExecSolverTest, ConcurrentCallsEachGetTheirOwnProcess) {
  // Echoes the value's last character back as the error: each caller must see its own.
  auto solver = Solver(Program("echo", R"(#!/usr/bin/python3
import json, sys
v = json.loads(sys.stdin.read())["value"]
print(json.dumps({"ok": v.startswith("ok"), "error": "got " + v[-1]}))
)"));
  ASSERT_NE(solver, nullptr);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        Status good = solver->Present(kFqdn, "ok-" + std::to_string(t));
        Status bad = solver->Present(kFqdn, "no-" + std::to_string(t));
        if (!good.ok() || bad.ok() ||
            bad.error().message().find("got " + std::to_string(t)) == std::string::npos) {
          ++failures[static_cast<size_t>(t)];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

bool ProcessGone(pid_t pid) {
  // Gone, or a zombie waiting for its (re)parent to reap it: either way no longer running.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

TEST_F(ExecSolverTest, TimeoutKillsTheProcessGroup) {
  // The program starts a helper and waits for it: both must die.
  auto solver = Solver(Program("slow", "#!/bin/sh\nsleep 30 &\necho $! > '" + Path("helper") +
                                           "'\nwait\necho '{\"ok\":true}'\n"),
                       {}, seconds(1));
  ASSERT_NE(solver, nullptr);
  const auto start = std::chrono::steady_clock::now();
  Status s = solver->Present(kFqdn, kValue);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kTimeout);
  EXPECT_LT(took, seconds(4));
  EXPECT_GE(took, milliseconds(900));
  const pid_t helper = static_cast<pid_t>(std::stol(Read(Path("helper"))));
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = ProcessGone(helper);
    if (!gone) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(gone) << "helper " << helper << " survived the timeout";
}

TEST_F(ExecSolverTest, LeftoverHelpersAreKilledAfterExit) {
  auto solver = Solver(Program("daemon",
                               "#!/bin/sh\ncat >/dev/null\n"
                               "sleep 30 >/dev/null 2>&1 </dev/null &\necho $! > '" +
                                   Path("helper") + "'\necho '{\"ok\":true}'\n"));
  ASSERT_NE(solver, nullptr);
  ASSERT_TRUE(solver->Present(kFqdn, kValue).ok());
  const pid_t helper = static_cast<pid_t>(std::stol(Read(Path("helper"))));
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = ProcessGone(helper);
    if (!gone) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(gone);
}

TEST_F(ExecSolverTest, ProgramPathValidation) {
  const std::string ok = "#!/bin/sh\necho '{\"ok\":true}'\n";
  auto create = [](std::string program) {
    ExecSolverOptions options;
    options.program = std::move(program);
    return ExecSolver::Create(std::move(options));
  };
  const std::string good = Program("good", ok);
  EXPECT_TRUE(create(good).ok());

  struct Case {
    std::string program;
    std::string expect;
  };
  fs::create_directory(dir_ / "open");
  fs::permissions(dir_ / "open", fs::perms::all, fs::perm_options::replace);
  const std::string in_open_dir = (dir_ / "open" / "prog").string();
  std::ofstream(in_open_dir) << ok;
  fs::permissions(in_open_dir, fs::perms::owner_all, fs::perm_options::replace);
  const std::vector<Case> cases = {
      {"", "absolute"},
      {"good", "absolute"},
      {"./good", "absolute"},
      {Path("missing"), "No such file"},
      {Program("noexec", ok, fs::perms::owner_read | fs::perms::owner_write), "not executable"},
      {Program("everyone", ok, fs::perms::all), "writable by everyone"},
      {dir_.string(), "not a regular file"},
      {in_open_dir, "directory"},
  };
  for (const Case& c : cases) {
    Result<std::unique_ptr<ExecSolver>> r = create(c.program);
    ASSERT_FALSE(r.ok()) << c.program;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << c.program;
    EXPECT_NE(r.error().message().find(c.expect), std::string::npos) << r.error().message();
  }
  // A symlink is judged by its target.
  fs::create_symlink(Path("everyone"), dir_ / "link");
  EXPECT_FALSE(create(Path("link")).ok());
  fs::create_symlink(good, dir_ / "goodlink");
  EXPECT_TRUE(create(Path("goodlink")).ok());
}

TEST_F(ExecSolverTest, OptionValidation) {
  const std::string good = Program("good", "#!/bin/sh\necho '{\"ok\":true}'\n");
  auto create = [&](milliseconds timeout, std::vector<std::string> args, std::string zone) {
    ExecSolverOptions options;
    options.program = good;
    options.timeout = timeout;
    options.args = std::move(args);
    options.zone = std::move(zone);
    return ExecSolver::Create(std::move(options));
  };
  EXPECT_TRUE(create(seconds(1), {}, "").ok());
  EXPECT_TRUE(create(std::chrono::minutes(10), {}, "").ok());
  EXPECT_FALSE(create(milliseconds(999), {}, "").ok());
  EXPECT_FALSE(create(std::chrono::minutes(10) + milliseconds(1), {}, "").ok());
  EXPECT_FALSE(create(seconds(5), {std::string("a\0b", 3)}, "").ok());
  EXPECT_FALSE(create(seconds(5), {}, "not a zone!").ok());
  ExecSolverOptions defaults;
  EXPECT_EQ(defaults.timeout, seconds(60));
}

TEST_F(ExecSolverTest, BadInputDoesNotRunTheProgram) {
  auto solver = Solver(Program("recorder", kRecorder), {dir_.string()});
  ASSERT_NE(solver, nullptr);
  Status s = solver->Present("app.example.com", kValue);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(solver->Present(kFqdn, "two\nlines").ok());
  EXPECT_FALSE(fs::exists(Path("requests")));
}

// --- programs named in certfleetd's configuration (issue #13) -----------------------------------

ExecPrograms Configured() {
  ExecPrograms p;
  p["corp-dns"] = {.name = "corp-dns",
                   .program = "/usr/local/lib/certfleet/dns-hook",
                   .args = {"--zone", "example.com"},
                   .accounts = {"team-a", "team-b"}};
  p["shared"] = {.name = "shared", .program = "/usr/lib/certfleet/shared-hook", .accounts = {"*"}};
  return p;
}

TEST(ExecProgramsTest, ResolvesConfiguredNamesForListedAccountsOnly) {
  const ExecPrograms programs = Configured();
  auto a = ResolveExecProgram(programs, "corp-dns", {}, "team-a");
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ((*a)->program, "/usr/local/lib/certfleet/dns-hook");
  EXPECT_EQ((*a)->args, (std::vector<std::string>{"--zone", "example.com"}));
  EXPECT_TRUE(ResolveExecProgram(programs, "corp-dns", {}, "team-b").ok());
  EXPECT_TRUE(ResolveExecProgram(programs, "shared", {}, "anyone").ok());

  auto other = ResolveExecProgram(programs, "corp-dns", {}, "team-c");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(other.error().message().find("rule exec.not_allowed"), std::string::npos);
  // An unknown name answers exactly like a program the account may not use.
  auto unknown = ResolveExecProgram(programs, "nope", {}, "team-c");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kForbidden);
  // Arguments never come from the caller.
  EXPECT_FALSE(ResolveExecProgram(programs, "corp-dns", {"--evil"}, "team-a").ok());
}

TEST(ExecProgramsTest, LegacyPathRowsRunOnlyAsAnEqualConfiguredEntry) {
  const ExecPrograms programs = Configured();
  // A row stored before issue #13 with a path: runs only if an entry has that path and args.
  EXPECT_TRUE(ResolveExecProgram(programs, "/usr/local/lib/certfleet/dns-hook",
                                 {"--zone", "example.com"}, "team-a")
                  .ok());
  EXPECT_FALSE(
      ResolveExecProgram(programs, "/usr/local/lib/certfleet/dns-hook", {}, "team-a").ok());
  EXPECT_FALSE(ResolveExecProgram(programs, "/usr/local/lib/certfleet/dns-hook",
                                  {"--zone", "example.com"}, "team-c")
                   .ok());
  EXPECT_FALSE(ResolveExecProgram(programs, "/bin/sh", {"-c", "id"}, "team-a").ok());
  EXPECT_FALSE(ResolveExecProgram({}, "/bin/sh", {}, "default").ok());
}

TEST(ExecProgramsTest, PathLikeValuesAreRecognised) {
  for (const char* p : {"/bin/sh", "bin/sh", "./hook", "../hook", "~/hook", "."}) {
    EXPECT_TRUE(LooksLikePath(p)) << p;
  }
  for (const char* n : {"corp-dns", "dns_hook", "hook1"}) EXPECT_FALSE(LooksLikePath(n)) << n;
}

}  // namespace
}  // namespace certfleet::acme
