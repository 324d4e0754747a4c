// bench/fleet_sim: N simulated certfleet-agents in one process, speaking the real agent protocol
// to a real certfleetd (issue #14 item 4), and a driver that times rollouts through the admin API.
//
//   fleet_sim --server URL --ca FILE --token-file FILE --agents N [--rounds R] [--server-pid PID]
//             [--trigger renew|redeploy] [--drill --certificates C] [--threads T]
//
// Rollout mode (default): creates N one-time enrollment tokens (tags fsim=<run>, slot=<i>),
// enrolls N agents (key, CSR, POST /v1/agent/enroll), which then long-poll over mutual TLS; it
// creates one exportable certificate and one deployment selecting fsim=<run>, times the initial
// rollout, then R rounds of renewal (or redeploy) to every target verified, as the API reports
// it (GET /v1/deployments/{id}: generation moved on and state left "running").
// Drill mode (--drill): C certificates, certificate i deployed to agent i % N alone (selector
// slot=<i % N>); all C renewed at once; times until every placement is verified.
//
// Scale: agents are coroutines (sim_agent.h), spread over T threads with one io_context each, one
// keep-alive TLS connection per agent. certfleetd admits at most max_connections_per_address
// (default 256) connections from one IP, so on a loopback server the agents bind source
// addresses 127.0.0.2, 127.0.0.3, ... with at most --per-address agents each (default 200); the
// total --max-connections of certfleetd must still exceed N (bench/fleet_sim.py sets it).
//
// Prints figures, asserts nothing about them. Exit status 0 when every rollout reached every
// target, 1 otherwise, 2 for bad flags. The admin token is read from the file and sent only in
// the Authorization header; enrollment tokens stay in memory (SecretBytes) and are never printed.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/encoding.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "fleet_sim/https_conn.h"
#include "fleet_sim/proc_sampler.h"
#include "fleet_sim/sim_agent.h"
#include "net/https_client.h"

namespace certfleet::bench {
namespace {

namespace asio = boost::asio;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string server_url;
  std::string ca_file;
  std::string token_file;
  int agents = 10;
  int rounds = 1;
  std::string trigger = "renew";
  bool drill = false;
  int certificates = 0;  // drill: 0 = one per agent
  int server_pid = 0;
  int threads = 2;
  int api_connections = 16;
  int enroll_concurrency = 64;
  int per_address = 200;
  int poll_wait = 25;
  int phase_timeout = 3600;
  std::string profile = "fleet-sim";
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string Fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string Fmt(const char* format, ...) {
  char buf[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  return buf;
}

void Say(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return InvalidArgument("cannot read " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// One thread per io_context; every agent lives on one of them.
class AgentThreads {
 public:
  explicit AgentThreads(int n) {
    for (int i = 0; i < n; ++i) contexts_.push_back(std::make_unique<asio::io_context>(1));
    for (auto& io : contexts_) {
      guards_.emplace_back(asio::make_work_guard(*io));
      threads_.emplace_back([&io] { io->run(); });
    }
  }
  ~AgentThreads() { Stop(); }
  asio::io_context& at(size_t i) { return *contexts_[i % contexts_.size()]; }
  // Abandons parked long polls: coroutine frames are destroyed with the contexts.
  void Stop() {
    for (auto& io : contexts_) io->stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

class Driver {
 public:
  Driver(Options options, asio::io_context& io) : o_(std::move(options)), io_(io) {}

  asio::awaitable<int> Main();

 private:
  Status Setup();
  asio::awaitable<Result<json>> Api(HttpsConn& conn, std::string_view method, std::string target,
                                    const json& body, int ok, int also_ok = -1);
  // {"items": [...]} with every item of a paged list endpoint (docs/api.md "Pagination").
  asio::awaitable<Result<json>> ListAll(HttpsConn& conn, const std::string& path);
  // Runs fn(conn, i) for i in [0, n) on the API connections, in parallel; the first error wins.
  asio::awaitable<Status> Parallel(int n,
                                   std::function<asio::awaitable<Status>(HttpsConn&, int)> fn);
  asio::awaitable<void> Sleep(std::chrono::milliseconds d);
  asio::awaitable<Status> CreateTokens();
  asio::awaitable<Status> EnrollAgents();
  asio::awaitable<Result<std::string>> CreateCertificate(HttpsConn& conn, int i);
  asio::awaitable<Result<json>> WaitDeployment(const std::string& id, int64_t generation);
  asio::awaitable<Result<int>> WaitDeployments(int64_t generation);
  asio::awaitable<int> Rollout();
  asio::awaitable<int> Drill();
  std::string ServerFigures();

  Options o_;
  asio::io_context& io_;
  std::string run_;  // "fsim-<hex>": tags, names
  std::string admin_token_;
  ConnTarget target_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::vector<std::unique_ptr<HttpsConn>> api_;
  std::vector<asio::ip::address> sources_;
  FleetConfig fleet_config_;
  FleetCounters counters_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<AgentThreads> threads_;
  std::vector<std::unique_ptr<SimAgent>> agents_;
  std::vector<SecretBytes> tokens_;
  std::optional<ProcSampler> sampler_;
  // Drill: certificate ids and their deployments.
  std::vector<std::string> cert_ids_;
  std::vector<std::string> deployment_ids_;
  Clock::time_point done_at_;  // when WaitDeployment saw the deployment settle
};

Status Driver::Setup() {
  CF_ASSIGN_OR_RETURN(net::Url url, net::ParseUrl(o_.server_url));
  if (url.scheme != "https") return InvalidArgument("--server must be an https:// URL");
  CF_ASSIGN_OR_RETURN(std::string ca, ReadFile(o_.ca_file));
  CF_ASSIGN_OR_RETURN(std::string token, ReadFile(o_.token_file));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  if (token.empty()) return InvalidArgument("the token file is empty");
  admin_token_ = std::move(token);

  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(io_);
  auto endpoints = resolver.resolve(url.host, std::to_string(url.port), ec);
  if (ec || endpoints.empty()) return Unavailable("cannot resolve " + url.host);
  target_.server = endpoints.begin()->endpoint();
  target_.host = url.host;
  target_.host_header = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  target_.host_header += ":" + std::to_string(url.port);

  CF_ASSIGN_OR_RETURN(tls_, MakeClientTls(ca, "", ""));
  for (int i = 0; i < o_.api_connections; ++i) {
    api_.push_back(std::make_unique<HttpsConn>(io_.get_executor(), tls_, target_, 1u << 30));
  }
  // Loopback IPv4: spread the agents over 127.0.0.2... (every 127/8 address is local on Linux).
  const asio::ip::address a = target_.server.address();
  if (a.is_v4() && a.to_v4().to_bytes()[0] == 127 && o_.per_address > 0 &&
      o_.agents > o_.per_address) {
    const int n = (o_.agents + o_.per_address - 1) / o_.per_address;
    for (int i = 0; i < n; ++i) {
      asio::ip::address_v4::bytes_type b{127, 0, uint8_t((2 + i) / 250), uint8_t(2 + (i % 250))};
      sources_.push_back(asio::ip::address_v4(b));
    }
  }

  fleet_config_.server = target_;
  fleet_config_.trust_pem = ca;
  fleet_config_.anonymous_tls = tls_;
  fleet_config_.poll_wait = std::chrono::seconds(o_.poll_wait);

  SystemRandom random;
  run_ = "fsim-" + HexEncode(random.Bytes(4));
  if (o_.server_pid > 0) sampler_.emplace(o_.server_pid, std::chrono::milliseconds(100));
  return Ok();
}

asio::awaitable<void> Driver::Sleep(std::chrono::milliseconds d) {
  asio::steady_timer timer(io_, d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<Result<json>> Driver::Api(HttpsConn& conn, std::string_view method,
                                          std::string target, const json& body, int ok,
                                          int also_ok) {
  // Built before the co_await: g++ 12 destroys a conditional's temporary twice inside one.
  std::string payload;
  if (!body.is_null()) payload = body.dump();
  Result<SimResponse> r = co_await conn.Request(method, target, std::move(payload),
                                                std::chrono::seconds(120), &admin_token_);
  if (!r.ok()) co_return std::move(r).error();
  if (r->status != ok && r->status != also_ok) {
    ErrorCode code = ErrorCode::kInvalidArgument;
    if (r->status == 429 || r->status >= 500) code = ErrorCode::kUnavailable;
    co_return Error(code, std::string(method) + " " + target + " answered " +
                              std::to_string(r->status) + ": " + r->body.substr(0, 300));
  }
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) co_return Malformed(std::string(method) + " " + target + ": not JSON");
  co_return j;
}

asio::awaitable<Status> Driver::Parallel(
    int n, std::function<asio::awaitable<Status>(HttpsConn&, int)> fn) {
  // The driver's io_context has one thread, so the shared state needs no lock.
  struct Shared {
    int next = 0;
    int running = 0;
    std::optional<Error> error;
  };
  auto shared = std::make_shared<Shared>();
  for (auto& conn : api_) {
    ++shared->running;
    asio::co_spawn(
        io_,
        [shared, n, &fn, c = conn.get()]() -> asio::awaitable<void> {
          while (!shared->error && shared->next < n) {
            const int i = shared->next++;
            Status s = co_await fn(*c, i);
            if (!s.ok() && !shared->error) shared->error = std::move(s).error();
          }
          --shared->running;
        },
        asio::detached);
  }
  while (shared->running > 0) co_await Sleep(std::chrono::milliseconds(5));
  if (shared->error) co_return *shared->error;
  co_return Ok();
}

asio::awaitable<Status> Driver::CreateTokens() {
  tokens_.resize(o_.agents);
  co_return co_await Parallel(o_.agents, [this](HttpsConn& c, int i) -> asio::awaitable<Status> {
    json body = {{"tags", {{"fsim", run_}, {"slot", std::to_string(i)}}}, {"expires", "6h"}};
    Result<json> r = co_await Api(c, "POST", "/v1/agents/enrollment-tokens", body, 201);
    if (!r.ok()) co_return std::move(r).error();
    auto it = r->find("token");
    if (it == r->end() || !it->is_string()) co_return Malformed("no token in the answer");
    std::string& t = it->get_ref<std::string&>();
    tokens_[i] = SecretBytes::FromView(t);
    SecureWipe(t.data(), t.size());
    co_return Ok();
  });
}

asio::awaitable<Status> Driver::EnrollAgents() {
  agents_.resize(o_.agents);
  for (int i = 0; i < o_.agents; ++i) {
    std::optional<asio::ip::address> source;
    if (!sources_.empty()) source = sources_[i / o_.per_address];
    agents_[i] = std::make_unique<SimAgent>(threads_->at(i), fleet_config_, counters_,
                                            run_ + "-" + std::to_string(i), source);
  }
  // Each agent thread runs a few enrollment workers over the agents that live on it (agent i on
  // thread i % T): every coroutine of an agent, and its sockets and timers, then share one
  // io_context, as sim_agent.h requires. An enrolled agent starts its long poll.
  const int threads = o_.threads;
  const int workers_per_thread = std::max(1, o_.enroll_concurrency / threads);
  for (int t = 0; t < threads; ++t) {
    auto next = std::make_shared<std::atomic<int>>(t);  // t, t + T, t + 2T, ...
    asio::io_context& io = threads_->at(t);
    for (int w = 0; w < workers_per_thread; ++w) {
      asio::co_spawn(
          io,
          [this, next, threads, &io]() -> asio::awaitable<void> {
            for (int i = next->fetch_add(threads); i < o_.agents; i = next->fetch_add(threads)) {
              SimAgent& agent = *agents_[i];
              Status s = co_await agent.Enroll(std::move(tokens_[i]));
              if (!s.ok()) {
                if (counters_.enroll_failed.fetch_add(1) < 5) {
                  Say("enrollment failed: " + s.error().ToString());
                }
                continue;
              }
              counters_.enrolled.fetch_add(1);
              asio::co_spawn(io, agent.Run(stop_), asio::detached);
            }
          },
          asio::detached);
    }
  }
  const auto deadline = Clock::now() + std::chrono::seconds(o_.phase_timeout);
  while (counters_.enrolled + counters_.enroll_failed < o_.agents) {
    if (Clock::now() > deadline) co_return Error(ErrorCode::kTimeout, "enrollment did not finish");
    co_await Sleep(std::chrono::milliseconds(20));
  }
  if (counters_.enroll_failed > 0) {
    co_return Unavailable(std::to_string(counters_.enroll_failed.load()) + " enrollments failed");
  }
  // Every agent has its long poll parked before anything is timed.
  while (counters_.polling < o_.agents && Clock::now() < deadline) {
    co_await Sleep(std::chrono::milliseconds(20));
  }
  co_return Ok();
}

asio::awaitable<Result<std::string>> Driver::CreateCertificate(HttpsConn& conn, int i) {
  const std::string name = run_ + "-" + std::to_string(i);
  json body = {{"name", name},
               {"domains", {"c" + std::to_string(i) + "." + run_ + ".example.test"}},
               {"exportable", true}};
  Result<json> r = co_await Api(conn, "POST", "/v1/certificates", body, 201);
  if (!r.ok()) co_return std::move(r).error();
  co_return r->value("id", std::string());
}

asio::awaitable<Result<json>> Driver::ListAll(HttpsConn& conn, const std::string& path) {
  json items = json::array();
  std::string cursor;
  do {
    // Cursors are base64url: nothing to escape.
    std::string target = path + "?limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor);
    Result<json> page = co_await Api(conn, "GET", std::move(target), nullptr, 200);
    if (!page.ok()) co_return std::move(page).error();
    for (json& item : (*page)["items"]) items.push_back(std::move(item));
    const json next = page->value("next_cursor", json(nullptr));
    cursor = next.is_string() ? next.get<std::string>() : "";
  } while (!cursor.empty());
  co_return json{{"items", std::move(items)}};
}

asio::awaitable<Result<json>> Driver::WaitDeployment(const std::string& id, int64_t generation) {
  const auto deadline = Clock::now() + std::chrono::seconds(o_.phase_timeout);
  while (Clock::now() < deadline) {
    // Watched through the list, which carries no targets: GET /v1/deployments/{id} builds all
    // N targets' views, and asking for that ten times a second competed with the rollout it
    // measures (at 10,000 targets it timed out). The full view is read once, at the end.
    Result<json> list = co_await ListAll(*api_[0], "/v1/deployments");
    if (!list.ok()) co_return std::move(list).error();
    bool done = false;
    for (const json& d : (*list)["items"]) {
      if (d.value("id", std::string()) != id) continue;
      done = d.value("generation", int64_t(0)) >= generation &&
             d.value("state", std::string()) != "running";
    }
    if (done) {
      done_at_ = Clock::now();
      co_return co_await Api(*api_[0], "GET", "/v1/deployments/" + id, nullptr, 200);
    }
    co_await Sleep(std::chrono::milliseconds(100));
  }
  co_return Error(ErrorCode::kTimeout, "deployment " + id + " still running after " +
                                           std::to_string(o_.phase_timeout) + " s");
}

// Drill: until every deployment of this run has reached `generation` and left "running";
// returns how many succeeded.
asio::awaitable<Result<int>> Driver::WaitDeployments(int64_t generation) {
  std::unordered_map<std::string, int> index;
  for (size_t i = 0; i < deployment_ids_.size(); ++i) index[deployment_ids_[i]] = int(i);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(o_.phase_timeout);
  auto last_note = start;
  while (Clock::now() < deadline) {
    Result<json> list = co_await ListAll(*api_[0], "/v1/deployments");
    if (!list.ok()) co_return std::move(list).error();
    int done = 0, succeeded = 0;
    for (const json& d : (*list)["items"]) {
      auto it = index.find(d.value("id", std::string()));
      if (it == index.end()) continue;
      if (d.value("generation", int64_t(0)) >= generation &&
          d.value("state", std::string()) != "running") {
        ++done;
        succeeded += d.value("state", std::string()) == "succeeded";
      }
    }
    if (done == int(deployment_ids_.size())) co_return succeeded;
    if (Clock::now() - last_note > std::chrono::seconds(15)) {
      last_note = Clock::now();
      Say(Fmt("  ... %.0f s: %d/%zu deployments done, %lld reports verified so far",
              Seconds(Clock::now() - start), done, deployment_ids_.size(),
              (long long)counters_.verified.load()));
    }
    co_await Sleep(std::chrono::milliseconds(1000));
  }
  co_return Error(ErrorCode::kTimeout,
                  "deployments still running after " + std::to_string(o_.phase_timeout) + " s");
}

std::string Driver::ServerFigures() {
  std::string s = Fmt("load %.2f", LoadAverage1());
  if (!sampler_) return s;
  ProcFigures f = sampler_->Phase();
  if (!f.ok) return s + "; certfleetd not readable";
  return s + Fmt("; certfleetd RSS %.1f MiB (peak %.1f), CPU %.2f s", f.rss_mib, f.peak_rss_mib,
                 f.cpu_seconds);
}

asio::awaitable<int> Driver::Rollout() {
  Result<std::string> cert = co_await CreateCertificate(*api_[0], 0);
  if (!cert.ok()) {
    Say("certificate: " + cert.error().ToString());
    co_return 1;
  }
  auto t0 = Clock::now();
  json spec = {{"certificate", *cert},
               {"selector", {{"fsim", run_}}},
               {"profile", o_.profile},
               {"deadline", "1h"}};
  Result<json> created = co_await Api(*api_[0], "POST", "/v1/deployments", spec, 201);
  if (!created.ok()) {
    Say("deployment: " + created.error().ToString());
    co_return 1;
  }
  const std::string dep_id = created->value("id", std::string());
  Say("deployment " + dep_id + " of certificate " + *cert);
  int failures = 0;
  std::vector<double> times;
  int64_t generation = 1;
  for (int round = 0; round <= o_.rounds; ++round) {
    if (round > 0) {
      t0 = Clock::now();
      Result<json> r = Internal("no trigger");
      if (o_.trigger == "redeploy") {
        r = co_await Api(*api_[0], "POST", "/v1/deployments/" + dep_id + "/redeploy",
                         json::object(), 202);
      } else {
        r = co_await Api(*api_[0], "POST", "/v1/certificates/" + *cert + "/renew", json::object(),
                         200, 201);
      }
      if (!r.ok()) {
        Say("trigger: " + r.error().ToString());
        co_return 1;
      }
      ++generation;
    }
    const int64_t verified_before = counters_.verified;
    Result<json> dep = co_await WaitDeployment(dep_id, generation);
    if (!dep.ok()) {
      Say("round " + std::to_string(round) + ": " + dep.error().ToString());
      co_return 1;
    }
    const double elapsed = Seconds(done_at_ - t0);  // not the final GET of every target
    const double last_report = Seconds(
        Clock::time_point(std::chrono::nanoseconds(counters_.last_verified_ns.load())) - t0);
    int ok = 0, total = 0;
    for (const json& t : (*dep)["targets"]) {
      ++total;
      ok += t.value("state", std::string()) == "verified";
    }
    const std::string state = dep->value("state", std::string());
    if (state != "succeeded" || ok != o_.agents) ++failures;
    if (round > 0) times.push_back(elapsed);
    std::string what = "initial rollout";
    if (round > 0) what = "round " + std::to_string(round) + " (" + o_.trigger + ")";
    Say(Fmt("%s: %s %d/%d targets verified in %.2f s (last report at %.2f s, %lld reports); ",
            what.c_str(), state.c_str(), ok, total, elapsed, last_report,
            (long long)(counters_.verified - verified_before)) +
        ServerFigures());
  }
  if (!times.empty()) {
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    Say(Fmt("rollout to all %d targets (%s): median %.2f s, min %.2f s, max %.2f s over %zu rounds",
            o_.agents, o_.trigger.c_str(), sorted[sorted.size() / 2], sorted.front(), sorted.back(),
            sorted.size()));
  }
  co_return failures == 0 ? 0 : 1;
}

asio::awaitable<int> Driver::Drill() {
  const int c = o_.certificates > 0 ? o_.certificates : o_.agents;
  cert_ids_.resize(c);
  deployment_ids_.resize(c);
  auto t0 = Clock::now();
  Status s = co_await Parallel(c, [this](HttpsConn& conn, int i) -> asio::awaitable<Status> {
    Result<std::string> id = co_await CreateCertificate(conn, i);
    if (!id.ok()) co_return std::move(id).error();
    cert_ids_[i] = *id;
    co_return Ok();
  });
  if (!s.ok()) {
    Say("certificates: " + s.error().ToString());
    co_return 1;
  }
  double dt = Seconds(Clock::now() - t0);
  Say(Fmt("drill: %d certificates issued in %.1f s (%.0f/s); ", c, dt, c / dt) + ServerFigures());

  t0 = Clock::now();
  s = co_await Parallel(c, [this](HttpsConn& conn, int i) -> asio::awaitable<Status> {
    json spec = {{"certificate", cert_ids_[i]},
                 {"selector", {{"fsim", run_}, {"slot", std::to_string(i % o_.agents)}}},
                 {"profile", o_.profile},
                 {"deadline", "24h"}};
    Result<json> r = co_await Api(conn, "POST", "/v1/deployments", spec, 201);
    if (!r.ok()) co_return std::move(r).error();
    deployment_ids_[i] = r->value("id", std::string());
    co_return Ok();
  });
  if (!s.ok()) {
    Say("deployments: " + s.error().ToString());
    co_return 1;
  }
  Say(Fmt("drill: %d deployments created in %.1f s", c, Seconds(Clock::now() - t0)));
  Result<int> first = co_await WaitDeployments(1);
  if (!first.ok()) {
    Say("initial placements: " + first.error().ToString());
    co_return 1;
  }
  dt = Seconds(Clock::now() - t0);
  Say(Fmt("drill: initial placement %d/%d succeeded %.1f s after the first create (%.0f/s); ",
          *first, c, dt, c / dt) +
      ServerFigures());

  // The mass re-issue: every certificate renewed at once (as fast as the API takes them).
  t0 = Clock::now();
  s = co_await Parallel(c, [this](HttpsConn& conn, int i) -> asio::awaitable<Status> {
    Result<json> r = co_await Api(conn, "POST", "/v1/certificates/" + cert_ids_[i] + "/renew",
                                  json::object(), 200, 201);
    if (!r.ok()) co_return std::move(r).error();
    co_return Ok();
  });
  if (!s.ok()) {
    Say("renewals: " + s.error().ToString());
    co_return 1;
  }
  const double renewed = Seconds(Clock::now() - t0);
  Result<int> second = co_await WaitDeployments(2);
  if (!second.ok()) {
    Say("re-issue drill: " + second.error().ToString());
    co_return 1;
  }
  dt = Seconds(Clock::now() - t0);
  Say(Fmt("drill: %d certificates renewed in %.1f s (%.0f/s); every placement verified %.1f s "
          "after the first renewal (%.0f placements/s), %d/%d succeeded; ",
          c, renewed, c / renewed, dt, c / dt, *second, c) +
      ServerFigures());
  co_return *first == c&&* second == c ? 0 : 1;
}

asio::awaitable<int> Driver::Main() {
  if (Status s = Setup(); !s.ok()) {
    Say("fleet_sim: " + s.error().ToString());
    co_return 2;
  }
  threads_ = std::make_unique<AgentThreads>(o_.threads);
  Say(Fmt("fleet_sim: run %s, %d agents on %d threads, %zu source addresses, %s mode; load %.2f",
          run_.c_str(), o_.agents, o_.threads, sources_.size(), o_.drill ? "drill" : "rollout",
          LoadAverage1()));
  if (sampler_) Say("certfleetd at start: " + ServerFigures());

  auto t0 = Clock::now();
  if (Status s = co_await CreateTokens(); !s.ok()) {
    Say("enrollment tokens: " + s.error().ToString());
    co_return 1;
  }
  double dt = Seconds(Clock::now() - t0);
  Say(Fmt("%d enrollment tokens in %.1f s (%.0f/s)", o_.agents, dt, o_.agents / dt));

  t0 = Clock::now();
  const double cpu0 = SelfCpuSeconds();
  if (Status s = co_await EnrollAgents(); !s.ok()) {
    Say("enrollment: " + s.error().ToString());
    co_return 1;
  }
  dt = Seconds(Clock::now() - t0);
  Say(Fmt("%d agents enrolled and long-polling in %.1f s (%.0f/s; fleet_sim CPU %.1f s); ",
          o_.agents, dt, o_.agents / dt, SelfCpuSeconds() - cpu0) +
      ServerFigures());

  const double cpu1 = SelfCpuSeconds();
  int rc = 1;
  if (o_.drill) {
    rc = co_await Drill();
  } else {
    rc = co_await Rollout();
  }

  int64_t rss_kib = 0, ticks = 0;
  ReadProc(getpid(), &rss_kib, &ticks);
  std::string total;
  if (sampler_) {
    ProcFigures f = sampler_->Total();
    total = Fmt("certfleetd peak RSS %.1f MiB, CPU %.1f s over the run; ", f.peak_rss_mib,
                f.cpu_seconds);
  }
  std::string mode = Fmt("rounds=%d trigger=%s", o_.rounds, o_.trigger.c_str());
  if (o_.drill) mode = Fmt("certificates=%d", o_.certificates > 0 ? o_.certificates : o_.agents);
  Say(Fmt("summary: agents=%d %s; ", o_.agents, mode.c_str()) + total +
      Fmt("fleet_sim RSS %.1f MiB, CPU %.1f s after enrollment; %lld polls, %lld jobs, %lld "
          "verified, %lld stale, %lld errors; load %.2f; %s",
          double(rss_kib) / 1024, SelfCpuSeconds() - cpu1, (long long)counters_.polls.load(),
          (long long)counters_.jobs.load(), (long long)counters_.verified.load(),
          (long long)counters_.stale_reports.load(), (long long)counters_.errors.load(),
          LoadAverage1(), rc == 0 ? "ok" : "FAILED"));
  stop_ = true;
  threads_->Stop();
  co_return rc;
}

}  // namespace
}  // namespace certfleet::bench

int main(int argc, char** argv) {
  using certfleet::bench::Options;
  Options o;
  CLI::App app{"fleet_sim: simulated certfleet-agents against a real certfleetd"};
  app.add_option("--server", o.server_url, "certfleetd URL, https://host:port")->required();
  app.add_option("--ca", o.ca_file, "PEM that verifies certfleetd (its ca.pem)")->required();
  app.add_option("--token-file", o.token_file, "admin API token file")->required();
  app.add_option("--agents", o.agents, "simulated agents (default 10)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--rounds", o.rounds, "timed rollouts after the initial one (default 1)")
      ->check(CLI::Range(0, 1000));
  app.add_option("--trigger", o.trigger, "renew (default) or redeploy")
      ->check(CLI::IsMember({"renew", "redeploy"}));
  app.add_flag("--drill", o.drill, "mass re-issue drill: --certificates C, one agent each");
  app.add_option("--certificates", o.certificates,
                 "drill: certificates (default: one per agent; agent i % N receives certificate i)")
      ->check(CLI::Range(0, 10000000));
  app.add_option("--server-pid", o.server_pid, "certfleetd's pid: sample its RSS and CPU");
  app.add_option("--threads", o.threads, "agent threads (default 2)")->check(CLI::Range(1, 64));
  app.add_option("--api-connections", o.api_connections,
                 "parallel admin API connections (default 16)")
      ->check(CLI::Range(1, 256));
  app.add_option("--enroll-concurrency", o.enroll_concurrency, "enrollments in flight (default 64)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--per-address", o.per_address,
                 "agents per loopback source address 127.0.0.2+ (default 200; 0: no binding)")
      ->check(CLI::Range(0, 60000));
  app.add_option("--poll-wait", o.poll_wait, "long-poll wait in seconds (default 25)")
      ->check(CLI::Range(1, 60));
  app.add_option("--phase-timeout", o.phase_timeout, "seconds per phase (default 3600)");
  app.add_option("--profile", o.profile, "deployment profile name (default fleet-sim)");
  app.footer(
      "Rollout mode (default): N agents enroll with one-time tokens and long-poll over mutual "
      "TLS; one certificate is deployed to all of them, then renewed (or redeployed) --rounds "
      "times; each rollout is timed until certfleetd reports every target verified.\n"
      "Drill mode (--drill): C certificates, certificate i deployed to agent i % N alone, all "
      "renewed at once; timed until every placement is verified.\n"
      "Simulated agents do everything a certfleet-agent does over the wire and nothing on the "
      "host (no decryption, files or reloads). Prints figures; exit 0 when every rollout reached "
      "every target, 1 otherwise, 2 for bad input. bench/fleet_sim.py starts a certfleetd for it "
      "(docs/PERFORMANCE.md, \"Fleet rollouts\").");
  CLI11_PARSE(app, argc, argv);

  // One descriptor per agent, plus the API connections and some slack.
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  const rlim_t need = rlim_t(o.agents) + rlim_t(o.api_connections) + 256;
  if (nofile.rlim_cur < need) {
    nofile.rlim_cur = std::min(need, nofile.rlim_max);
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (nofile.rlim_cur < need) {
    std::fprintf(stderr, "fleet_sim: %d agents need %llu file descriptors; ulimit -n allows %llu\n",
                 o.agents, (unsigned long long)need, (unsigned long long)nofile.rlim_cur);
    return 2;
  }

  boost::asio::io_context io(1);
  int rc = 1;
  certfleet::bench::Driver driver(o, io);
  boost::asio::co_spawn(io, driver.Main(), [&rc](std::exception_ptr e, int r) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "fleet_sim: %s\n", ex.what());
      }
      rc = 1;
    } else {
      rc = r;
    }
  });
  io.run();
  // Exit without tearing down: thousands of parked agent coroutines, their sockets and
  // io_contexts would be destroyed in an order asio does not promise to survive (a frame's
  // destructor posts to its executor), and the kernel closes every socket anyway.
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(rc);
}
