// A plain-HTTP/1.1 listener for the http-01 challenge path (RFC 8555 section 8.3): the CA
// fetches http://<name>:80/.well-known/acme-challenge/<token> and expects the key authorization
// "<token>.<thumbprint>" as the body. Used by certfleetd's built-in http-01 solver (through
// acme/http01.h) and by the agent for challenges on the host that answers for the name (issue
// #6). Where the key authorizations come from is the caller's business: a lookup function.
//
// Key authorizations are not secret (the CA reads them over plain HTTP), but they are tied to the
// account key and nothing here logs them or puts them into an Error.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certfleet::net {

inline constexpr std::string_view kHttp01PathPrefix = "/.well-known/acme-challenge/";
// Tokens longer than this are never looked up (RFC 8555 tokens are 22+ base64url characters).
inline constexpr size_t kMaxHttp01TokenLength = 256;

struct Http01ResponderOptions {
  // http-01 is always port 80 on the CA's side (section 8.3); tests bind 127.0.0.1:0.
  std::string address = "0.0.0.0";
  uint16_t port = 80;  // 0 picks a free port; see Http01Responder::port()
  // The whole request head (request line and header fields); a larger one gets 431.
  size_t max_request_bytes = 4096;
  // Deadline for one connection from accept to close (reading the request, writing the answer):
  // a slow or idle peer is disconnected without an answer.
  std::chrono::milliseconds read_timeout{10000};
  // Connections beyond this are accepted and closed at once.
  size_t max_connections = 128;
};

// Plain HTTP/1.1 (no TLS: section 8.3 requires the CA to start on http://) listener for the
// http-01 path. One request per connection (answers carry "Connection: close"):
//  - GET /.well-known/acme-challenge/<token> with a token the lookup knows for the request's
//    Host (issue #13: a token answers only for the name it was registered for): 200, body = the
//    key authorization, Content-Type: application/octet-stream;
//  - GET of anything else (unknown or malformed token, other paths, a query string): 404;
//  - any other method: 405 with "Allow: GET";
//  - a request with a body, a malformed request line or header, a version other than HTTP/1.0
//    or 1.1: 400; a request head over max_request_bytes: 431.
// Never logs key authorizations or tokens' values. Thread-safe: the lookup is called from the
// responder's own I/O thread; Start/Stop from the owner thread.
class Http01Responder {
 public:
  // Returns the key authorization for a token (already checked: base64url, 1..kMaxHttp01TokenLength
  // characters) requested with Host `host` (NormalizeHttp01Host: lower case, without port and
  // trailing dot; empty when the request has no Host field), or nullopt.
  using Lookup =
      std::function<std::optional<std::string>(std::string_view host, std::string_view token)>;

  // Validates options and binds the socket (so port() is known once this returns).
  // InvalidArgument for a bad address or limits outside: max_request_bytes 256..65536,
  // read_timeout 1 ms..5 min, max_connections 1..65536; Unavailable if the address cannot be bound.
  static Result<std::unique_ptr<Http01Responder>> Create(Http01ResponderOptions options,
                                                         Lookup lookup);
  ~Http01Responder();  // Stop()s
  Http01Responder(const Http01Responder&) = delete;
  Http01Responder& operator=(const Http01Responder&) = delete;

  // Starts the I/O thread and returns at once. FailedPrecondition if called twice or after Stop.
  Status Start();
  // Closes the listener and every connection and joins the thread. Idempotent.
  void Stop();
  uint16_t port() const;

 private:
  struct Impl;
  explicit Http01Responder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The name in an HTTP Host field value (RFC 9110 section 7.2): lower-cased, without a ":port"
// suffix and without a trailing dot, so that it compares equal to a normalized DNS identifier.
// An IPv6 literal ("[::1]:80") keeps its brackets. Pure, thread-safe.
std::string NormalizeHttp01Host(std::string_view host);

}  // namespace certfleet::net
