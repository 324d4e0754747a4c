// HttpsServer on Boost.Beast: one C++20 coroutine per connection, each on its own strand, so the
// ssl_stream, its timer and the coroutine never run concurrently even with several I/O threads.
// Handlers run on a separate thread pool; the coroutine suspends until the pool posts the
// response back, so a blocking handler never stalls the I/O threads. A deferred (long-poll)
// response holds no thread at all while it waits: the suspended coroutine's completion handler
// is parked inside the DeferredResponse, and whoever completes it posts it back to the strand.
//
// This is one of the two translation units that instantiate Beast (with https_client.cc); keep
// Beast out of every other file (RECIPES.md: about a minute and 1.8 GB per such TU).
#include "net/https_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "net/internal.h"
#include "net/problem.h"
#include "net/proxy_protocol.h"
#include "net/tls_context.h"

namespace certfleet::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using internal::InternalProblem;
using internal::IsSafeFieldValue;
using internal::IsToken;
using internal::ScopeExit;
using internal::TakeOpenSslMessage;
using internal::ToLowerAscii;
using Deliver = std::function<void(HttpResponse)>;
using internal::WipeString;
using internal::WipingAllocator;

// Request bytes (bearer tokens, passphrases) pass through the read buffer and the header fields:
// both wipe their memory when they free it.
using Stream = beast::ssl_stream<beast::tcp_stream>;
using RequestParser = http::request_parser<http::string_body, WipingAllocator<char>>;
using RequestMessage = RequestParser::value_type;
using ReadBuffer = beast::basic_flat_buffer<WipingAllocator<char>>;
using Response = http::response<http::string_body>;

constexpr auto kUseAwaitable = asio::use_awaitable;
// Budget for writing a refusal (413/431/400) and draining what the client still sends.
constexpr std::chrono::seconds kLingerTimeout{3};
// Budget for the TLS close_notify exchange after a "Connection: close" response.
constexpr std::chrono::seconds kShutdownTimeout{2};
constexpr std::chrono::milliseconds kAcceptBackoff{100};
constexpr size_t kReadChunk = 16 * 1024;
constexpr std::string_view k100Continue = "HTTP/1.1 100 Continue\r\n\r\n";

struct Connection {
  Connection(tcp::socket socket, ssl::context& ctx) : stream(std::move(socket), ctx) {}
  Stream stream;
  uint64_t id = 0;
  // The address the per-address limit counts: the peer's, or behind a trusted proxy the client's
  // from its PROXY header. `counted` once it is in per_address_ (at accept, or once the header is
  // read). Written at registration and then only on the connection's strand.
  std::string peer_ip;
  bool counted = false;
  bool via_proxy = false;  // from a trusted proxy: a PROXY header comes before TLS
};

// What a trusted proxy's PROXY header said, and the bytes read past it.
struct ProxyPreamble {
  std::string ip;      // the client's address, or the proxy's own for LOCAL/UNKNOWN
  std::string remote;  // "ip:port" / "[ip]:port"
  // Bytes received after the header: the start of the TLS handshake, handed to it.
  std::string early_data;
};

// Beast 1.74 uses boost::string_view, which does not convert to std::string_view.
std::string_view Sv(beast::string_view s) { return {s.data(), s.size()}; }

// The problem to answer a failed request read with, or nullopt when the connection is simply
// over (peer closed, timeout, Stop, TLS failure): then there is nobody to answer.
std::optional<HttpResponse> ProblemForReadError(const beast::error_code& ec,
                                                const ServerOptions& options) {
  if (ec == http::error::body_limit) {
    return EncodeProblem(
        ErrorCode::kTooLarge,
        "request body exceeds " + std::to_string(options.max_body_bytes) + " bytes");
  }
  if (ec == http::error::header_limit) {
    return EncodeProblem(
        ErrorCode::kTooLarge,
        "request header exceeds " + std::to_string(options.max_header_bytes) + " bytes", 431);
  }
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
    return std::nullopt;
  }
  if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
    return EncodeProblem(ErrorCode::kMalformed, "malformed HTTP request");
  }
  return std::nullopt;
}

// The answer to requests that are parked (deferred) when the server stops.
HttpResponse ShuttingDownProblem() {
  // Retry-After: another replica (or this one, restarted) answers soon.
  return EncodeProblem(ErrorCode::kUnavailable, "the server is shutting down", 0, nullptr,
                       std::chrono::seconds(1));
}

Response ToBeastResponse(HttpResponse response, unsigned version, bool keep_alive, bool head) {
  if (response.status < 200 || response.status > 599) {
    // 1xx would change the protocol state (101 switches protocols); anything else is not HTTP.
    log::Error("handler returned an invalid status", {{"status", std::to_string(response.status)}});
    WipeString(response.body);
    response = InternalProblem();
  }
  Response out;
  out.version(version);
  out.result(static_cast<unsigned>(response.status));
  for (const auto& [name, value] : response.headers) {
    if (!IsToken(name) || !IsSafeFieldValue(value)) {
      log::Warn("dropping an invalid response header from a handler",
                {{"name", ToLowerAscii(name)}});
      continue;
    }
    std::string lower = ToLowerAscii(name);
    // Framing belongs to the server; a handler's copy could contradict the real body length.
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection" ||
        lower == "cache-control") {
      continue;
    }
    out.insert(name, value);
  }
  out.set(http::field::cache_control, "no-store");
  out.keep_alive(keep_alive);
  // RFC 9110 sections 8.6 and 15.3.5: no Content-Length and no body in 204 and 304.
  if (response.status == 204 || response.status == 304) {
    WipeString(response.body);
  } else {
    out.content_length(response.body.size());
    // HEAD gets the length of the body it would have had, but no body (RFC 9110 section 9.3.2).
    if (head) {
      WipeString(response.body);
    } else {
      out.body() = std::move(response.body);
    }
  }
  return out;
}

HttpRequest ToHttpRequest(RequestMessage& msg, const std::string& remote,
                          const std::optional<std::string>& client_cert) {
  HttpRequest r;
  r.method = std::string(Sv(msg.method_string()));
  r.target = std::string(Sv(msg.target()));
  for (const auto& field : msg) {
    auto [it, inserted] =
        r.headers.emplace(ToLowerAscii(Sv(field.name_string())), Sv(field.value()));
    if (!inserted) {
      it->second.append(", ");
      it->second.append(Sv(field.value()));
    }
  }
  r.body = std::move(msg.body());
  r.remote_address = remote;
  r.client_cert_der = client_cert;
  return r;
}

void WipeRequest(HttpRequest& r) {
  WipeString(r.body);
  for (auto& [name, value] : r.headers) WipeString(value);
}

bool Expects100Continue(const RequestMessage& msg) {
  auto it = msg.find(http::field::expect);
  return msg.version() >= 11 && it != msg.end() && beast::iequals(it->value(), "100-continue");
}

std::string HostPort(const std::string& ip, uint16_t port) {
  const bool v6 = ip.find(':') != std::string::npos;
  return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

std::string RemoteAddress(const tcp::socket& socket) {
  beast::error_code ec;
  tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return "";
  return HostPort(ep.address().to_string(), ep.port());
}

// The DER of a client certificate that OpenSSL verified against client_ca_pem. With verify_peer
// a presented certificate that fails verification aborts the handshake, so reaching here with a
// certificate means it verified; the verify-result check is belt and braces.
std::optional<std::string> PeerCertificateDer(SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  int len = i2d_X509(peer, nullptr);
  if (len <= 0) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509(peer, &p);
  return der;
}

class ServerImpl final : public HttpsServer {
 public:
  ServerImpl(ServerOptions options, Handler handler)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        io_context_(options_.io_threads),
        acceptor_(asio::make_strand(io_context_)) {}
  ~ServerImpl() override { Stop(); }

  Status Init();
  Status Start() override;
  void Stop() override;
  void Drain() override { draining_ = true; }
  uint16_t port() const override { return port_; }

 private:
  Status Bind();
  void RunIo();
  std::shared_ptr<Connection> Register(tcp::socket socket);
  bool IsTrustedProxy(const std::string& ip) const;
  bool CountAddress(Connection& conn, const std::string& ip);
  void RefusePerAddress();
  void Unregister(const Connection& conn);
  asio::awaitable<std::optional<ProxyPreamble>> ReadProxyHeader(Connection& conn,
                                                                const std::string& proxy);
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> Session(std::shared_ptr<Connection> conn);
  asio::awaitable<void> Serve(Connection& conn);
  asio::awaitable<void> RefuseAndLinger(Connection& conn, HttpResponse problem);
  HttpResponse Invoke(const HttpRequest& request);
  void Park(uint64_t conn_id, std::shared_ptr<DeferredResponse> deferred, Deliver deliver);

  // Runs the handler on the worker pool and completes on the caller's executor (the connection's
  // strand), at once or, for a deferred response, when it is completed. The work guard keeps the
  // I/O threads from running out of work (and returning) while a handler is still busy or its
  // request is parked during Stop; it lives until the completion has been posted back.
  template <typename Token>
  auto AsyncInvoke(HttpRequest request, uint64_t conn_id, Token&& token) {
    auto initiation = [this, conn_id](auto completion, HttpRequest req) {
      auto executor = asio::get_associated_executor(completion);
      // Deliver is a std::function (copyable); the completion handler is move-only.
      using Completion = decltype(completion);
      using Executor = decltype(executor);
      struct Pending {
        Completion completion;
        Executor executor;
        asio::executor_work_guard<asio::io_context::executor_type> work;
      };
      auto pending = std::make_shared<Pending>(
          Pending{std::move(completion), executor, asio::make_work_guard(io_context_)});
      asio::post(*workers_, [this, conn_id, req = std::move(req), pending]() mutable {
        HttpResponse response = Invoke(req);
        WipeRequest(req);
        Deliver deliver = [pending](HttpResponse answer) {
          asio::post(pending->executor, [pending, answer = std::move(answer)]() mutable {
            std::move(pending->completion)(std::move(answer));
          });
        };
        if (response.deferred) {
          WipeString(response.body);  // the rest of a deferred response is ignored
          Park(conn_id, std::move(response.deferred), std::move(deliver));
        } else {
          deliver(std::move(response));
        }
      });
    };
    return asio::async_initiate<Token, void(HttpResponse)>(initiation, token, std::move(request));
  }

  ServerOptions options_;
  const Handler handler_;
  // Declared before the io_context so that coroutine frames (which hold ssl streams referring
  // to it) are destroyed first (RECIPES.md).
  ssl::context ssl_context_{ssl::context::tls_server};
  bool mutual_tls_ = false;

  std::mutex mu_;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> connections_;  // guarded by mu_
  std::unordered_map<std::string, size_t> per_address_;  // open connections by IP; guarded by mu_
  uint64_t refused_total_ = 0;                           // guarded by mu_
  uint64_t refused_per_address_ = 0;                     // guarded by mu_
  std::atomic<uint64_t> refused_proxy_header_{0};        // counted by sessions, lock-free
  // Deferred responses awaited by a connection, by connection id, for Stop to answer. Weak, so
  // that the handler dropping the last reference still answers 503.
  std::unordered_map<uint64_t, std::weak_ptr<DeferredResponse>> parked_;  // guarded by mu_
  uint64_t next_id_ = 0;                                                  // guarded by mu_
  bool stopped_ = false;                                                  // guarded by mu_
  std::atomic<bool> stopping_{false};  // read lock-free by sessions
  std::atomic<bool> draining_{false};  // read lock-free by sessions

  asio::io_context io_context_;
  tcp::acceptor acceptor_;
  std::optional<asio::thread_pool> workers_;
  std::vector<std::thread> io_threads_;
  bool started_ = false;  // owner thread only
  uint16_t port_ = 0;
};

Status ServerImpl::Init() {
  if (options_.cert_chain_pem.empty() || options_.key_pem.empty()) {
    return InvalidArgument("server certificate chain and key are required");
  }
  if (options_.io_threads < 1 || options_.worker_threads < 1) {
    return InvalidArgument("io_threads and worker_threads must be at least 1");
  }
  if (options_.max_body_bytes == 0 || options_.max_header_bytes == 0 ||
      options_.max_header_bytes > UINT32_MAX || options_.max_connections == 0 ||
      options_.max_connections_per_address == 0) {
    return InvalidArgument("server limits must be positive");
  }
  if (options_.request_timeout_seconds < 1 || options_.idle_timeout_seconds < 1 ||
      options_.proxy_header_timeout_seconds < 1) {
    return InvalidArgument("server timeouts must be at least one second");
  }
  CF_TRY(internal::ConfigureServerTls(ssl_context_, options_));
  mutual_tls_ = !options_.client_ca_pem.empty();
  return Bind();
}

Status ServerImpl::Bind() {
  beast::error_code ec;
  auto address = asio::ip::make_address(options_.address, ec);
  if (ec) return InvalidArgument("invalid listen address " + options_.address);
  tcp::endpoint endpoint(address, options_.port);
  std::string where = options_.address + ":" + std::to_string(options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("cannot listen on " + where + ": " + ec.message());
  port_ = acceptor_.local_endpoint(ec).port();
  if (ec) return Unavailable("cannot read the bound port: " + ec.message());
  return Ok();
}

Status ServerImpl::Start() {
  {
    std::lock_guard lock(mu_);
    if (started_ || stopped_) return FailedPrecondition("server already started or stopped");
    started_ = true;
  }
  try {
    workers_.emplace(static_cast<size_t>(options_.worker_threads));
    asio::co_spawn(acceptor_.get_executor(), AcceptLoop(), asio::detached);
    for (int i = 0; i < options_.io_threads; ++i) io_threads_.emplace_back([this] { RunIo(); });
  } catch (const std::exception& e) {
    // Thread creation fails only under resource exhaustion; Stop() cleans up what did start.
    Stop();
    return Unavailable(std::string("cannot start server threads: ") + e.what());
  }
  log::Info("https server listening",
            {{"address", options_.address}, {"port", std::to_string(port_)}});
  return Ok();
}

void ServerImpl::Stop() {
  std::vector<std::shared_ptr<Connection>> live;
  std::vector<std::shared_ptr<DeferredResponse>> parked;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    for (auto& [id, weak] : connections_) {
      if (auto conn = weak.lock()) live.push_back(std::move(conn));
    }
    for (auto& [id, weak] : parked_) {
      if (auto deferred = weak.lock()) parked.push_back(std::move(deferred));
    }
  }
  // Parked requests hold work on the io_context until answered, so answer them, or the joins
  // below would wait for the handlers' own deadlines. Outside mu_: delivering takes it. Requests
  // parked from now on are answered by Park itself (it reads stopped_ under mu_). One that
  // vanished from parked_ is being answered by whoever completed or dropped it.
  for (auto& deferred : parked) deferred->Complete(ShuttingDownProblem());
  parked.clear();
  if (io_threads_.empty()) {
    beast::error_code ec;
    acceptor_.close(ec);
  } else {
    // Closing on each object's own strand keeps these calls from racing the coroutines. Every
    // pending operation then fails, the coroutines return, and run() runs out of work.
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    for (auto& conn : live) {
      asio::post(conn->stream.get_executor(),
                 [conn] { beast::get_lowest_layer(conn->stream).close(); });
    }
    live.clear();
  }
  for (auto& t : io_threads_) t.join();
  io_threads_.clear();
  if (workers_) workers_->join();
}

void ServerImpl::RunIo() {
  for (;;) {
    try {
      io_context_.run();
      return;
    } catch (const std::exception& e) {
      // Nothing is expected to throw out of a handler; keep the thread serving if one does.
      log::Error("exception escaped to an I/O thread", {{"error", e.what()}});
    }
  }
}

std::shared_ptr<Connection> ServerImpl::Register(tcp::socket socket) {
  std::lock_guard lock(mu_);
  beast::error_code ec;
  if (stopping_) {
    socket.close(ec);
    return nullptr;
  }
  // Limits are checked at accept, before any TLS work: a refused client costs one accept and
  // one close. Logged once per burst (every 1000th refusal), counted always. Behind a trusted
  // proxy the client's address is known only from the PROXY header: its per-address limit is
  // checked once the header is read (CountAddress), the total limit here.
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  std::string ip = ec ? std::string() : peer.address().to_string();
  if (connections_.size() >= options_.max_connections) {
    const uint64_t n = ++refused_total_;
    if (options_.counters) ++options_.counters->refused_max_connections;
    if (n % 1000 == 1) {
      log::Warn("connection limit reached; closing new connections",
                {{"limit", "max_connections"},
                 {"value", std::to_string(options_.max_connections)},
                 {"refused", std::to_string(n)}});
    }
    socket.close(ec);
    return nullptr;
  }
  const bool via_proxy = IsTrustedProxy(ip);
  if (!via_proxy && per_address_[ip] >= options_.max_connections_per_address) {
    RefusePerAddress();
    socket.close(ec);
    return nullptr;
  }
  try {
    auto conn = std::make_shared<Connection>(std::move(socket), ssl_context_);
    conn->id = ++next_id_;
    conn->peer_ip = ip;
    conn->via_proxy = via_proxy;
    connections_.emplace(conn->id, conn);
    if (!via_proxy) {
      ++per_address_[ip];
      conn->counted = true;
    }
    if (options_.counters) ++options_.counters->open;
    return conn;
  } catch (const std::exception& e) {  // SSL_new or allocation failed
    ERR_clear_error();
    log::Error("cannot set up a connection", {{"error", e.what()}});
    return nullptr;
  }
}

bool ServerImpl::IsTrustedProxy(const std::string& ip) const {
  if (ip.empty()) return false;
  for (const Cidr& network : options_.trusted_proxies) {
    if (network.Contains(ip)) return true;
  }
  return false;
}

// Guarded by mu_ (the caller holds it).
void ServerImpl::RefusePerAddress() {
  const uint64_t n = ++refused_per_address_;
  if (options_.counters) ++options_.counters->refused_per_address;
  if (n % 1000 == 1) {
    log::Warn("connection limit reached; closing new connections",
              {{"limit", "max_connections_per_address"},
               {"value", std::to_string(options_.max_connections_per_address)},
               {"refused", std::to_string(n)}});
  }
}

// The per-address limit for a connection whose client address came in a PROXY header. False
// (and counted as a refusal) when `ip` already has its share; the caller closes the connection.
bool ServerImpl::CountAddress(Connection& conn, const std::string& ip) {
  std::lock_guard lock(mu_);
  size_t& from_client = per_address_[ip];
  if (from_client >= options_.max_connections_per_address) {
    RefusePerAddress();
    return false;
  }
  ++from_client;
  conn.peer_ip = ip;
  conn.counted = true;
  return true;
}

void ServerImpl::Unregister(const Connection& conn) {
  std::lock_guard lock(mu_);
  if (connections_.erase(conn.id) == 0) return;
  if (options_.counters) --options_.counters->open;
  if (!conn.counted) return;
  auto it = per_address_.find(conn.peer_ip);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

asio::awaitable<void> ServerImpl::AcceptLoop() {
  try {
    for (;;) {
      tcp::socket socket(asio::make_strand(io_context_));
      beast::error_code ec;
      co_await acceptor_.async_accept(socket, asio::redirect_error(kUseAwaitable, ec));
      if (!acceptor_.is_open() || ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // EMFILE and friends: back off instead of spinning on the failing accept.
        log::Warn("accept failed", {{"error", ec.message()}});
        asio::steady_timer backoff(acceptor_.get_executor(), kAcceptBackoff);
        co_await backoff.async_wait(asio::redirect_error(kUseAwaitable, ec));
        continue;
      }
      auto conn = Register(std::move(socket));
      if (!conn) continue;
      auto executor = conn->stream.get_executor();
      asio::co_spawn(executor, Session(std::move(conn)), asio::detached);
    }
  } catch (const std::exception& e) {
    log::Error("accept loop failed; the server no longer accepts", {{"error", e.what()}});
  }
}

asio::awaitable<void> ServerImpl::Session(std::shared_ptr<Connection> conn) {
  // Runs on the connection's strand, after Serve: peer_ip and counted are final by then.
  ScopeExit unregister([this, conn] { Unregister(*conn); });
  try {
    co_await Serve(*conn);
  } catch (const std::exception& e) {
    log::Error("connection failed", {{"error", e.what()}});
  }
}

asio::awaitable<void> ServerImpl::Serve(Connection& conn) {
  Stream& stream = conn.stream;
  beast::tcp_stream& tcp_stream = beast::get_lowest_layer(stream);
  const auto request_timeout = std::chrono::seconds(options_.request_timeout_seconds);
  const auto idle_timeout = std::chrono::seconds(options_.idle_timeout_seconds);
  beast::error_code ec;
  // Responses go out as one TLS record each, but with Nagle a keep-alive exchange can still
  // stall 40 ms on the peer's delayed ACK.
  tcp_stream.socket().set_option(tcp::no_delay(true), ec);
  std::string remote = RemoteAddress(tcp_stream.socket());

  std::string early_data;  // TLS bytes that arrived with a PROXY header
  if (conn.via_proxy) {
    std::optional<ProxyPreamble> preamble = co_await ReadProxyHeader(conn, remote);
    if (!preamble) co_return;
    // From here on the client is who the header says, for the limit as for the handler.
    if (!CountAddress(conn, preamble->ip)) co_return;
    remote = std::move(preamble->remote);
    early_data = std::move(preamble->early_data);
  }

  // The handshake and the first request share one request timeout.
  tcp_stream.expires_after(request_timeout);
  if (early_data.empty()) {
    co_await stream.async_handshake(ssl::stream_base::server,
                                    asio::redirect_error(kUseAwaitable, ec));
  } else {
    co_await stream.async_handshake(ssl::stream_base::server, asio::buffer(early_data),
                                    asio::redirect_error(kUseAwaitable, ec));
  }
  if (ec) {
    log::Debug("TLS handshake failed", {{"remote", remote}, {"error", TakeOpenSslMessage(ec)}});
    co_return;
  }
  std::optional<std::string> client_cert;
  if (mutual_tls_) client_cert = PeerCertificateDer(stream.native_handle());

  ReadBuffer buffer;
  for (bool first = true;; first = false) {
    if (!first) {
      if (buffer.size() == 0) {
        // Keep-alive: the idle timeout runs until the next request starts to arrive, then the
        // request timeout covers the whole request (slowloris defence).
        tcp_stream.expires_after(idle_timeout);
        size_t n = co_await stream.async_read_some(buffer.prepare(kReadChunk),
                                                   asio::redirect_error(kUseAwaitable, ec));
        if (ec) co_return;  // idle timeout, peer closed, or Stop()
        buffer.commit(n);
      }
      tcp_stream.expires_after(request_timeout);
    }

    RequestParser parser;
    parser.header_limit(static_cast<uint32_t>(options_.max_header_bytes));
    parser.body_limit(options_.max_body_bytes);
    co_await http::async_read_header(stream, buffer, parser,
                                     asio::redirect_error(kUseAwaitable, ec));
    if (!ec && Expects100Continue(parser.get())) {
      // RFC 9110 section 10.1.1: tell a waiting client to send the body. Oversize bodies never
      // get here: the parser rejects the Content-Length with the header.
      co_await asio::async_write(stream, asio::buffer(k100Continue),
                                 asio::redirect_error(kUseAwaitable, ec));
    }
    if (!ec)
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(kUseAwaitable, ec));
    if (ec) {
      if (auto problem = ProblemForReadError(ec, options_)) {
        co_await RefuseAndLinger(conn, std::move(*problem));
      } else if (ec != beast::error::timeout && ec != asio::error::operation_aborted) {
        log::Debug("request read ended", {{"remote", remote}, {"error", ec.message()}});
      }
      co_return;
    }

    RequestMessage& message = parser.get();
    const bool head = message.method() == http::verb::head;
    const unsigned version = message.version();
    bool keep_alive = message.keep_alive();
    // A request may be parked for a long time (an agent's long poll): hand the read buffer's
    // 16 KiB back while it waits, unless it holds the start of a pipelined request.
    if (buffer.size() == 0) buffer.shrink_to_fit();
    HttpResponse response =
        co_await AsyncInvoke(ToHttpRequest(message, remote, client_cert), conn.id, kUseAwaitable);
    keep_alive = keep_alive && !stopping_ && !draining_;
    Response out = ToBeastResponse(std::move(response), version, keep_alive, head);
    // Also restarts the clock after a parked (deferred) request: the timer only runs while an
    // operation is pending, so none fired while we waited, but the old deadline may have passed.
    tcp_stream.expires_after(request_timeout);
    co_await http::async_write(stream, out, asio::redirect_error(kUseAwaitable, ec));
    WipeString(out.body());
    if (ec) co_return;
    if (!keep_alive) break;
  }

  // We sent "Connection: close": end TLS properly so the client can tell a complete response
  // from a truncation attack. Most clients just close, which ends this at once.
  tcp_stream.expires_after(kShutdownTimeout);
  co_await stream.async_shutdown(asio::redirect_error(kUseAwaitable, ec));
}

// The PROXY header of a connection from trusted proxy `proxy` ("ip:port"): read into a buffer of
// kMaxProxyHeaderBytes (whatever the header declares, ParseProxyHeader answers within that bound)
// under its own short timeout. nullopt, logged and counted, when it is missing, late or invalid:
// the caller closes the connection. A trusted proxy that sends none is misconfigured (no
// send-proxy-v2 on its server line), and the first of its refusals in each burst says so.
asio::awaitable<std::optional<ProxyPreamble>> ServerImpl::ReadProxyHeader(
    Connection& conn, const std::string& proxy) {
  beast::tcp_stream& tcp_stream = beast::get_lowest_layer(conn.stream);
  tcp_stream.expires_after(std::chrono::seconds(options_.proxy_header_timeout_seconds));
  std::string buffer(kMaxProxyHeaderBytes, '\0');
  size_t received = 0;
  auto refuse = [&](const std::string& why) -> std::optional<ProxyPreamble> {
    const uint64_t n = ++refused_proxy_header_;
    if (options_.counters) ++options_.counters->refused_proxy_header;
    if (n % 1000 == 1) {
      log::Warn("connection from a trusted proxy without a valid PROXY protocol header; closed",
                {{"proxy", proxy}, {"error", why}, {"refused", std::to_string(n)}});
    }
    return std::nullopt;
  };
  for (;;) {
    if (received == buffer.size()) co_return refuse("no header within the size bound");
    beast::error_code ec;
    const size_t n = co_await tcp_stream.async_read_some(
        asio::buffer(buffer.data() + received, buffer.size() - received),
        asio::redirect_error(kUseAwaitable, ec));
    if (ec && stopping_) co_return std::nullopt;  // Stop closed it: no refusal to count
    if (ec) {
      co_return refuse(ec == beast::error::timeout
                           ? "no complete header within " +
                                 std::to_string(options_.proxy_header_timeout_seconds) + " s"
                           : "connection ended before a complete header: " + ec.message());
    }
    received += n;
    auto parsed = ParseProxyHeader(std::string_view(buffer.data(), received));
    if (!parsed.ok()) co_return refuse(parsed.error().message());
    if (!parsed->has_value()) continue;
    const ProxyHeader& header = **parsed;
    ProxyPreamble out;
    out.early_data.assign(buffer, header.length, received - header.length);
    if (header.proxied) {
      out.ip = header.source_address;
      out.remote = HostPort(header.source_address, header.source_port);
      log::Debug("proxied connection", {{"remote", out.remote}, {"proxy", proxy}});
    } else {
      // LOCAL (the proxy's own health check) or UNKNOWN: the proxy's address stands.
      out.ip = conn.peer_ip;
      out.remote = proxy;
    }
    co_return out;
  }
}

asio::awaitable<void> ServerImpl::RefuseAndLinger(Connection& conn, HttpResponse problem) {
  Stream& stream = conn.stream;
  beast::get_lowest_layer(stream).expires_after(kLingerTimeout);
  Response out = ToBeastResponse(std::move(problem), 11, /*keep_alive=*/false, /*head=*/false);
  beast::error_code ec;
  co_await http::async_write(stream, out, asio::redirect_error(kUseAwaitable, ec));
  if (ec) co_return;
  // Lingering close (what Apache's lingering_close does): the client may still be sending the
  // body we refused, and closing with unread data makes the kernel send a TCP reset, which can
  // destroy our response in the client's receive buffer before it reads it. So send FIN (the
  // response is framed by Content-Length; no close_notify is needed to delimit it) and drain,
  // bounded by kLingerTimeout, until the client has read the response and closes.
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_send, ec);
  std::vector<char> sink(kReadChunk);
  for (;;) {
    co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(kUseAwaitable, ec));
    if (ec) co_return;
  }
}

void ServerImpl::Park(uint64_t conn_id, std::shared_ptr<DeferredResponse> deferred,
                      Deliver deliver) {
  // Runs on whichever thread completes the request (or drops it, or Stops the server), once.
  // `this` is alive: Stop answers every parked request before it returns, and `deliver` holds
  // the work guard that keeps Stop joining until then.
  Deliver unpark = [this, conn_id, deliver = std::move(deliver)](HttpResponse answer) {
    {
      std::lock_guard lock(mu_);
      parked_.erase(conn_id);
    }
    deliver(std::move(answer));
  };
  bool stopping = false;
  {
    std::lock_guard lock(mu_);
    stopping = stopped_;
    // One request per connection is in flight, so the id names this parking alone.
    if (!stopping) parked_[conn_id] = deferred;
  }
  if (!internal::DeferredAccess::Attach(*deferred, unpark)) {
    log::Error("a handler returned one DeferredResponse for two requests");
    unpark(InternalProblem());
    return;
  }
  // Stop has already swept parked_: answer this one as it would have.
  if (stopping) deferred->Complete(ShuttingDownProblem());
}

HttpResponse ServerImpl::Invoke(const HttpRequest& request) {
  try {
    return handler_(request);
  } catch (const std::exception& e) {
    log::Error(
        "handler threw",
        {{"method", request.method}, {"path", std::string(request.path())}, {"error", e.what()}});
  } catch (...) {
    log::Error("handler threw a non-exception",
               {{"method", request.method}, {"path", std::string(request.path())}});
  }
  return InternalProblem();
}

}  // namespace

Result<std::unique_ptr<HttpsServer>> HttpsServer::Create(ServerOptions options, Handler handler) {
  if (!handler) return InvalidArgument("server handler is required");
  try {
    auto server = std::make_unique<ServerImpl>(std::move(options), std::move(handler));
    CF_TRY(server->Init());
    return std::unique_ptr<HttpsServer>(std::move(server));
  } catch (const std::exception& e) {
    // Asio constructors throw on resource exhaustion (epoll, eventfd); no exception leaves net.
    ERR_clear_error();
    return Unavailable(std::string("cannot create the https server: ") + e.what());
  }
}

}  // namespace certfleet::net
