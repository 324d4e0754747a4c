// ProbeTls on Asio's SSL stream (no Beast): like HttpsClient's Exchange, a private io_context per
// call runs one coroutine from the calling thread, and a deadline timer closes the socket, which
// fails whatever operation is pending.
#include "net/tls_probe.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "net/internal.h"
#include "net/tls_context.h"

namespace certfleet::net {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto kUseAwaitable = asio::use_awaitable;

std::string Origin(const TlsProbeRequest& r) {
  const std::string host = r.host.find(':') != std::string::npos ? "[" + r.host + "]" : r.host;
  return host + ":" + std::to_string(r.port);
}

class Probe {
 public:
  Probe(ssl::context& context, const TlsProbeRequest& request)
      : request_(request), origin_(Origin(request)), stream_(io_context_, context) {}

  Result<TlsProbeResult> Run() {
    deadline_.expires_after(request_.timeout);
    deadline_.async_wait([this](error_code ec) {
      if (ec) return;  // cancelled: the probe finished in time
      timed_out_ = true;
      resolver_.cancel();
      error_code ignored;
      stream_.lowest_layer().close(ignored);
    });
    asio::co_spawn(io_context_, Main(), asio::detached);
    io_context_.run();
    ERR_clear_error();
    if (!result_) return Internal("TLS probe ended without a result");
    return std::move(*result_);
  }

 private:
  asio::awaitable<void> Main() {
    try {
      result_ = co_await Handshake();
    } catch (const std::exception& e) {
      result_ = Internal(std::string("TLS probe failed: ") + e.what());
    }
    deadline_.cancel();  // lets run() return
  }

  asio::awaitable<Result<TlsProbeResult>> Handshake() {
    error_code ec;
    phase_ = "resolving";
    std::vector<tcp::endpoint> endpoints;
    error_code literal_ec;
    asio::ip::make_address(request_.host, literal_ec);
    if (request_.resolve && literal_ec) {
      // A blocking lookup with its own timeout, on this probe's own thread.
      Result<std::vector<std::string>> ips =
          internal::ResolveNumeric(request_.resolve, request_.host, origin_);
      if (!ips.ok()) co_return std::move(ips).error();
      for (const std::string& ip : *ips) {
        const asio::ip::address address = asio::ip::make_address(ip, ec);
        if (ec) co_return Malformed("the resolver gave no address for " + request_.host);
        endpoints.emplace_back(address, request_.port);
      }
    } else {
      auto results = co_await resolver_.async_resolve(request_.host, std::to_string(request_.port),
                                                      asio::redirect_error(kUseAwaitable, ec));
      if (ec) {
        // The NotFound cause marks a name that did not resolve (tls_probe.h).
        co_return ConnectionError(ec).WithCause(NotFound("cannot resolve " + request_.host));
      }
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }
    if (request_.address_allowed) {
      for (const tcp::endpoint& entry : endpoints) {
        if (!request_.address_allowed(entry.address().to_string())) {
          // Which address the name resolved to is not the caller's to learn (address_policy.h).
          co_return PrivateDestinationRefused("connecting to " + request_.host);
        }
      }
    }
    phase_ = "connecting to";
    co_await asio::async_connect(stream_.lowest_layer(), endpoints,
                                 asio::redirect_error(kUseAwaitable, ec));
    if (ec) co_return ConnectionError(ec);

    SSL* ssl = stream_.native_handle();
    if (!request_.server_name.empty() &&
        SSL_set_tlsext_host_name(ssl, request_.server_name.c_str()) != 1) {
      ERR_clear_error();
      co_return InvalidArgument("TLS server name not accepted");
    }
    if (!request_.alpn.empty()) {
      std::string wire;  // RFC 7301 section 3.1: length-prefixed protocol names
      for (const std::string& p : request_.alpn) {
        wire += static_cast<char>(p.size());
        wire += p;
      }
      // Unlike most of OpenSSL, 0 means success here.
      if (SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                              static_cast<unsigned>(wire.size())) != 0) {
        ERR_clear_error();
        co_return Internal("cannot set the ALPN protocols");
      }
    }
    phase_ = "in the TLS handshake with";
    co_await stream_.async_handshake(ssl::stream_base::client,
                                     asio::redirect_error(kUseAwaitable, ec));
    if (ec) {
      if (timed_out_) co_return ConnectionError(ec);
      const std::string reason = internal::TakeOpenSslMessage(ec);
      co_return FailedPrecondition("TLS handshake with " + origin_ + " failed: " + reason);
    }

    TlsProbeResult out;
    const unsigned char* selected = nullptr;
    unsigned selected_length = 0;
    SSL_get0_alpn_selected(ssl, &selected, &selected_length);
    if (selected != nullptr)
      out.alpn.assign(reinterpret_cast<const char*>(selected), selected_length);
    X509* peer = SSL_get1_peer_certificate(ssl);
    if (peer != nullptr) {
      unsigned char* der = nullptr;
      const int length = i2d_X509(peer, &der);
      if (length > 0) {
        out.peer_certificate_der.assign(reinterpret_cast<const char*>(der),
                                        static_cast<size_t>(length));
      }
      OPENSSL_free(der);
      X509_free(peer);
    }
    ERR_clear_error();
    error_code ignored;
    stream_.lowest_layer().close(ignored);
    if (out.peer_certificate_der.empty()) {
      co_return FailedPrecondition("TLS server " + origin_ + " presented no certificate");
    }
    co_return out;
  }

  Error ConnectionError(const error_code& ec) {
    if (timed_out_) {
      return Unavailable("timed out after " + std::to_string(request_.timeout.count()) + " ms " +
                         phase_ + " " + origin_)
          .WithRetry();
    }
    return Unavailable(std::string(phase_) + " " + origin_ + " failed: " + ec.message())
        .WithRetry();
  }

  const TlsProbeRequest& request_;
  const std::string origin_;
  // The io_context is declared first so that everything bound to it is destroyed before it.
  asio::io_context io_context_{1};
  tcp::resolver resolver_{io_context_};
  asio::steady_timer deadline_{io_context_};
  ssl::stream<tcp::socket> stream_;
  bool timed_out_ = false;
  const char* phase_ = "starting";
  std::optional<Result<TlsProbeResult>> result_;
};

}  // namespace

Result<TlsProbeResult> ProbeTls(const TlsProbeRequest& request) {
  if (request.host.empty() || request.port == 0) {
    return InvalidArgument("TLS probe needs a host and a port");
  }
  if (request.timeout.count() <= 0) return InvalidArgument("TLS probe timeout must be positive");
  for (const std::string& p : request.alpn) {
    if (p.empty() || p.size() > 255) {
      return InvalidArgument("ALPN protocol names are 1 to 255 bytes");
    }
  }
  for (char c : request.server_name) {
    if (c <= 0x20 || c >= 0x7f) return InvalidArgument("TLS server name must be printable ASCII");
  }
  try {
    ssl::context context(ssl::context::tls_client);
    CF_TRY(internal::ConfigureProbeTls(context));
    Probe probe(context, request);
    return probe.Run();
  } catch (const std::exception& e) {
    // Asio constructors throw on resource exhaustion (epoll, eventfd, SSL_new).
    ERR_clear_error();
    return Unavailable(std::string("cannot set up a TLS probe: ") + e.what()).WithRetry();
  }
}

}  // namespace certfleet::net
