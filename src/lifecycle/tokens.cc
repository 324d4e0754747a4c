#include "lifecycle/tokens.h"

#include <atomic>

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

namespace {
std::atomic<uint64_t> g_credentials_generation{0};
}  // namespace

void NoteCredentialsChanged() { g_credentials_generation.fetch_add(1, std::memory_order_acq_rel); }

uint64_t CredentialsGeneration() {
  return g_credentials_generation.load(std::memory_order_acquire);
}

}  // namespace certfleet::lifecycle
