// http-01 (RFC 8555 section 8.3, issue #6 "Solvers"): the CA fetches
// http://<name>:80/.well-known/acme-challenge/<token> and expects the key authorization
// "<token>.<thumbprint>" as the body.
//
// Three pieces:
//  - Http01Solver: what the order flow (order_flow.h) calls to publish and withdraw a token.
//  - Http01TokenMap: an in-process Http01Solver that only remembers token -> key authorization;
//    an Http01Responder (or any other front end) serves from it.
//  - Http01Responder: a small plain-HTTP/1.1 listener that answers exactly
//    `GET /.well-known/acme-challenge/<token>` from a lookup function.
//
// Key authorizations are not secret (the CA reads them over plain HTTP), but they are tied to the
// account key and nothing here logs them or puts them into an Error.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certfleet::acme {

inline constexpr std::string_view kHttp01PathPrefix = "/.well-known/acme-challenge/";

// Contract of Http01Solver:
//  - Present(token, key_authorization) returns Ok only once a GET for the token's path on every
//    address the CA may use would answer `key_authorization`. Presenting a token again replaces
//    its value.
//  - CleanUp(token) withdraws the token; withdrawing a token that is not there is Ok, so callers
//    may clean up after a Present that failed half-way.
//  - Errors are base Errors; their messages never carry the key authorization.
// Thread safety is per implementation; Http01TokenMap is thread-safe.
class Http01Solver {
 public:
  virtual ~Http01Solver();
  virtual Status Present(std::string_view token, std::string_view key_authorization) = 0;
  virtual Status CleanUp(std::string_view token) = 0;
};

// Thread-safe in-process token -> key authorization map. Present refuses (InvalidArgument) a token
// that fails IsValidToken (jws.h: base64url, 1..256 characters) and a key authorization that is
// not "<token>.<base64url>" or is longer than kMaxKeyAuthorizationBytes; it refuses
// (TooLarge) a new token once `max_entries` tokens are held, so a runaway caller cannot grow the
// map without bound. CleanUp of an invalid or absent token is Ok.
class Http01TokenMap : public Http01Solver {
 public:
  static constexpr size_t kDefaultMaxEntries = 10000;
  static constexpr size_t kMaxKeyAuthorizationBytes = 512;

  explicit Http01TokenMap(size_t max_entries = kDefaultMaxEntries) : max_entries_(max_entries) {}
  Http01TokenMap(const Http01TokenMap&) = delete;
  Http01TokenMap& operator=(const Http01TokenMap&) = delete;

  Status Present(std::string_view token, std::string_view key_authorization) override;
  Status CleanUp(std::string_view token) override;

  // The key authorization presented for `token`, or nullopt (also for an invalid token).
  std::optional<std::string> Find(std::string_view token) const;
  size_t size() const;

 private:
  const size_t max_entries_;
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> entries_;  // guarded by mu_
};

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
//  - GET /.well-known/acme-challenge/<token> with a known token: 200, body = the key
//    authorization, Content-Type: application/octet-stream;
//  - GET of anything else (unknown or malformed token, other paths, a query string): 404;
//  - any other method: 405 with "Allow: GET";
//  - a request with a body, a malformed request line or header, a version other than HTTP/1.0
//    or 1.1: 400; a request head over max_request_bytes: 431.
// Never logs key authorizations or tokens' values. Thread-safe: the lookup is called from the
// responder's own I/O thread; Start/Stop from the owner thread.
class Http01Responder {
 public:
  // Returns the key authorization for a token (already checked with IsValidToken), or nullopt.
  using Lookup = std::function<std::optional<std::string>(std::string_view token)>;

  // Validates options and binds the socket (so port() is known once this returns).
  // InvalidArgument for a bad address or limits outside: max_request_bytes 256..65536,
  // read_timeout 1 ms..5 min, max_connections 1..65536; Unavailable if the address cannot be bound.
  static Result<std::unique_ptr<Http01Responder>> Create(Http01ResponderOptions options,
                                                         Lookup lookup);
  // Serves from `tokens`, which is borrowed and must outlive the responder.
  static Result<std::unique_ptr<Http01Responder>> Create(Http01ResponderOptions options,
                                                         const Http01TokenMap& tokens);
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

}  // namespace certfleet::acme
