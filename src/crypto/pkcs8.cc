// Encrypted PKCS#8 (RFC 5958 EncryptedPrivateKeyInfo) import and export.
//
// Export always uses PBES2 (RFC 8018 section 6.2) with PBKDF2-HMAC-SHA256 and AES-256-CBC.
// PEM_write_bio_PKCS8PrivateKey is not used because it fixes PBKDF2 at 2048 iterations
// (RECIPES.md); PKCS5_pbe2_set_iv_ex lets us choose the count.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "crypto/key.h"
#include "crypto/key_internal.h"
#include "crypto/openssl_util.h"

namespace certfleet::crypto {

namespace {

// RFC 8018 section 4.1 asks for at least 64 bits of salt; NIST SP 800-132 for 128.
constexpr int kSaltLength = 16;
// Below this a PBKDF2 export gives no meaningful protection; reject it rather than comply.
constexpr int kMinPbkdf2Iterations = 10000;

}  // namespace

Result<PrivateKey> PrivateKey::FromEncryptedPem(std::string_view pem,
                                                const SecretBytes& passphrase) {
  if (!internal::FitsInt(passphrase.size())) return InvalidArgument("passphrase too long");
  internal::BioPtr bio = internal::ReadOnlyBio(pem);
  if (!bio) return InvalidArgument("PEM input too large");
  // PEM_read_bio_PKCS8 reads only "ENCRYPTED PRIVATE KEY"; the null callback is never invoked
  // because X509_SIG is not itself encrypted.
  internal::X509SigPtr sig(PEM_read_bio_PKCS8(bio.get(), nullptr, nullptr, nullptr));
  if (!sig) return internal::OpenSslError(ErrorCode::kMalformed, "invalid encrypted PKCS#8 PEM");
  // PKCS8_decrypt_ex dispatches on the algorithm OID: PBES2 with any PRF and cipher the default
  // provider has, or the PKCS#12 PBE schemes (RFC 7292 appendix C). The passphrase is handed
  // over in place, never copied.
  internal::Pkcs8PrivKeyInfoPtr p8(PKCS8_decrypt_ex(sig.get(), internal::PassPtr(passphrase),
                                                    static_cast<int>(passphrase.size()), nullptr,
                                                    nullptr));
  if (!p8) {
    // CBC padding or the inner DER fails on a wrong passphrase; OpenSSL cannot tell that apart
    // from corruption, so both are reported as Unauthorized. The queue is drained without
    // its text: nothing in it helps the caller and it must not hint at the passphrase.
    internal::ClearOpenSslErrors();
    return Unauthorized("cannot decrypt private key: wrong passphrase or corrupt data");
  }
  return internal::PrivateKeyFromPkcs8Info(p8.get());
}

Result<std::string> PrivateKey::ToEncryptedPkcs8Pem(const SecretBytes& passphrase,
                                                    const Pkcs8Options& options) const {
  if (passphrase.empty()) return InvalidArgument("passphrase must not be empty");
  if (!internal::FitsInt(passphrase.size())) return InvalidArgument("passphrase too long");
  if (options.pbkdf2_iterations < kMinPbkdf2Iterations) {
    return InvalidArgument("pbkdf2_iterations must be at least " +
                           std::to_string(kMinPbkdf2Iterations));
  }
  internal::Pkcs8PrivKeyInfoPtr p8(EVP_PKEY2PKCS8(pkey_.get()));
  if (!p8) return internal::OpenSslError(ErrorCode::kFailedPrecondition, "key not exportable");
  // Null salt and IV: OpenSSL draws both from its DRBG (16-byte salt, 16-byte AES IV).
  internal::X509AlgorPtr pbe(PKCS5_pbe2_set_iv_ex(EVP_aes_256_cbc(), options.pbkdf2_iterations,
                                                  nullptr, kSaltLength, nullptr, NID_hmacWithSHA256,
                                                  nullptr));
  if (!pbe) return internal::OpenSslError(ErrorCode::kInternal, "cannot set up PBES2");
  // PKCS8_set0_pbe_ex takes ownership of `pbe` only on success.
  internal::X509SigPtr sig(PKCS8_set0_pbe_ex(internal::PassPtr(passphrase),
                                             static_cast<int>(passphrase.size()), p8.get(),
                                             pbe.get(), nullptr, nullptr));
  if (!sig) return internal::OpenSslError(ErrorCode::kInternal, "PKCS#8 encryption failed");
  pbe.release();
  int len = i2d_X509_SIG(sig.get(), nullptr);
  if (len <= 0) return internal::OpenSslError(ErrorCode::kInternal, "cannot encode PKCS#8");
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_X509_SIG(sig.get(), &p) != len) {
    return internal::OpenSslError(ErrorCode::kInternal, "cannot encode PKCS#8");
  }
  return internal::PemEncode("ENCRYPTED PRIVATE KEY", der);
}

}  // namespace certfleet::crypto
