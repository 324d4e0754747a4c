// http-01 (RFC 8555 section 8.3, issue #6 "Solvers"): the CA fetches
// http://<name>:80/.well-known/acme-challenge/<token> and expects the key authorization
// "<token>.<thumbprint>" as the body.
//
// Three pieces:
//  - Http01Solver: what the order flow (order_flow.h) calls to publish and withdraw a token.
//  - Http01TokenMap: an in-process Http01Solver that only remembers token -> key authorization;
//    an Http01Responder (or any other front end) serves from it.
//  - Http01Responder (net/http01_responder.h, aliased here): a small plain-HTTP/1.1 listener
//    that answers exactly `GET /.well-known/acme-challenge/<token>` from a lookup function.
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
#include "net/http01_responder.h"

namespace certfleet::acme {

inline constexpr std::string_view kHttp01PathPrefix = net::kHttp01PathPrefix;

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

// The listener moved to net (the agent serves http-01 too and may not depend on acme); these
// names keep acme callers unchanged. Serve an Http01TokenMap with
// `Http01Responder::Create(options, [&map](std::string_view t) { return map.Find(t); })`.
using Http01ResponderOptions = net::Http01ResponderOptions;
using Http01Responder = net::Http01Responder;

}  // namespace certfleet::acme
