// One keep-alive HTTPS connection driven by C++20 coroutines on a caller-chosen executor, for
// bench/fleet_sim and bench/acme_server_load: thousands of these share a couple of threads, where
// certfleet-agent's synchronous net::HttpsClient spends a thread per call and a connection per
// request.
//
// Contract:
//   - Request() sends one HTTP/1.1 request and returns the response (any status is a success),
//     or Unavailable for a connection, TLS or timeout failure, TooLarge past max_body_bytes.
//     The connection is opened lazily (TCP from the configured source address, TLS handshake
//     that verifies the server against the context's trust and the URL's host or IP) and kept
//     for the next request; a request that fails on a reused connection before any response
//     byte arrived (the server closed it while idle) is retried once on a fresh one.
//   - `timeout` covers connect, handshake, write and read of one request.
//   - Not thread-safe: one request at a time, from coroutines running on the executor given at
//     construction (one io_context thread per connection's owner in fleet_sim).
//   - The bearer token, when given, is only copied into the request header.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certfleet::bench {

struct SimResponse {
  int status = 0;
  std::string body;
  // Header fields by lower-case name (the last one of a repeated name).
  std::map<std::string, std::string> headers;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Where to connect: the server's resolved address, the name the certificate must carry (a host
// name or an IP literal), and optionally the local address to bind (127.0.0.2, ... so that
// thousands of simulated agents do not all count against certfleetd's per-address limit).
struct ConnTarget {
  boost::asio::ip::tcp::endpoint server;
  std::string host;  // as in the URL, for SNI, the Host header and verification
  std::string host_header;
  std::optional<boost::asio::ip::address> source;
};

class HttpsConn {
 public:
  HttpsConn(boost::asio::any_io_executor executor, std::shared_ptr<boost::asio::ssl::context> tls,
            ConnTarget target, size_t max_body_bytes = 4 << 20);
  ~HttpsConn();
  HttpsConn(const HttpsConn&) = delete;
  HttpsConn& operator=(const HttpsConn&) = delete;

  // A body (or any POST) is sent with `content_type`.
  boost::asio::awaitable<Result<SimResponse>> Request(
      std::string_view method, std::string target, std::string body,
      std::chrono::milliseconds timeout, const std::string* bearer = nullptr,
      std::string_view content_type = "application/json");
  // Drops the connection (the next Request opens a new one). Cancels a pending operation.
  void Close();
  // Number of TCP+TLS connections opened so far.
  uint64_t connects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A client TLS context: TLS 1.2+, verifies the server against `trust_pem`; with a certificate
// chain and key it presents them (mutual TLS). Idle connections release OpenSSL's buffers, so
// ten thousand parked long polls stay small. InvalidArgument for PEM that does not load.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientTls(const std::string& trust_pem,
                                                                 const std::string& chain_pem,
                                                                 std::string_view key_pem);

}  // namespace certfleet::bench
