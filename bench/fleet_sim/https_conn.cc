// HttpsConn on Boost.Beast. The only translation unit of fleet_sim and acme_server_load that
// instantiates Beast (RECIPES.md: each such TU costs about a minute and 1.8 GB to compile).
#include "https_conn.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>

namespace certfleet::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
constexpr auto kAwait = asio::use_awaitable;

std::string Describe(const beast::error_code& ec) {
  std::string m = ec.message();
  ERR_clear_error();  // Asio took the message from OpenSSL's queue; leave it empty
  return m;
}

}  // namespace

struct HttpsConn::Impl {
  asio::any_io_executor executor;
  std::shared_ptr<ssl::context> tls;
  ConnTarget target;
  size_t max_body_bytes;
  std::unique_ptr<TlsStream> stream;
  beast::flat_buffer buffer;
  uint64_t connects = 0;

  void Reset() {
    if (stream) {
      beast::error_code ignored;
      beast::get_lowest_layer(*stream).socket().close(ignored);
    }
    stream.reset();
    buffer.clear();
    buffer.shrink_to_fit();
  }

  asio::awaitable<Status> Connect(std::chrono::milliseconds timeout) {
    Reset();
    stream = std::make_unique<TlsStream>(executor, *tls);
    beast::tcp_stream& tcp_stream = beast::get_lowest_layer(*stream);
    beast::error_code ec;
    tcp_stream.socket().open(target.server.protocol(), ec);
    if (!ec && target.source) tcp_stream.socket().bind(tcp::endpoint(*target.source, 0), ec);
    if (ec) {
      Reset();
      co_return Unavailable("cannot open a socket: " + ec.message()).WithRetry();
    }
    tcp_stream.expires_after(timeout);
    co_await tcp_stream.async_connect(target.server, asio::redirect_error(kAwait, ec));
    if (ec) {
      Reset();
      co_return Unavailable("connecting: " + ec.message()).WithRetry();
    }
    tcp_stream.socket().set_option(tcp::no_delay(true), ec);
    // SNI only for names (RFC 6066 section 3); the certificate must carry the name or address.
    SSL* s = stream->native_handle();
    beast::error_code parse_ec;
    asio::ip::make_address(target.host, parse_ec);
    bool ok = !parse_ec ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s), target.host.c_str()) == 1
                        : (SSL_set_tlsext_host_name(s, target.host.c_str()) == 1 &&
                           SSL_set1_host(s, target.host.c_str()) == 1);
    if (!ok) {
      ERR_clear_error();
      Reset();
      co_return Internal("cannot set up TLS verification for " + target.host);
    }
    co_await stream->async_handshake(ssl::stream_base::client, asio::redirect_error(kAwait, ec));
    if (ec) {
      std::string m = Describe(ec);
      Reset();
      co_return Unavailable("TLS handshake: " + m).WithRetry();
    }
    ++connects;
    co_return Ok();
  }
};

HttpsConn::HttpsConn(asio::any_io_executor executor, std::shared_ptr<ssl::context> tls,
                     ConnTarget target, size_t max_body_bytes)
    : impl_(std::make_unique<Impl>()) {
  impl_->executor = std::move(executor);
  impl_->tls = std::move(tls);
  impl_->target = std::move(target);
  impl_->max_body_bytes = max_body_bytes;
}

HttpsConn::~HttpsConn() { impl_->Reset(); }

void HttpsConn::Close() { impl_->Reset(); }

uint64_t HttpsConn::connects() const { return impl_->connects; }

asio::awaitable<Result<SimResponse>> HttpsConn::Request(std::string_view method, std::string target,
                                                        std::string body,
                                                        std::chrono::milliseconds timeout,
                                                        const std::string* bearer,
                                                        std::string_view content_type) {
  Impl& c = *impl_;
  http::request<http::string_body> request;
  request.version(11);
  request.method_string(beast::string_view(method.data(), method.size()));
  request.target(target);
  request.set(http::field::host, c.target.host_header);
  request.set(http::field::user_agent, "certfleet-fleet-sim");
  request.set(http::field::accept, "application/json");
  if (bearer) request.set(http::field::authorization, "Bearer " + *bearer);
  if (!body.empty() || method == "POST") {
    request.set(http::field::content_type,
                beast::string_view(content_type.data(), content_type.size()));
    request.body() = std::move(body);
    request.prepare_payload();
  }
  request.keep_alive(true);

  for (int attempt = 0;; ++attempt) {
    const bool reused = c.stream != nullptr;
    if (!reused) {
      Status connected = co_await c.Connect(timeout);
      if (!connected.ok()) co_return std::move(connected).error();
    }
    beast::error_code ec;
    beast::get_lowest_layer(*c.stream).expires_after(timeout);
    co_await http::async_write(*c.stream, request, asio::redirect_error(kAwait, ec));
    http::response_parser<http::string_body> parser;
    parser.body_limit(c.max_body_bytes);
    // A response to HEAD has no body, whatever its Content-Length says (RFC 9110 section 9.3.2).
    if (method == "HEAD") parser.skip(true);
    if (!ec)
      co_await http::async_read(*c.stream, c.buffer, parser, asio::redirect_error(kAwait, ec));
    if (ec) {
      const bool nothing_read = !parser.got_some();
      std::string m = Describe(ec);
      c.Reset();
      // The server closes keep-alive connections after its idle timeout; a request that found
      // the connection closed before any answer came back was never processed: retry once.
      if (reused && nothing_read && attempt == 0 && ec != beast::error::timeout) continue;
      if (ec == http::error::body_limit) co_return TooLarge("response body too large");
      co_return Unavailable(std::string(method) + " " + target.substr(0, target.find('?')) + ": " +
                            m)
          .WithRetry();
    }
    auto& message = parser.get();
    SimResponse response;
    response.status = static_cast<int>(message.result_int());
    const bool keep = message.keep_alive();
    response.body = std::move(message.body());
    for (const auto& field : message) {
      std::string name(field.name_string());
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      response.headers[std::move(name)] = std::string(field.value());
    }
    if (!keep) c.Reset();
    // Long polls park for up to a minute; release the read buffer's memory meanwhile.
    c.buffer.shrink_to_fit();
    co_return response;
  }
}

Result<std::shared_ptr<ssl::context>> MakeClientTls(const std::string& trust_pem,
                                                    const std::string& chain_pem,
                                                    std::string_view key_pem) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  beast::error_code ec;
  context->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::no_compression,
                       ec);
  SSL_CTX_set_mode(context->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  context->set_verify_mode(ssl::verify_peer);
  context->add_certificate_authority(asio::buffer(trust_pem), ec);
  if (ec) return InvalidArgument("the --ca file does not load: " + Describe(ec));
  if (!chain_pem.empty()) {
    context->use_certificate_chain(asio::buffer(chain_pem), ec);
    if (ec) return InvalidArgument("client certificate chain does not load: " + Describe(ec));
    context->use_private_key(asio::buffer(key_pem.data(), key_pem.size()), ssl::context::pem, ec);
    if (ec) return InvalidArgument("client key does not load: " + Describe(ec));
  }
  return context;
}

}  // namespace certfleet::bench
