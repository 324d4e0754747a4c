#include "acme/server/jwk_cache.h"

#include "acme/protocol/jws_verify.h"

namespace certfleet::acme::server {

Result<crypto::PublicKey> JwkCache::Get(const std::string& jwk_json) {
  {
    std::lock_guard lock(mu_);
    auto it = keys_.find(jwk_json);
    if (it != keys_.end()) return it->second;
  }
  // Parsed outside the lock: two threads may parse the same text once each, which is harmless.
  CF_ASSIGN_OR_RETURN(crypto::PublicKey key, ParseJwk(jwk_json));
  std::lock_guard lock(mu_);
  if (keys_.size() >= capacity_) keys_.clear();
  if (capacity_ > 0) keys_.emplace(jwk_json, key);
  return key;
}

size_t JwkCache::size() const {
  std::lock_guard lock(mu_);
  return keys_.size();
}

}  // namespace certfleet::acme::server
