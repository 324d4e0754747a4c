#include "lifecycle/tokens.h"

#include "base/encoding.h"
#include "crypto/hash.h"

namespace certfleet::lifecycle {

NewToken GenerateApiToken(Random& random) {
  std::string raw = random.Bytes(32);
  std::string text = kTokenPrefix + Base64UrlEncode(raw);
  SecureWipe(raw.data(), raw.size());
  NewToken t{SecretBytes(), HashApiToken(text)};
  t.token = SecretBytes::FromString(std::move(text));
  return t;
}

std::string HashApiToken(std::string_view token) { return crypto::Sha256Hex(token); }

bool LooksLikeApiToken(std::string_view token) {
  return token.size() == 4 + 43 && token.substr(0, 4) == kTokenPrefix &&
         IsBase64Url(token.substr(4));
}

}  // namespace certfleet::lifecycle
