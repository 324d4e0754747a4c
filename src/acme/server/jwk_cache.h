// Account keys parsed once (issue #16, measured with bench/acme_server_load): every request of
// an ACME account is verified with the key stored as its JWK text, and parsing that text into an
// OpenSSL key (acme::ParseJwk: OpenSSL 3's encoder and decoder lookups) cost more than half of
// certfleetd's CPU per order. JwkCache keeps the parsed keys by their exact JWK text, so a key
// rollover (a new text) never meets the old key, and nothing is trusted that the store does not
// say: the caller still reads the account (its status and JWK) from the store on every request.
//
// Get() returns the key for the text, parsing it on a miss (errors are returned, never kept).
// At most `capacity` keys are kept; when full, the cache is emptied and fills again (accounts
// that are active come back at once). Thread-safe; PublicKey copies share one EVP_PKEY.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include "base/error.h"
#include "crypto/key.h"

namespace certfleet::acme::server {

class JwkCache {
 public:
  explicit JwkCache(size_t capacity) : capacity_(capacity) {}
  JwkCache(const JwkCache&) = delete;
  JwkCache& operator=(const JwkCache&) = delete;

  Result<crypto::PublicKey> Get(const std::string& jwk_json);
  size_t size() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, crypto::PublicKey> keys_;
};

}  // namespace certfleet::acme::server
