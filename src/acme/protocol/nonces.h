// Replay nonces for the ACME server (RFC 8555 section 6.5): single-use and bounded in memory.
//
// A nonce is 16 random bytes, base64url (22 characters), prefixed with this store's 4-character
// prefix (3 random bytes drawn when the store is made; certfleetd makes one store per process,
// so it is the process's prefix): a nonce of another replica is told apart without a lookup. The
// store keeps at most `capacity` outstanding nonces; issuing one more forgets the oldest (its
// holder then gets badNonce and a fresh nonce, which every client handles). Consume() removes a
// nonce and reports whether it was outstanding: a replay, an unknown, a forgotten or a malformed
// nonce are all false.
//
// Replicas: nonces live in one process. A nonce issued by one replica and presented to another
// is unknown there (badNonce; the client retries with the fresh nonce of that reply). Behind a
// load balancer, ACME traffic should stick to a replica (docs/high-availability.md).
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "base/random.h"

namespace certfleet::acme {

class NonceStore {
 public:
  // `random` is borrowed and must outlive this object.
  explicit NonceStore(Random& random, size_t capacity = 100'000);

  std::string Issue();
  bool Consume(std::string_view nonce);
  size_t outstanding() const;

 private:
  Random& random_;
  const size_t capacity_;
  std::string prefix_;
  mutable std::mutex mu_;
  std::deque<std::string> order_;         // guarded by mu_, oldest first
  std::unordered_set<std::string> live_;  // guarded by mu_
};

}  // namespace certfleet::acme
