#include "lifecycle/tokens.h"

#include "base/encoding.h"
#include "crypto/hash.h"

namespace certfleet::lifecycle {

namespace {

NewToken Generate(Random& random, std::string_view prefix) {
  std::string raw = random.Bytes(32);
  std::string text = std::string(prefix) + Base64UrlEncode(raw);
  SecureWipe(raw.data(), raw.size());
  NewToken t{SecretBytes(), HashApiToken(text)};
  t.token = SecretBytes::FromString(std::move(text));
  return t;
}

bool LooksLike(std::string_view token, std::string_view prefix) {
  return token.size() == prefix.size() + 43 && token.substr(0, prefix.size()) == prefix &&
         IsBase64Url(token.substr(prefix.size()));
}

}  // namespace

NewToken GenerateApiToken(Random& random) { return Generate(random, kTokenPrefix); }
NewToken GenerateEnrollmentToken(Random& random) {
  return Generate(random, kEnrollmentTokenPrefix);
}

std::string HashApiToken(std::string_view token) { return crypto::Sha256Hex(token); }

bool LooksLikeApiToken(std::string_view token) { return LooksLike(token, kTokenPrefix); }
bool LooksLikeEnrollmentToken(std::string_view token) {
  return LooksLike(token, kEnrollmentTokenPrefix);
}

}  // namespace certfleet::lifecycle
