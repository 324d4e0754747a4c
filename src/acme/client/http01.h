// http-01 (RFC 8555 section 8.3, issue #6 "Solvers"): the CA fetches
// http://<name>:80/.well-known/acme-challenge/<token> and expects the key authorization
// "<token>.<thumbprint>" as the body.
//
// Three pieces:
//  - Http01Solver: what the order flow (order_flow.h) calls to publish and withdraw a token.
//  - Http01TokenMap: an in-process store of (identifier, token) -> key authorization, each entry
//    owned by the account whose order presented it; an Http01Responder (or any other front end)
//    serves from it, answering a token only for a request whose Host is its identifier (issue
//    #13: a token answers only for the name and account that ordered it).
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
#include <utility>

#include "base/clock.h"
#include "base/error.h"
#include "net/http01_responder.h"
#include "store/store.h"

namespace certfleet::acme {

inline constexpr std::string_view kHttp01PathPrefix = net::kHttp01PathPrefix;

// Contract of Http01Solver:
//  - Present(identifier, token, key_authorization) returns Ok only once a GET for the token's
//    path with Host `identifier` (the authorization's DNS name) on every address the CA may use
//    would answer `key_authorization`. Presenting a token again replaces its value.
//  - CleanUp(identifier, token) withdraws the token; withdrawing a token that is not there is
//    Ok, so callers may clean up after a Present that failed half-way.
//  - Errors are base Errors; their messages never carry the key authorization.
// Thread safety is per implementation; Http01TokenMap is thread-safe.
class Http01Solver {
 public:
  virtual ~Http01Solver();
  virtual Status Present(std::string_view identifier, std::string_view token,
                         std::string_view key_authorization) = 0;
  virtual Status CleanUp(std::string_view identifier, std::string_view token) = 0;
};

// Where the built-in http-01 listener finds its tokens, and how an account's orders put them
// there: in this process (Http01TokenMap), or in the store, where every replica's listener sees
// them (StoreHttp01Tokens; issue #15). Both are thread-safe.
class Http01Tokens {
 public:
  virtual ~Http01Tokens();
  // The solver an account's orders use: entries it presents are owned by `owner`, and it can
  // withdraw only those. Borrows this object, which must outlive it.
  virtual std::unique_ptr<Http01Solver> ForAccount(std::string owner) = 0;
  // The key authorization presented for `token` under the name `host` (compared
  // case-insensitively, a trailing dot ignored: net::NormalizeHttp01Host), or nullopt (also for
  // an invalid token or an empty host).
  virtual std::optional<std::string> Find(std::string_view host, std::string_view token) const = 0;
};

// The checks both token stores make before accepting an entry: the token is a valid ACME token,
// the identifier a DNS name, the key authorization "<token>.<base64url>" of at most 512 bytes.
// Returns the identifier as stored (lower case, no trailing dot).
Result<std::string> CheckHttp01Entry(std::string_view identifier, std::string_view token,
                                     std::string_view key_authorization);

// Thread-safe in-process (identifier, token) -> key authorization map. Each entry has an owner
// (the account whose order presented it; ForAccount gives an account its view). Put refuses
// (InvalidArgument) a token that fails IsValidToken (jws.h: base64url, 1..256 characters), an
// identifier that is not a DNS name, and a key authorization that is not "<token>.<base64url>" or
// is longer than kMaxKeyAuthorizationBytes; it refuses (TooLarge) a new entry once `max_entries`
// are held, so a runaway caller cannot grow the map without bound, and (Conflict) an entry held
// by another owner. Remove of an invalid, absent or foreign entry is Ok and changes nothing.
// Present/CleanUp are Put/Remove with the empty owner.
class Http01TokenMap : public Http01Solver, public Http01Tokens {
 public:
  static constexpr size_t kDefaultMaxEntries = 10000;
  static constexpr size_t kMaxKeyAuthorizationBytes = 512;

  explicit Http01TokenMap(size_t max_entries = kDefaultMaxEntries) : max_entries_(max_entries) {}
  Http01TokenMap(const Http01TokenMap&) = delete;
  Http01TokenMap& operator=(const Http01TokenMap&) = delete;

  Status Present(std::string_view identifier, std::string_view token,
                 std::string_view key_authorization) override;
  Status CleanUp(std::string_view identifier, std::string_view token) override;

  Status Put(std::string_view owner, std::string_view identifier, std::string_view token,
             std::string_view key_authorization);
  Status Remove(std::string_view owner, std::string_view identifier, std::string_view token);

  std::unique_ptr<Http01Solver> ForAccount(std::string owner) override;

  std::optional<std::string> Find(std::string_view host, std::string_view token) const override;
  // The owner of the entry, or nullopt (tests, logs).
  std::optional<std::string> OwnerOf(std::string_view identifier, std::string_view token) const;
  size_t size() const;

 private:
  struct Entry {
    std::string owner;
    std::string key_authorization;
  };
  const size_t max_entries_;
  mutable std::mutex mu_;
  // Keyed by (normalized identifier, token); guarded by mu_.
  std::map<std::pair<std::string, std::string>, Entry, std::less<>> entries_;
};

// The tokens in the store (store::Http01TokenRepo), for replicas: a token presented through one
// replica is answered by every replica's listener. Same checks and ownership rule as the map;
// TooLarge beyond `max_entries` rows. Rows older than a day (a crash between present and
// clean-up) are swept when a token is presented.
class StoreHttp01Tokens final : public Http01Tokens {
 public:
  StoreHttp01Tokens(store::Store& store, const Clock& clock,
                    size_t max_entries = Http01TokenMap::kDefaultMaxEntries)
      : store_(store), clock_(clock), max_entries_(max_entries) {}
  std::unique_ptr<Http01Solver> ForAccount(std::string owner) override;
  std::optional<std::string> Find(std::string_view host, std::string_view token) const override;

  Status Put(std::string_view owner, std::string_view identifier, std::string_view token,
             std::string_view key_authorization);
  Status Remove(std::string_view owner, std::string_view identifier, std::string_view token);

 private:
  store::Store& store_;
  const Clock& clock_;
  const size_t max_entries_;
};

// The listener moved to net (the agent serves http-01 too and may not depend on acme); these
// names keep acme callers unchanged. Serve an Http01TokenMap with
// `Http01Responder::Create(options, [&map](std::string_view h, std::string_view t) {
// return map.Find(h, t); })`.
using Http01ResponderOptions = net::Http01ResponderOptions;
using Http01Responder = net::Http01Responder;

}  // namespace certfleet::acme
