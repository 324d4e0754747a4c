// The simulated agent's protocol loop (sim_agent.h). It mirrors AgentRuntime's order of work
// (agent_runtime.cc, agent_jobs.cc): challenges before jobs, jobs in seq order, the replay guard
// on seq, bundle then passphrase then report, and full-jitter back-off after a failed request.
#include "sim_agent.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "agent/agent_client.h"
#include "agent/agent_runtime.h"
#include "crypto/key.h"
#include "net/http.h"
#include "x509/csr.h"

// CF_ASSIGN_OR_RETURN for coroutines (a coroutine cannot `return`).
#define CO_ASSIGN_OR_RETURN(lhs, expr) \
  CO_ASSIGN_OR_RETURN_IMPL_(CF_CONCAT_(co_result_, __LINE__), lhs, expr)
#define CO_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)  \
  auto tmp = (expr);                               \
  if (!tmp.ok()) co_return std::move(tmp).error(); \
  lhs = std::move(tmp).value()

namespace certfleet::bench {
namespace {

namespace asio = boost::asio;
constexpr char kCsrCommonName[] = "certfleet-agent";  // as the real agent; the server ignores it

// Non-2xx: the same Error the real agent's client would make of it.
Error FromStatus(int status, std::string body) {
  net::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return agent::ErrorFromStatus(r);
}

std::chrono::milliseconds Backoff(int failures) {
  // Full jitter (backoff.h's policy, shortened: 250 ms to 10 s), so that thousands of agents
  // that failed together do not retry together.
  thread_local std::minstd_rand rng{std::random_device{}()};
  const int64_t cap = std::min<int64_t>(10000, int64_t(250) << std::min(failures, 6));
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(cap / 4, cap)(rng));
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SimAgent::SimAgent(asio::io_context& io, const FleetConfig& config, FleetCounters& counters,
                   std::string hostname, std::optional<asio::ip::address> source)
    : io_(io), config_(config), counters_(counters), hostname_(std::move(hostname)) {
  target_ = config_.server;
  target_.source = source;
}

asio::awaitable<void> SimAgent::Sleep(std::chrono::milliseconds d) {
  asio::steady_timer timer(io_, d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<Status> SimAgent::Enroll(SecretBytes token) {
  // The agent's own key, generated on the "host" (a P-256 key takes tens of microseconds, so
  // this may run on the event loop).
  Result<crypto::PrivateKey> key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  if (!key.ok()) co_return std::move(key).error();
  Result<x509::Csr> csr = x509::Csr::Build(*key, kCsrCommonName, {});
  if (!csr.ok()) co_return std::move(csr).error();
  HttpsConn anonymous(io_.get_executor(), config_.anonymous_tls, target_);
  Result<agent::Enrollment> enrollment = Internal("not enrolled");
  for (int failures = 0;; ++failures) {
    Result<std::string> body = agent::wire::EnrollRequestBody(token, csr->ToPem(), hostname_);
    if (!body.ok()) co_return std::move(body).error();
    Result<SimResponse> r =
        co_await anonymous.Request("POST", "/v1/agent/enroll", std::move(*body), config_.timeout);
    if (r.ok() && (r->status == 200 || r->status == 201)) {
      enrollment = agent::wire::ParseEnrollResponse(r->body);
      break;
    }
    Error e = r.ok() ? FromStatus(r->status, std::move(r->body)) : std::move(r).error();
    if (!agent::IsRetryable(e) || failures >= 8) {
      enrollment = std::move(e);
      break;
    }
    co_await Sleep(Backoff(failures));
  }
  token = SecretBytes();  // wiped
  if (!enrollment.ok()) co_return std::move(enrollment).error();
  agent_id_ = enrollment->agent_id;
  SecretBytes key_pem = key->ToPkcs8Pem();
  Result<std::shared_ptr<asio::ssl::context>> tls = MakeClientTls(
      config_.trust_pem, enrollment->certificate.certificate + enrollment->certificate.chain,
      key_pem.view());
  if (!tls.ok()) co_return std::move(tls).error();
  // One connection for everything after enrollment: the long poll, and the bundle, passphrase
  // and report requests between polls (keep-alive).
  conn_ = std::make_unique<HttpsConn>(io_.get_executor(), std::move(*tls), target_);
  co_return Ok();
}

asio::awaitable<Result<SimResponse>> SimAgent::Call(std::string_view method, std::string target,
                                                    std::string body,
                                                    std::chrono::milliseconds timeout) {
  Result<SimResponse> r =
      co_await conn_->Request(method, std::move(target), std::move(body), timeout);
  if (!r.ok()) co_return std::move(r).error();
  if (r->status < 200 || r->status >= 300) co_return FromStatus(r->status, std::move(r->body));
  co_return r;
}

asio::awaitable<void> SimAgent::Run(const std::atomic<bool>& stop) {
  int failures = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    Status s = co_await RunOnce();
    if (s.ok()) {
      failures = 0;
      continue;
    }
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
    co_await Sleep(Backoff(failures++));
  }
}

asio::awaitable<Status> SimAgent::RunOnce() {
  const auto started = std::chrono::steady_clock::now();
  counters_.polling.fetch_add(1, std::memory_order_relaxed);
  Result<SimResponse> polled =
      co_await Call("GET", "/v1/agent/jobs?wait=" + std::to_string(config_.poll_wait.count()), "",
                    config_.poll_wait + config_.timeout);
  counters_.polling.fetch_sub(1, std::memory_order_relaxed);
  if (!polled.ok()) co_return std::move(polled).error();
  counters_.polls.fetch_add(1, std::memory_order_relaxed);
  CO_ASSIGN_OR_RETURN(agent::PollResult work, agent::wire::ParsePollResponse(polled->body));

  for (const agent::Http01Task& task : work.challenges) {
    const char* state = task.action == agent::Http01Action::kPresent ? "failed" : "removed";
    std::string body = std::string("{\"state\":\"") + state + "\"" +
                       (task.action == agent::Http01Action::kPresent
                            ? ",\"reason\":\"fleet_sim serves no http-01 challenges\"}"
                            : "}");
    // An ack that does not arrive is re-sent by the server on the next poll (docs/agents.md).
    (void)co_await Call("POST", "/v1/agent/challenges/" + task.token, std::move(body),
                        config_.timeout);
  }

  for (const agent::AgentJob& job : work.jobs) {
    if (job.seq < last_seq_) continue;  // a replay: the real agent refuses it
    if (job.seq > last_seq_) {
      counters_.jobs.fetch_add(1, std::memory_order_relaxed);
      CO_ASSIGN_OR_RETURN(
          SimResponse bundle_response,
          co_await Call("GET", "/v1/agent/jobs/" + job.id + "/bundle", "", config_.timeout));
      CO_ASSIGN_OR_RETURN(agent::JobBundle bundle,
                          agent::wire::ParseBundleResponse(bundle_response.body, job.seq));
      CO_ASSIGN_OR_RETURN(SimResponse secret_response,
                          co_await Call("GET",
                                        "/v1/agent/secrets/" + job.secret_id +
                                            "?version=" + std::to_string(job.secret_version),
                                        "", config_.timeout));
      CO_ASSIGN_OR_RETURN(SecretBytes passphrase,
                          agent::wire::ParseSecretResponse(secret_response.body));
      // Host-side work skipped here: decrypting bundle.private_key with the passphrase,
      // CheckBundle, the atomic install, reload and TLS verification.
      (void)bundle;
      (void)passphrase;
    }
    // seq == last_seq_: the real agent re-reports the stored result of a job it completed.
    agent::JobReport report;
    report.seq = job.seq;
    report.state = "verified";
    report.serial = job.serial;
    CO_ASSIGN_OR_RETURN(std::string body, agent::wire::ReportRequestBody(report));
    Result<SimResponse> reported = co_await Call("POST", "/v1/agent/jobs/" + job.id + "/report",
                                                 std::move(body), config_.timeout);
    last_seq_ = std::max(last_seq_, job.seq);
    if (!reported.ok()) {
      if (reported.error().code() != ErrorCode::kConflict) co_return std::move(reported).error();
      counters_.stale_reports.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    counters_.verified.fetch_add(1, std::memory_order_relaxed);
    counters_.last_verified_ns.store(NowNs(), std::memory_order_relaxed);
  }
  // An empty answer that came back at once must not make the agent spin (AgentRuntime's
  // min_idle_poll_interval).
  if (work.jobs.empty() && work.challenges.empty() &&
      std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) {
    co_await Sleep(std::chrono::seconds(1));
  }
  co_return Ok();
}

}  // namespace certfleet::bench
