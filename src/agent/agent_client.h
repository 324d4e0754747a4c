// A typed client for the agent protocol of docs/agents.md ("Agent protocol", /v1/agent/...).
//
// Every call returns the parsed, validated response or an Error. A non-2xx answer is decoded by
// net::DecodeProblem: the code is the one the problem document's `type` names, so the server's
// conflict and failed_precondition (both 409), or malformed and invalid_argument (both 400), reach
// the caller as such. Only a body that is not a certfleet problem (a proxy's page) is mapped from
// its status:
//   Unavailable (retryable)   connection failures, timeouts, 502/503 and other 5xx
//   Timeout (retryable)       504
//   Internal (retryable)      500; every 5xx is retryable, whatever its type
//   RateLimited (retryable)   429, with retry_after from Retry-After when the server sends one
//   Unauthorized              401 (unknown or expired enrollment token; unknown client serial)
//   Forbidden                 403 (a secret the agent's tags do not allow), TLS verification
//   NotFound / Conflict       404 / 409 (see each call)
//   InvalidArgument           400 and other 4xx
//   Malformed                 a 2xx body that is not the documented JSON: not an object, a
//                             missing or mistyped field, an id that is not a name, seq <= 0, an
//                             empty PEM, a bad timestamp. Unknown fields are ignored so that the
//                             server may add fields without breaking deployed agents.
//   TooLarge                  a body above the cap (ClientOptions.max_response_bytes)
// Error messages quote the server's RFC 7807 "detail" only after sanitizing it, and never
// contain the enrollment token, a passphrase or key material: those travel in SecretBytes and
// the buffers that held them on the wire are wiped.
//
// Thread-safe: calls share only the immutable HTTPS clients (each call is its own connection).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/secret_bytes.h"
#include "net/https_client.h"

namespace certfleet::agent {

// One install assignment from GET /v1/agent/jobs.
struct AgentJob {
  std::string id;  // the deployment target ("dtg_..."), stable across generations
  std::string deployment_id;
  int64_t seq = 0;  // > 0, increases for each assignment to this agent
  int64_t generation = 0;
  std::string certificate_id;
  std::string certificate_name;
  std::string version_id;
  int64_t version = 0;
  std::string serial;  // lower-case hex, as the server reports it
  std::optional<TimePoint> not_after;
  std::string profile;  // a profile name of the local configuration
  std::string secret_id;
  int64_t secret_version = 0;
};

// One http-01 challenge task from GET /v1/agent/jobs ("challenges", issue #6): certfleetd asks
// the agent to publish (present) or withdraw (remove) a key authorization at
// /.well-known/acme-challenge/<token> and waits for AckChallenge before it answers the CA.
enum class Http01Action { kPresent, kRemove };
std::string_view Http01ActionName(Http01Action action);  // "present", "remove"

struct Http01Task {
  std::string token;              // base64url, 1..256 characters
  std::string key_authorization;  // "<token>.<base64url>", <= 512 bytes; may be empty for remove
  Http01Action action = Http01Action::kPresent;
  // The DNS name the token is for (issue #13): the agent's listener answers it only for this
  // Host. Lower case; empty when certfleetd sent none.
  std::string identifier;
};

struct PollResult {
  // Challenges come first in the agent's work: the CA is waiting on them.
  std::vector<Http01Task> challenges;  // in the server's order, at most 100
  std::vector<AgentJob> jobs;          // sorted by seq, ascending
  std::optional<TimePoint> cert_renew_after;
};

struct JobBundle {
  int64_t seq = 0;
  std::string certificate;  // leaf PEM
  std::string chain;        // intermediates PEM, may be empty
  SecretBytes private_key;  // normally "ENCRYPTED PRIVATE KEY" PEM
};

// A client certificate issued at enrollment or renewal.
struct IssuedCertificate {
  std::string certificate;  // PEM
  std::string chain;        // PEM, may be empty
  std::optional<TimePoint> not_after;
};

struct Enrollment {
  std::string agent_id;
  std::string account;
  std::map<std::string, std::string> tags;
  IssuedCertificate certificate;
};

// POST /v1/agent/jobs/{id}/report.
struct JobReport {
  int64_t seq = 0;
  std::string state;   // installed, verified, failed, rolled_back
  std::string reason;  // cut to 1024 characters by Report()
  std::vector<std::string> paths;
  std::string serial;
};

struct AgentClientOptions {
  std::string server_url;  // "https://host:port", no path
  std::string trust_pem;   // the --ca file: verifies certfleetd
  // Client certificate + chain and key for mutual TLS; both empty before enrollment.
  std::string client_cert_pem;
  SecretBytes client_key_pem;
  std::chrono::milliseconds timeout{30000};  // ordinary requests
  // Added to the poll wait for the long-poll request timeout, so a server that holds the poll
  // for the full wait is not mistaken for a dead one.
  std::chrono::milliseconds poll_grace{30000};
  size_t max_response_bytes = 1 << 20;
};

class AgentClient {
 public:
  // InvalidArgument for a server URL that is not https://host[:port], or TLS material that does
  // not load (net::HttpsClient::Create). The key PEM is wiped once loaded.
  static Result<std::unique_ptr<AgentClient>> Create(AgentClientOptions options);
  // For tests: `http` serves ordinary requests, `poll_http` the long poll (may be the same kind
  // of fake). Both owned.
  AgentClient(std::string base_url, std::unique_ptr<net::HttpsClient> http,
              std::unique_ptr<net::HttpsClient> poll_http)
      : base_(std::move(base_url)), http_(std::move(http)), poll_http_(std::move(poll_http)) {}

  // POST /v1/agent/enroll (201). Unauthorized for an unknown or expired token, Conflict when it
  // was used already. The token must be [A-Za-z0-9._~-]+ (InvalidArgument otherwise, without
  // echoing it).
  Result<Enrollment> Enroll(const SecretBytes& token, const std::string& csr_pem,
                            const std::string& hostname);
  // GET /v1/agent/jobs?wait=N, N in 0..60 (InvalidArgument otherwise). The request timeout is
  // wait + poll_grace.
  Result<PollResult> Poll(std::chrono::seconds wait);
  // GET /v1/agent/jobs/{id}/bundle. NotFound if the target is not this agent's. Malformed if
  // the bundle's seq differs from `job.seq` (a bundle for another assignment).
  Result<JobBundle> FetchBundle(const AgentJob& job);
  // GET /v1/agent/secrets/{id}?version=N. Forbidden when the agent's tags do not allow it.
  Result<SecretBytes> FetchSecret(const std::string& secret_id, int64_t version);
  // POST /v1/agent/jobs/{id}/report. Conflict (409) when seq is no longer the target's current
  // one: the server ignored a stale report.
  Status Report(const std::string& job_id, const JobReport& report);
  // POST /v1/agent/renew.
  Result<IssuedCertificate> Renew(const std::string& csr_pem);
  // POST /v1/agent/challenges/{token} with {"state": state, "reason": reason}: tells certfleetd
  // that an http-01 task is done. `state` is "presented", "removed" or "failed" and `token`
  // base64url of 1..256 characters (InvalidArgument otherwise, before any request). `reason` is
  // cut to 1024 printable characters and left out when empty. Ok on 200 (or 204); NotFound (404)
  // when the server no longer knows the token; other errors as in the table above.
  Status AckChallenge(const std::string& token, const std::string& state,
                      const std::string& reason);

 private:
  Result<net::HttpResponse> Call(net::HttpsClient& client, const std::string& method,
                                 const std::string& target, const std::string& body,
                                 std::initializer_list<int> ok_statuses);
  std::string base_;
  std::unique_ptr<net::HttpsClient> http_;
  std::unique_ptr<net::HttpsClient> poll_http_;
};

// The protocol's message bodies without the transport: AgentClient uses them, and so does
// bench/fleet_sim, which speaks the same protocol for thousands of simulated agents over its own
// asynchronous connections. Each parser validates exactly as the call of the same name above
// documents (Malformed for a body that is not the documented JSON).
namespace wire {
// The POST /v1/agent/enroll body. InvalidArgument for a token with characters a token cannot
// have (not echoed). The result holds the token: the caller wipes it after sending.
Result<std::string> EnrollRequestBody(const SecretBytes& token, const std::string& csr_pem,
                                      const std::string& hostname);
Result<Enrollment> ParseEnrollResponse(const std::string& body);
Result<PollResult> ParsePollResponse(const std::string& body);
// Wipes `body` (it holds the encrypted key). Malformed when seq differs from `expected_seq`.
Result<JobBundle> ParseBundleResponse(std::string& body, int64_t expected_seq);
// Wipes `body` (it holds the passphrase).
Result<SecretBytes> ParseSecretResponse(std::string& body);
// The POST /v1/agent/jobs/{id}/report body. InvalidArgument for seq <= 0 or an unknown state.
Result<std::string> ReportRequestBody(const JobReport& report);
}  // namespace wire

// Maps a non-2xx response to an Error (see the table above): "server answered HTTP <status>
// [<code>]: <sanitized detail or title>". Exposed for tests and bench/fleet_sim.
Error ErrorFromStatus(const net::HttpResponse& response);

// Printable ASCII cut to `max` characters, other bytes replaced by '?'. For reasons and
// server-provided text that end up in logs and reports.
std::string SanitizeText(std::string_view s, size_t max);

}  // namespace certfleet::agent
