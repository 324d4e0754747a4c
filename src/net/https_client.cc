// HttpsClient on Boost.Beast. Each call gets a private io_context and runs one coroutine on it
// from the calling thread: that makes the client thread-safe without locks and lets one timer
// enforce the whole-request deadline by closing the socket, which fails whatever operation is
// pending. The TLS context is built once in Create() and only read afterwards (SSL_new on a
// shared SSL_CTX is thread-safe).
//
// This is one of the two translation units that instantiate Beast (with https_server.cc).
#include "net/https_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

#include "net/address_policy.h"
#include "net/internal.h"
#include "net/tls_context.h"

namespace certfleet::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using internal::IsSafeFieldValue;
using internal::IsToken;
using internal::ScopeExit;
using internal::TakeOpenSslMessage;
using internal::ToLowerAscii;
using internal::WipeString;
using internal::WipingAllocator;

// Header fields carry bearer tokens; the read buffer may carry exported keys. Both wipe on free.
using RequestMessage = http::request<http::string_body, http::basic_fields<WipingAllocator<char>>>;
using ResponseParser = http::response_parser<http::string_body, WipingAllocator<char>>;
using ReadBuffer = beast::basic_flat_buffer<WipingAllocator<char>>;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr auto kUseAwaitable = asio::use_awaitable;
constexpr uint32_t kMaxResponseHeaderBytes = 64 * 1024;
constexpr int kMaxInterimResponses = 8;

// Beast 1.74 uses boost::string_view, which does not convert to std::string_view.
std::string_view Sv(beast::string_view s) { return {s.data(), s.size()}; }

bool IsIpLiteral(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string HostHeader(const Url& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  uint16_t default_port = url.scheme == "https" ? 443 : 80;
  if (url.port != default_port) host += ":" + std::to_string(url.port);
  return host;
}

// TLS alerts a server sends when it refuses our client certificate. With TLS 1.3 they arrive
// after our side of the handshake has completed, on the first read (RECIPES.md).
bool IsClientCertificateRejection(const beast::error_code& ec) {
  if (ec.category() != asio::error::get_ssl_category()) return false;
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      return true;
    default:
      return false;
  }
}

// One request: a private io_context, a resolver, a stream and a deadline timer. Not reusable.
class Exchange {
 public:
  Exchange(ssl::context& ssl_context, const ClientOptions& options, Url url)
      : options_(options),
        url_(std::move(url)),
        origin_(HostHeader(url_)),
        stream_(io_context_, ssl_context) {}

  Result<HttpResponse> Run(const std::string& method,
                           const std::map<std::string, std::string>& headers,
                           const std::string& body) {
    deadline_.expires_after(options_.timeout);
    deadline_.async_wait([this](beast::error_code ec) {
      if (ec) return;  // cancelled: the exchange finished in time
      timed_out_ = true;
      resolver_.cancel();
      beast::get_lowest_layer(stream_).close();
    });
    asio::co_spawn(io_context_, Main(method, headers, body), asio::detached);
    io_context_.run();
    ERR_clear_error();
    if (!result_) return Internal("HTTP exchange ended without a result");
    return std::move(*result_);
  }

 private:
  asio::awaitable<void> Main(const std::string& method,
                             const std::map<std::string, std::string>& headers,
                             const std::string& body) {
    try {
      result_ = co_await Connect(method, headers, body);
    } catch (const std::exception& e) {
      result_ = Internal(std::string("HTTP exchange failed: ") + e.what());
    }
    deadline_.cancel();  // lets run() return
  }

  asio::awaitable<Result<HttpResponse>> Connect(const std::string& method,
                                                const std::map<std::string, std::string>& headers,
                                                const std::string& body) {
    beast::error_code ec;
    phase_ = "resolving";
    std::vector<tcp::endpoint> endpoints;
    if (options_.resolve && !IsIpLiteral(url_.host)) {
      // A blocking lookup with its own timeout, on this request's own thread.
      Result<std::vector<std::string>> ips =
          internal::ResolveNumeric(options_.resolve, url_.host, origin_);
      if (!ips.ok()) co_return std::move(ips).error();
      for (const std::string& ip : *ips) {
        const asio::ip::address address = asio::ip::make_address(ip, ec);
        if (ec) co_return Malformed("the resolver gave no address for " + url_.host);
        endpoints.emplace_back(address, url_.port);
      }
    } else {
      auto results = co_await resolver_.async_resolve(url_.host, std::to_string(url_.port),
                                                      asio::redirect_error(kUseAwaitable, ec));
      if (ec) {
        // The NotFound cause marks a name that did not resolve (https_client.h).
        co_return TransportError(ec).WithCause(NotFound("cannot resolve " + url_.host));
      }
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }
    if (options_.address_allowed) {
      for (const tcp::endpoint& entry : endpoints) {
        const std::string ip = entry.address().to_string();
        if (!options_.address_allowed(ip)) {
          // One generic answer: which address the name resolved to is not the caller's to
          // learn (address_policy.h).
          co_return PrivateDestinationRefused("connecting to " + url_.host);
        }
      }
    }

    beast::tcp_stream& tcp_stream = beast::get_lowest_layer(stream_);
    phase_ = "connecting to";
    co_await tcp_stream.async_connect(endpoints, asio::redirect_error(kUseAwaitable, ec));
    if (ec) co_return TransportError(ec);
    tcp_stream.socket().set_option(tcp::no_delay(true), ec);

    if (url_.scheme == "http") co_return co_await Roundtrip(tcp_stream, method, headers, body);

    if (Status status = SetUpVerification(); !status.ok()) co_return std::move(status).error();
    phase_ = "in the TLS handshake with";
    co_await stream_.async_handshake(ssl::stream_base::client,
                                     asio::redirect_error(kUseAwaitable, ec));
    if (ec) co_return TransportError(ec);
    co_return co_await Roundtrip(stream_, method, headers, body);
  }

  // SNI (RFC 6066 section 3: never for IP literals) and the name or address the certificate
  // must carry (RFC 9110 section 4.3.4 and RFC 6125).
  Status SetUpVerification() {
    SSL* ssl = stream_.native_handle();
    bool ok;
    if (!options_.verify_server_certificate) {
      // SNI only: nothing is verified (ClientOptions::verify_server_certificate).
      ok = IsIpLiteral(url_.host) || SSL_set_tlsext_host_name(ssl, url_.host.c_str()) == 1;
    } else if (IsIpLiteral(url_.host)) {
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_.host.c_str()) == 1;
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set_tlsext_host_name(ssl, url_.host.c_str()) == 1 &&
           SSL_set1_host(ssl, url_.host.c_str()) == 1;
    }
    if (!ok) {
      ERR_clear_error();
      return Internal("cannot set up TLS verification for " + url_.host);
    }
    return Ok();
  }

  template <typename Stream>
  asio::awaitable<Result<HttpResponse>> Roundtrip(Stream& stream, const std::string& method,
                                                  const std::map<std::string, std::string>& headers,
                                                  const std::string& body) {
    RequestMessage request;
    request.version(11);
    request.method_string(method);
    request.target(url_.target);
    bool has_host = false;
    bool has_user_agent = false;
    for (const auto& [name, value] : headers) {
      std::string lower = ToLowerAscii(name);
      // Framing is ours: a caller's Content-Length could contradict the body we send.
      if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection") {
        continue;
      }
      has_host |= lower == "host";
      has_user_agent |= lower == "user-agent";
      request.insert(name, value);
    }
    if (!has_host) request.set(http::field::host, origin_);
    // No version: it would only help an attacker pick exploits.
    if (!has_user_agent) request.set(http::field::user_agent, "certfleet");
    request.keep_alive(false);
    request.body() = body;
    ScopeExit wipe_body([&request] { WipeString(request.body()); });
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      request.content_length(body.size());
    }

    beast::error_code ec;
    phase_ = "writing the request to";
    co_await http::async_write(stream, request, asio::redirect_error(kUseAwaitable, ec));
    if (ec) co_return TransportError(ec);

    phase_ = "reading the response from";
    ReadBuffer buffer;
    for (int interim = 0; interim <= kMaxInterimResponses; ++interim) {
      ResponseParser parser;
      parser.header_limit(kMaxResponseHeaderBytes);
      parser.body_limit(options_.max_response_bytes);
      // A response to HEAD announces a length but has no body (RFC 9110 section 9.3.2).
      if (method == "HEAD") parser.skip(true);
      // The header first, on its own: Beast 1.74's eager parsing (http::async_read) loses the
      // body_limit error of an oversize Content-Length when the body arrived in the same read as
      // the header, and goes on to read the whole body. async_read_header stops at the header
      // with the error; the body follows only for an acceptable length.
      co_await http::async_read_header(stream, buffer, parser,
                                       asio::redirect_error(kUseAwaitable, ec));
      if (!ec && !parser.is_done()) {
        co_await http::async_read(stream, buffer, parser, asio::redirect_error(kUseAwaitable, ec));
      }
      if (ec) co_return TransportError(ec);
      auto& message = parser.get();
      // 1xx interim responses (100 Continue, 103 Early Hints) precede the real one
      // (RFC 9110 section 15.2).
      if (message.result_int() >= 100 && message.result_int() < 200) continue;
      HttpResponse response;
      response.status = static_cast<int>(message.result_int());
      for (const auto& field : message) {
        auto [it, inserted] =
            response.headers.emplace(ToLowerAscii(Sv(field.name_string())), Sv(field.value()));
        if (!inserted) {
          it->second.append(", ");
          it->second.append(Sv(field.value()));
        }
      }
      response.body = std::move(message.body());
      co_return response;
    }
    co_return Malformed("too many interim responses from " + origin_);
  }

  Error TransportError(const beast::error_code& ec) {
    // phase_ reads as a prefix of the origin: "connecting to", "reading the response from".
    const std::string where = " " + origin_;
    if (timed_out_) {
      return Unavailable("timed out after " + std::to_string(options_.timeout.count()) + " ms " +
                         phase_ + where)
          .WithRetry();
    }
    if (ec == http::error::body_limit) {
      return TooLarge("response from" + where + " exceeds " +
                      std::to_string(options_.max_response_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return TooLarge("response header from" + where + " exceeds " +
                      std::to_string(kMaxResponseHeaderBytes) + " bytes");
    }
    if (ec.category() == asio::error::get_ssl_category()) {
      long verify = SSL_get_verify_result(stream_.native_handle());
      if (options_.verify_server_certificate && verify != X509_V_OK) {
        ERR_clear_error();
        return Forbidden("TLS certificate of" + where +
                         " not accepted: " + X509_verify_cert_error_string(verify));
      }
      if (IsClientCertificateRejection(ec)) {
        return Forbidden(where.substr(1) +
                         " rejected the TLS client certificate: " + TakeOpenSslMessage(ec));
      }
      return Unavailable("TLS failure while " + std::string(phase_) + where + ": " +
                         TakeOpenSslMessage(ec))
          .WithRetry();
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
      return Unavailable("connection closed while " + std::string(phase_) + where).WithRetry();
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
      return Malformed("malformed HTTP response from" + where + ": " + ec.message());
    }
    return Unavailable(std::string(phase_) + where + " failed: " + ec.message()).WithRetry();
  }

  const ClientOptions& options_;
  const Url url_;
  const std::string origin_;  // host[:port] for messages and the Host header
  // The io_context is declared first so that everything bound to it is destroyed before it.
  asio::io_context io_context_{1};
  tcp::resolver resolver_{io_context_};
  asio::steady_timer deadline_{io_context_};
  TlsStream stream_;  // for http:// only its TCP layer is used
  bool timed_out_ = false;
  const char* phase_ = "starting";
  std::optional<Result<HttpResponse>> result_;
};

class ClientImpl final : public HttpsClient {
 public:
  explicit ClientImpl(ClientOptions options) : options_(std::move(options)) {}

  Status Init() {
    if (options_.timeout.count() <= 0 || options_.max_response_bytes == 0) {
      return InvalidArgument("client timeout and max_response_bytes must be positive");
    }
    return internal::ConfigureClientTls(ssl_context_, options_);
  }

  Result<HttpResponse> Do(const std::string& method, const std::string& url,
                          const std::map<std::string, std::string>& headers,
                          const std::string& body) override {
    CF_ASSIGN_OR_RETURN(Url parsed, ParseUrl(url));
    if (parsed.scheme == "http" && !options_.allow_plain_http) {
      return InvalidArgument("plain http:// URLs are not allowed for this client");
    }
    if (!IsToken(method)) return InvalidArgument("invalid HTTP method");
    for (const auto& [name, value] : headers) {
      // Refused rather than dropped: a CR/LF here is a header-injection attempt or a bug.
      if (!IsToken(name) || !IsSafeFieldValue(value)) {
        return InvalidArgument("invalid HTTP header " + ToLowerAscii(name));
      }
    }
    try {
      Exchange exchange(ssl_context_, options_, std::move(parsed));
      return exchange.Run(method, headers, body);
    } catch (const std::exception& e) {
      // Asio constructors throw on resource exhaustion (epoll, eventfd, SSL_new).
      ERR_clear_error();
      return Unavailable(std::string("cannot set up an HTTP exchange: ") + e.what()).WithRetry();
    }
  }

 private:
  ClientOptions options_;
  ssl::context ssl_context_{ssl::context::tls_client};
};

}  // namespace

Result<std::unique_ptr<HttpsClient>> HttpsClient::Create(ClientOptions options) {
  try {
    auto client = std::make_unique<ClientImpl>(std::move(options));
    CF_TRY(client->Init());
    return std::unique_ptr<HttpsClient>(std::move(client));
  } catch (const std::exception& e) {
    ERR_clear_error();
    return Internal(std::string("cannot create the https client: ") + e.what());
  }
}

}  // namespace certfleet::net
