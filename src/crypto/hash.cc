// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) through OpenSSL's one-shot EVP calls.
#include "crypto/hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/check.h"
#include "base/encoding.h"

namespace certfleet::crypto {

namespace {

constexpr size_t kSha256Size = 32;

std::string Hmac(const void* key, size_t key_len, std::string_view data) {
  std::string out(kSha256Size, '\0');
  size_t out_len = 0;
  // A null key pointer means "no key" to some providers; an empty key must still be a key.
  static const unsigned char kEmpty = 0;
  const void* k = key_len == 0 ? &kEmpty : key;
  unsigned char* r = EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, k, key_len,
                               reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                               reinterpret_cast<unsigned char*>(out.data()), out.size(), &out_len);
  // HMAC-SHA256 from the default provider cannot fail short of memory exhaustion; a failure
  // here means the OpenSSL installation is broken, which no caller can handle.
  CF_CHECK(r != nullptr && out_len == kSha256Size);
  return out;
}

}  // namespace

std::string Sha256(std::string_view data) {
  std::string out(kSha256Size, '\0');
  unsigned int len = 0;
  int rc = EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
                      EVP_sha256(), nullptr);
  CF_CHECK(rc == 1 && len == kSha256Size);  // see Hmac above
  return out;
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

std::string HmacSha256(std::string_view key, std::string_view data) {
  return Hmac(key.data(), key.size(), data);
}

std::string HmacSha256(const SecretBytes& key, std::string_view data) {
  return Hmac(key.data(), key.size(), data);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // The length is not secret (MACs and digests have fixed sizes); only the contents are
  // compared in constant time.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace certfleet::crypto
