#include "crypto/jws.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "base/encoding.h"
#include "crypto/hash.h"
#include "crypto/openssl_util.h"

namespace certfleet::crypto {
namespace {

using BnPtr = internal::OsslPtr<BIGNUM, BN_free>;
using EcdsaSigPtr = internal::OsslPtr<ECDSA_SIG, ECDSA_SIG_free>;

// Field size in bytes of the curve of an ECDSA key type; 0 for other types.
size_t EcFieldBytes(KeyType type) {
  switch (type) {
    case KeyType::kP256:
      return 32;
    case KeyType::kP384:
      return 48;
    default:
      return 0;
  }
}

Result<BnPtr> GetBn(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1 || bn == nullptr) {
    return internal::OpenSslError(ErrorCode::kInternal, "cannot read a public key parameter");
  }
  return BnPtr(bn);
}

// Big-endian octets of `bn`, left-padded with zeros to `width` (0 = minimal length).
std::string BnBytes(const BIGNUM* bn, size_t width) {
  size_t n = width ? width : static_cast<size_t>(BN_num_bytes(bn));
  std::string out(n, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n));
  return out;
}

}  // namespace

Result<std::string> JwsAlgorithm(KeyType type) {
  switch (type) {
    case KeyType::kP256:
      return std::string("ES256");
    case KeyType::kP384:
      return std::string("ES384");
    case KeyType::kRsa2048:
    case KeyType::kRsa3072:
    case KeyType::kRsa4096:
      return std::string("RS256");
    case KeyType::kEd25519:
      break;
  }
  return InvalidArgument("JWS: " + std::string(KeyTypeName(type)) +
                         " keys are not supported for ACME accounts (use p256, p384 or rsa)");
}

Result<std::string> PublicJwk(const PublicKey& key) {
  CF_TRY(JwsAlgorithm(key.type()));
  // Base64url values never contain characters that need JSON escaping, so the members can be
  // written directly, already in the order RFC 7638 section 3.3 asks for.
  if (size_t width = EcFieldBytes(key.type()); width != 0) {
    CF_ASSIGN_OR_RETURN(BnPtr x, GetBn(key.get(), OSSL_PKEY_PARAM_EC_PUB_X));
    CF_ASSIGN_OR_RETURN(BnPtr y, GetBn(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y));
    std::string crv = key.type() == KeyType::kP256 ? "P-256" : "P-384";
    return R"({"crv":")" + crv + R"(","kty":"EC","x":")" +
           Base64UrlEncode(BnBytes(x.get(), width)) + R"(","y":")" +
           Base64UrlEncode(BnBytes(y.get(), width)) + R"("})";
  }
  CF_ASSIGN_OR_RETURN(BnPtr n, GetBn(key.get(), OSSL_PKEY_PARAM_RSA_N));
  CF_ASSIGN_OR_RETURN(BnPtr e, GetBn(key.get(), OSSL_PKEY_PARAM_RSA_E));
  return R"({"e":")" + Base64UrlEncode(BnBytes(e.get(), 0)) + R"(","kty":"RSA","n":")" +
         Base64UrlEncode(BnBytes(n.get(), 0)) + R"("})";
}

Result<std::string> JwkThumbprint(const PublicKey& key) {
  CF_ASSIGN_OR_RETURN(std::string jwk, PublicJwk(key));
  return Sha256(jwk);
}

Result<std::string> JwsSign(const PrivateKey& key, std::string_view signing_input) {
  CF_TRY(JwsAlgorithm(key.type()));
  CF_ASSIGN_OR_RETURN(std::string sig, key.Sign(signing_input));
  size_t width = EcFieldBytes(key.type());
  if (width == 0) return sig;  // RSA: PKCS#1 v1.5 octets are already the JWS form
  // RFC 7518 section 3.4: R and S as fixed-width big-endian octets, not the DER SEQUENCE that
  // OpenSSL produces.
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  if (!internal::FitsInt(sig.size())) return Internal("JWS: oversize ECDSA signature");
  EcdsaSigPtr parsed(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  if (!parsed) return internal::OpenSslError(ErrorCode::kInternal, "JWS: bad ECDSA signature");
  const BIGNUM* r = ECDSA_SIG_get0_r(parsed.get());
  const BIGNUM* s = ECDSA_SIG_get0_s(parsed.get());
  return BnBytes(r, width) + BnBytes(s, width);
}

bool JwsVerify(const PublicKey& key, std::string_view signing_input, std::string_view signature) {
  if (!JwsAlgorithm(key.type()).ok()) return false;
  size_t width = EcFieldBytes(key.type());
  if (width == 0) return key.Verify(signing_input, signature);
  if (signature.size() != 2 * width) return false;
  const auto* raw = reinterpret_cast<const unsigned char*>(signature.data());
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(raw, static_cast<int>(width), nullptr);
  BIGNUM* s = BN_bin2bn(raw + width, static_cast<int>(width), nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    internal::ClearOpenSslErrors();
    return false;
  }
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) {
    internal::ClearOpenSslErrors();
    return false;
  }
  std::string der_sig(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return key.Verify(signing_input, der_sig);
}

}  // namespace certfleet::crypto
