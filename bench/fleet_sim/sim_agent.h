// One simulated certfleet-agent for bench/fleet_sim: the real agent protocol of docs/agents.md
// (enrollment with a one-time token and a CSR for a fresh P-256 key, then mutual TLS: long
// poll, bundle, passphrase, report) over one keep-alive HttpsConn, with the request bodies
// built and the responses validated by the agent library's own wire functions
// (agent::wire in src/agent/agent_client.h).
//
// What it skips, and only that: the host-side work of an install. It does not decrypt the key,
// check the chain against the roots, write files, reload or verify over TLS; it reports
// "verified" with the job's serial once the bundle and passphrase have been fetched and parsed.
// http-01 tasks are acknowledged "failed" (a simulated host serves nothing).
//
// Threading: every coroutine of one SimAgent runs on the one io_context given at construction
// (fleet_sim gives each thread its own io_context), so the agent needs no lock. The counters
// are shared by all agents and atomic.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/error.h"
#include "base/secret_bytes.h"
#include "https_conn.h"

namespace certfleet::bench {

struct FleetCounters {
  std::atomic<int64_t> enrolled{0};
  std::atomic<int64_t> enroll_failed{0};
  std::atomic<int64_t> polling{0};           // agents with a long poll in flight now
  std::atomic<int64_t> polls{0};             // long polls answered
  std::atomic<int64_t> jobs{0};              // jobs received (not re-reports)
  std::atomic<int64_t> verified{0};          // "verified" reports the server accepted
  std::atomic<int64_t> stale_reports{0};     // 409: the target had moved on
  std::atomic<int64_t> errors{0};            // failed requests (each followed by a back-off)
  std::atomic<int64_t> last_verified_ns{0};  // steady_clock time of the latest accepted report
};

struct FleetConfig {
  ConnTarget server;  // `source` is set per agent
  std::string trust_pem;
  std::shared_ptr<boost::asio::ssl::context> anonymous_tls;  // for enrollment (no client cert)
  std::chrono::seconds poll_wait{25};
  std::chrono::milliseconds timeout{30000};
};

class SimAgent {
 public:
  SimAgent(boost::asio::io_context& io, const FleetConfig& config, FleetCounters& counters,
           std::string hostname, std::optional<boost::asio::ip::address> source);

  // Key generation, CSR, POST /v1/agent/enroll (retried with back-off on retryable errors: the
  // server accepts a retry with the same key within 10 minutes), then the mTLS context. The
  // token is wiped when this returns.
  boost::asio::awaitable<Status> Enroll(SecretBytes token);
  // Long poll, jobs, reports; until `stop` is set (checked between requests; a parked poll is
  // abandoned by stopping the io_context).
  boost::asio::awaitable<void> Run(const std::atomic<bool>& stop);

  const std::string& agent_id() const { return agent_id_; }

 private:
  boost::asio::awaitable<Result<SimResponse>> Call(std::string_view method, std::string target,
                                                   std::string body,
                                                   std::chrono::milliseconds timeout);
  boost::asio::awaitable<Status> RunOnce();
  boost::asio::awaitable<void> Sleep(std::chrono::milliseconds d);

  boost::asio::io_context& io_;
  const FleetConfig& config_;
  FleetCounters& counters_;
  std::string hostname_;
  ConnTarget target_;
  std::string agent_id_;
  std::unique_ptr<HttpsConn> conn_;  // mutual TLS, after enrollment
  int64_t last_seq_ = 0;             // the last job completed (the agent's replay guard)
};

}  // namespace certfleet::bench
