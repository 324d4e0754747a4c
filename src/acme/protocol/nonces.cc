#include "acme/protocol/nonces.h"

#include "base/check.h"
#include "base/encoding.h"

namespace certfleet::acme {
namespace {

constexpr size_t kPrefixChars = 4;      // 3 random bytes
constexpr size_t kNonceBytes = 16;      // 128 bits, RFC 8555 section 6.5.1 asks for enough entropy
constexpr size_t kNonceChars = 4 + 22;  // prefix + base64url of 16 bytes

}  // namespace

NonceStore::NonceStore(Random& random, size_t capacity)
    : random_(random), capacity_(capacity), prefix_(Base64UrlEncode(random.Bytes(3))) {
  CF_CHECK(capacity_ > 0);
  CF_CHECK(prefix_.size() == kPrefixChars);
}

std::string NonceStore::Issue() {
  std::string nonce = prefix_ + Base64UrlEncode(random_.Bytes(kNonceBytes));
  std::lock_guard<std::mutex> lock(mu_);
  if (!live_.insert(nonce).second) return nonce;  // a 2^-128 repeat: already outstanding
  order_.push_back(nonce);
  // Forget the oldest outstanding nonces past the capacity. `order_` also holds nonces already
  // consumed (removed from `live_` only); they are skipped here.
  while (live_.size() > capacity_) {
    live_.erase(order_.front());
    order_.pop_front();
  }
  // Consumed nonces would otherwise pile up in `order_` while few are issued past the capacity:
  // drop them once they outnumber the live ones (amortized O(1) per Issue).
  if (order_.size() > 2 * capacity_ + 16) {
    std::deque<std::string> kept;
    for (std::string& n : order_) {
      if (live_.contains(n)) kept.push_back(std::move(n));
    }
    order_.swap(kept);
  }
  return nonce;
}

bool NonceStore::Consume(std::string_view nonce) {
  // Malformed or another store's (another replica's) nonces are refused without a lookup.
  if (nonce.size() != kNonceChars || !nonce.starts_with(prefix_) || !IsBase64Url(nonce)) {
    return false;
  }
  std::string key(nonce);
  std::lock_guard<std::mutex> lock(mu_);
  return live_.erase(key) == 1;
}

size_t NonceStore::outstanding() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_.size();
}

}  // namespace certfleet::acme
