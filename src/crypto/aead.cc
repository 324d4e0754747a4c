// AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce per message. With random nonces a key
// must seal fewer than 2^32 messages (SP 800-38D section 8.3); envelope keys are per-record, far
// below that.
#include "crypto/aead.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>

#include "crypto/openssl_util.h"

namespace certfleet::crypto {

namespace {

constexpr size_t kNonceSize = 12;  // the GCM IV length that needs no GHASH derivation
constexpr size_t kTagSize = 16;    // full-length tag; truncated tags weaken forgery bounds

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

Result<std::string> AesGcmSeal(const SecretBytes& key, std::string_view plaintext,
                               std::string_view aad) {
  if (key.size() != kAes256KeySize) return InvalidArgument("AES-256-GCM key must be 32 bytes");
  if (!internal::FitsInt(plaintext.size()) || !internal::FitsInt(aad.size()) ||
      plaintext.size() > static_cast<size_t>(INT_MAX) - kNonceSize - kTagSize) {
    return InvalidArgument("AES-GCM input too large");
  }
  std::string out(kNonceSize + plaintext.size() + kTagSize, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  unsigned char* ct = nonce + kNonceSize;
  if (RAND_bytes(nonce, kNonceSize) != 1) {
    return internal::OpenSslError(ErrorCode::kInternal, "RAND_bytes failed");
  }
  internal::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int total = 0;
  if (!ctx || EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key.data(), nonce, nullptr) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(aad),
                                         static_cast<int>(aad.size())) != 1) ||
      (!plaintext.empty() && EVP_EncryptUpdate(ctx.get(), ct, &len, Bytes(plaintext),
                                               static_cast<int>(plaintext.size())) != 1)) {
    return internal::OpenSslError(ErrorCode::kInternal, "AES-GCM encryption failed");
  }
  total = plaintext.empty() ? 0 : len;
  if (EVP_EncryptFinal_ex(ctx.get(), ct + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, kTagSize, ct + plaintext.size()) != 1) {
    return internal::OpenSslError(ErrorCode::kInternal, "AES-GCM encryption failed");
  }
  return out;
}

Result<SecretBytes> AesGcmOpen(const SecretBytes& key, std::string_view sealed,
                               std::string_view aad) {
  if (key.size() != kAes256KeySize) return InvalidArgument("AES-256-GCM key must be 32 bytes");
  if (sealed.size() < kNonceSize + kTagSize) return Unauthorized("sealed data too short");
  if (!internal::FitsInt(sealed.size()) || !internal::FitsInt(aad.size())) {
    return InvalidArgument("AES-GCM input too large");
  }
  std::string_view nonce = sealed.substr(0, kNonceSize);
  std::string_view ct = sealed.substr(kNonceSize, sealed.size() - kNonceSize - kTagSize);
  std::string_view tag = sealed.substr(sealed.size() - kTagSize);

  // Decrypt into a SecretBytes so unauthenticated plaintext is wiped if the tag check fails;
  // nothing is returned until EVP_DecryptFinal_ex has verified the tag.
  SecretBytes plain(ct.size());
  internal::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key.data(), Bytes(nonce), nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, kTagSize,
                          const_cast<char*>(tag.data())) != 1) {
    return internal::OpenSslError(ErrorCode::kInternal, "AES-GCM setup failed");
  }
  // An empty SecretBytes has no buffer, and a null output pointer means "AAD" to GCM update.
  unsigned char empty_out[1];
  unsigned char* out = plain.empty() ? empty_out : plain.data();
  bool ok = (aad.empty() || EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(aad),
                                              static_cast<int>(aad.size())) == 1) &&
            (ct.empty() ||
             EVP_DecryptUpdate(ctx.get(), out, &len, Bytes(ct), static_cast<int>(ct.size())) == 1);
  if (ct.empty()) len = 0;
  int final_len = 0;
  ok = ok && EVP_DecryptFinal_ex(ctx.get(), out + len, &final_len) == 1;
  if (!ok) {
    internal::ClearOpenSslErrors();
    return Unauthorized("AES-GCM authentication failed");
  }
  return plain;
}

}  // namespace certfleet::crypto
