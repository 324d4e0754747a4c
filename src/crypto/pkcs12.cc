// PKCS#12 (RFC 7292) bundles. Both the key bag and the certificate bag use PBES2 with AES-256-CBC
// and PBKDF2-HMAC-SHA256 (RFC 9579 profile); the MAC uses HMAC-SHA256 with the PKCS#12 KDF.
// OpenSSL 3's own default for certificates is still RC2/3DES-era PBE for compatibility; every
// consumer we target (OpenSSL >= 1.1, Java >= 8u301, Windows >= Server 2019) reads AES.
#include "crypto/pkcs12.h"

#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <cstring>

#include "crypto/key_internal.h"
#include "crypto/openssl_util.h"

namespace certfleet::crypto {

namespace {

constexpr int kMinIterations = 10000;  // as for encrypted PKCS#8 (pkcs8.cc)

// PKCS12_create_ex/PKCS12_parse take NUL-terminated passwords, so they get a terminated copy
// that lives in a SecretBytes and is wiped with it. An embedded NUL would silently shorten the
// passphrase, so it is rejected.
Result<SecretBytes> TerminatedPassphrase(const SecretBytes& passphrase) {
  if (std::memchr(passphrase.data(), 0, passphrase.size()) != nullptr) {
    return InvalidArgument("passphrase must not contain NUL bytes");
  }
  SecretBytes out = passphrase.Clone();
  out.Append(std::string_view("\0", 1));
  return out;
}

const char* CStr(const SecretBytes& terminated) {
  return reinterpret_cast<const char*>(terminated.data());
}

Result<internal::X509Ptr> ParseCert(std::string_view der, std::string_view what) {
  if (der.empty() || !internal::FitsInt(der.size()))
    return InvalidArgument(std::string(what) + " is empty");
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  internal::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert)
    return internal::OpenSslError(ErrorCode::kInvalidArgument, "invalid " + std::string(what));
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return InvalidArgument("trailing data after " + std::string(what));
  }
  return cert;
}

Result<std::string> CertDer(X509* cert) {
  int len = i2d_X509(cert, nullptr);
  if (len <= 0) return internal::OpenSslError(ErrorCode::kMalformed, "cannot encode certificate");
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_X509(cert, &p) != len) {
    return internal::OpenSslError(ErrorCode::kMalformed, "cannot encode certificate");
  }
  return der;
}

}  // namespace

Result<std::string> BuildPkcs12(const PrivateKey& key, std::string_view leaf_der,
                                const std::vector<std::string>& chain_der,
                                const SecretBytes& passphrase, std::string_view friendly_name,
                                int iterations) {
  if (passphrase.empty()) return InvalidArgument("passphrase must not be empty");
  if (iterations < kMinIterations) {
    return InvalidArgument("iterations must be at least " + std::to_string(kMinIterations));
  }
  if (friendly_name.find('\0') != std::string_view::npos) {
    return InvalidArgument("friendly name must not contain NUL bytes");
  }
  CF_ASSIGN_OR_RETURN(SecretBytes pass, TerminatedPassphrase(passphrase));
  CF_ASSIGN_OR_RETURN(internal::X509Ptr leaf, ParseCert(leaf_der, "leaf certificate"));
  // A bundle whose key does not match its certificate imports fine and fails at TLS time.
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    internal::ClearOpenSslErrors();
    return InvalidArgument("leaf certificate does not match the private key");
  }
  internal::X509StackPtr chain(sk_X509_new_null());
  if (!chain) return internal::OpenSslError(ErrorCode::kInternal, "out of memory");
  for (const std::string& der : chain_der) {
    CF_ASSIGN_OR_RETURN(internal::X509Ptr cert, ParseCert(der, "chain certificate"));
    if (sk_X509_push(chain.get(), cert.get()) <= 0) {
      return internal::OpenSslError(ErrorCode::kInternal, "out of memory");
    }
    cert.release();  // now owned by the stack
  }
  std::string name(friendly_name);
  // A cipher NID (not a PBE NID) makes OpenSSL use PBES2 with its default PRF,
  // hmacWithSHA256. mac_iter -1 skips the default SHA-1 MAC so we can add a SHA-256 one.
  internal::Pkcs12Ptr p12(PKCS12_create_ex(CStr(pass), name.empty() ? nullptr : name.c_str(),
                                           key.get(), leaf.get(), chain.get(), NID_aes_256_cbc,
                                           NID_aes_256_cbc, iterations, -1, 0, nullptr, nullptr));
  if (!p12) return internal::OpenSslError(ErrorCode::kInternal, "PKCS#12 creation failed");
  if (PKCS12_set_mac(p12.get(), CStr(pass), -1, nullptr, 0, iterations, EVP_sha256()) != 1) {
    return internal::OpenSslError(ErrorCode::kInternal, "PKCS#12 MAC failed");
  }
  int len = i2d_PKCS12(p12.get(), nullptr);
  if (len <= 0) return internal::OpenSslError(ErrorCode::kInternal, "cannot encode PKCS#12");
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PKCS12(p12.get(), &p) != len) {
    return internal::OpenSslError(ErrorCode::kInternal, "cannot encode PKCS#12");
  }
  return der;
}

Result<Pkcs12Contents> ParsePkcs12(std::string_view der, const SecretBytes& passphrase) {
  if (der.empty() || !internal::FitsInt(der.size())) return Malformed("empty or oversized PKCS#12");
  CF_ASSIGN_OR_RETURN(SecretBytes pass, TerminatedPassphrase(passphrase));
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  internal::Pkcs12Ptr p12(d2i_PKCS12(nullptr, &p, static_cast<long>(der.size())));
  if (!p12) return internal::OpenSslError(ErrorCode::kMalformed, "invalid PKCS#12");
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return Malformed("trailing data after PKCS#12");
  }
  // Without a MAC nothing vouches for the bags' integrity (RFC 7292 section 4): refuse.
  if (PKCS12_mac_present(p12.get()) != 1) return Malformed("PKCS#12 has no integrity MAC");
  EVP_PKEY* raw_key = nullptr;
  X509* raw_leaf = nullptr;
  STACK_OF(X509)* raw_chain = nullptr;
  // PKCS12_parse verifies the MAC before touching any bag (and, for an empty passphrase, tries
  // both encodings RFC 7292 appendix B.1 allows), so the PBKDF2-heavy check runs once.
  if (PKCS12_parse(p12.get(), CStr(pass), &raw_key, &raw_leaf, &raw_chain) != 1) {
    unsigned long last = ERR_peek_last_error();
    if (ERR_GET_LIB(last) == ERR_LIB_PKCS12 &&
        ERR_GET_REASON(last) == PKCS12_R_MAC_VERIFY_FAILURE) {
      // Generic and passphrase-free, like FromEncryptedPem.
      internal::ClearOpenSslErrors();
      return Unauthorized("PKCS#12 MAC verification failed: wrong passphrase or corrupt data");
    }
    return internal::OpenSslError(ErrorCode::kMalformed, "cannot decode PKCS#12");
  }
  EvpPkeyPtr pkey(raw_key);
  internal::X509Ptr leaf(raw_leaf);
  internal::X509StackPtr chain(raw_chain);
  if (!pkey) return Malformed("PKCS#12 contains no private key");
  if (!leaf) return Malformed("PKCS#12 contains no certificate matching the key");
  CF_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Adopt(std::move(pkey)));
  CF_ASSIGN_OR_RETURN(std::string leaf_out, CertDer(leaf.get()));
  std::vector<std::string> chain_out;
  // PKCS12_parse (OpenSSL 3.0) appends CA bags in file order, which BuildPkcs12 preserves.
  for (int i = 0; chain && i < sk_X509_num(chain.get()); ++i) {
    CF_ASSIGN_OR_RETURN(std::string c, CertDer(sk_X509_value(chain.get(), i)));
    chain_out.push_back(std::move(c));
  }
  return Pkcs12Contents{std::move(key), std::move(leaf_out), std::move(chain_out)};
}

}  // namespace certfleet::crypto
