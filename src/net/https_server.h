// HTTPS server (Boost.Beast/Asio): TLS 1.2+, HTTP/1.1 keep-alive, optional mutual TLS.
//
// Handlers are plain functions of HttpRequest -> HttpResponse. They run on a worker pool, never on
// the I/O threads, so a handler may block (database commits, RSA key generation) without stalling
// other connections. A handler that answers later (long polling) returns a response with
// `deferred` set (see DeferredResponse in http.h): the request then waits without holding a
// worker or I/O thread, and without the request or idle timeout running, until it is completed
// from any thread. The server enforces the limits in Options and answers violations itself with
// an RFC 7807 problem document (413 for an oversize body, 431 for oversize headers, 400 for a
// malformed request, 500 when the handler throws). A client slower than request_timeout_seconds
// or idle longer than idle_timeout_seconds is disconnected without a response: the timed-out
// stream is already closed, and like nginx we do not spend more on a slow peer. Every response
// carries Content-Length (except 1xx/204/304) and Cache-Control: no-store, since responses may
// carry key material. Thread-safe: Start/Stop from one owner thread (never from a handler: Stop
// joins the workers); the handler is called concurrently from worker threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/secret_bytes.h"
#include "net/address_policy.h"
#include "net/http.h"

namespace certfleet::net {

using Handler = std::function<HttpResponse(const HttpRequest&)>;

// Connection accounting for metrics (docs/metrics.md): read from any thread.
struct ConnectionCounters {
  std::atomic<int64_t> open{0};                      // connections being served now
  std::atomic<uint64_t> refused_max_connections{0};  // closed at accept: the total limit
  // Closed at accept (behind a trusted proxy: once its PROXY header named the client) by the
  // per-address limit.
  std::atomic<uint64_t> refused_per_address{0};
  // Closed because a trusted proxy's connection did not start with a valid PROXY header in time.
  std::atomic<uint64_t> refused_proxy_header{0};
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8443;        // 0 picks a free port; see HttpsServer::port()
  std::string cert_chain_pem;  // server certificate first, then intermediates
  SecretBytes key_pem;         // unencrypted private key PEM
  // PEM bundle of CAs that sign client certificates. When set, the server requests a client
  // certificate and verifies it if presented (a request without one still reaches the handler,
  // with client_cert_der unset; authorization decides). A presented certificate that does not
  // verify fails the handshake.
  std::string client_ca_pem;
  size_t max_body_bytes = 1 << 20;  // 1 MiB
  size_t max_header_bytes = 16 << 10;
  int io_threads = 1;
  int worker_threads = 32;
  int request_timeout_seconds = 30;  // whole request read deadline
  int idle_timeout_seconds = 60;     // keep-alive idle
  // Connections beyond these limits (in all, and from one client IP address) are accepted and
  // closed at once, before the TLS handshake, and counted in `counters` (issue #13: one client
  // cannot take every connection slot).
  size_t max_connections = 4096;
  size_t max_connections_per_address = 256;
  // Borrowed; may be null. Must outlive the server.
  ConnectionCounters* counters = nullptr;
  // Load balancers that announce their clients with the PROXY protocol (issue #15;
  // net/proxy_protocol.h), e.g. HAProxy with send-proxy-v2. A connection whose source address
  // lies in one of these networks must start with a PROXY header (version 2 or 1), which is read
  // before the TLS handshake, within proxy_header_timeout_seconds and kMaxProxyHeaderBytes; the
  // client address it carries then replaces the peer's for everything downstream: the
  // per-address limit (checked once the header is read), HttpRequest::remote_address (audit
  // records, logs). A LOCAL header (the balancer's own health check) keeps the balancer's address.
  // A missing, late or invalid header closes the connection (counted in refused_proxy_header).
  // Connections from any other address are never read for a header: one that sends a PROXY
  // header anyway is talking garbage to TLS, and fails the handshake. Empty: no PROXY protocol.
  std::vector<Cidr> trusted_proxies;
  int proxy_header_timeout_seconds = 5;  // the spec asks for at least 3 (a TCP retransmit)
};

class HttpsServer {
 public:
  // Validates options, loads the TLS material and binds the listening socket (so port() is known
  // once this returns). InvalidArgument for bad options or TLS material, Unavailable if the
  // address cannot be bound. The key PEM is wiped once loaded.
  static Result<std::unique_ptr<HttpsServer>> Create(ServerOptions options, Handler handler);
  virtual ~HttpsServer() = default;
  // Starts the I/O and worker threads and returns immediately. FailedPrecondition if called
  // twice or after Stop.
  virtual Status Start() = 0;
  // Stops accepting, closes connections and joins all threads. Waits for handlers that are
  // running (they cannot be interrupted); their responses are not sent. Does not wait for
  // deferred responses: it completes every parked one with a 503 itself (sent only if the
  // connection still allows), so the handler's later Complete returns false. Idempotent; the
  // destructor calls it.
  virtual void Stop() = 0;
  // Before Stop, while a load balancer takes this server out of rotation: requests are still
  // served, but every response from now on closes its connection ("Connection: close"), so
  // keep-alive clients (agents' long polls, the CLI) reconnect, through the balancer to another
  // replica. Idempotent; thread-safe.
  virtual void Drain() = 0;
  virtual uint16_t port() const = 0;
};

}  // namespace certfleet::net
