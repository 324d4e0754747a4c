// Bearer-token authentication (token format: lifecycle/tokens.h). Lookups hash the presented
// token and find the hash in the database, so there is no early-exit comparison on the secret.
//
// A small cache keeps who a recently used token belongs to (by the token's SHA-256, never the
// token), so a client's requests do not each read three rows. It never widens anything:
//   - only successful authentications are cached, so a new token works at once;
//   - an entry is dropped as soon as any credential change commits in this process
//     (lifecycle::NoteCredentialsChanged: a token revoked, a principal disabled, tags changed);
//   - the token's own expiry is checked on every use;
//   - an entry lives at most kCacheTtl (1 s), which bounds how long a change made by another
//     process sharing the store (another replica, `certfleetd --rotate-admin-token`) takes to
//     apply here.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "lifecycle/caller.h"
#include "lifecycle/tokens.h"
#include "store/store.h"

namespace certfleet::api {

// Admins of this account manage every account (the management account of an organization).
inline constexpr char kSystemAccountName[] = "default";

class Authenticator {
 public:
  static constexpr std::chrono::seconds kCacheTtl{1};
  static constexpr size_t kCacheCapacity = 10000;

  Authenticator(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}
  // From the Authorization header value. Unauthorized with a reason for a missing, malformed,
  // unknown, revoked or expired token or a disabled principal; the token never appears in it.
  Result<lifecycle::Caller> Authenticate(const std::optional<std::string>& authorization);
  // The same for a bare API token (a console login's body).
  Result<lifecycle::Caller> AuthenticateToken(std::string_view token);
  // The same for a token known by its hash (lifecycle::HashApiToken): a console session re-checks
  // the token it was made from on every use, so that revoking the token, disabling its principal
  // or the token's expiry ends the session at once.
  Result<lifecycle::Caller> AuthenticateHash(const std::string& hash_hex);

  // Lookups answered from the cache and from the store, since construction (tests, metrics).
  uint64_t cache_hits() const;
  uint64_t store_lookups() const;

 private:
  struct Cached {
    lifecycle::Caller caller;
    std::optional<TimePoint> expires_at;
    std::chrono::steady_clock::time_point cached_at;
    uint64_t generation;  // lifecycle::CredentialsGeneration() before the store was read
  };
  Result<lifecycle::Caller> Lookup(const std::string& hash_hex);

  store::Store& store_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Cached> cache_;  // by token hash; guarded by mu_
  uint64_t hits_ = 0;                              // guarded by mu_
  uint64_t lookups_ = 0;                           // guarded by mu_
};

// The reason label of a failed authentication for certfleet_auth_failures_total: one of
// missing, malformed, invalid, revoked, expired, disabled, session (a console session cookie
// that is unknown or has ended), agent_certificate (set by the caller
// for mutual TLS), other.
std::string_view AuthFailureReason(const Error& error);

}  // namespace certfleet::api
