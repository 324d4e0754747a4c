#include "crypto/jws.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <cstdint>
#include <string>

#include "base/encoding.h"
#include "crypto/hash.h"
#include "crypto/openssl_util.h"

namespace certfleet::crypto {
namespace {

using BnPtr = internal::OsslPtr<BIGNUM, BN_free>;
using EcdsaSigPtr = internal::OsslPtr<ECDSA_SIG, ECDSA_SIG_free>;
using ParamBldPtr = internal::OsslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamPtr = internal::OsslPtr<OSSL_PARAM, OSSL_PARAM_free>;

constexpr size_t kEd25519KeyBytes = 32;
constexpr size_t kEd25519SignatureBytes = 64;

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

// The JWK of an Ed25519 key (RFC 8037 section 2), members in RFC 7638 order.
Result<std::string> Ed25519Jwk(const PublicKey& key) {
  unsigned char raw[kEd25519KeyBytes];
  size_t len = sizeof(raw);
  EVP_PKEY* pkey = key.get();
  if (pkey == nullptr || EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1 || len != sizeof(raw)) {
    return internal::OpenSslError(ErrorCode::kInternal, "cannot read an Ed25519 public key");
  }
  return R"({"crv":"Ed25519","kty":"OKP","x":")" +
         Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(raw), len)) + R"("})";
}

// A PublicKey for an EVP_PKEY built from a peer's JWK, by way of its SubjectPublicKeyInfo, so
// that it passes the same decoder and KeyType checks as every other public key.
Result<PublicKey> ViaSpki(EVP_PKEY* pkey) {
  int len = i2d_PUBKEY(pkey, nullptr);
  if (len <= 0) return internal::OpenSslError(ErrorCode::kInternal, "JWK: cannot encode the key");
  std::string spki(static_cast<size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(spki.data());
  if (i2d_PUBKEY(pkey, &out) != len) {
    return internal::OpenSslError(ErrorCode::kInternal, "JWK: cannot encode the key");
  }
  Result<PublicKey> key = PublicKey::FromSpkiDer(spki);
  if (!key.ok()) return InvalidArgument("JWK: unusable key: " + key.error().message());
  return key;
}

// EVP_PKEY_fromdata for a public key of OpenSSL key type `type`; `what` names the failure.
Result<EvpPkeyPtr> PublicFromParams(const char* type, const OSSL_PARAM* params,
                                    std::string_view what) {
  internal::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, const_cast<OSSL_PARAM*>(params)) !=
          1 ||
      raw == nullptr) {
    internal::ClearOpenSslErrors();
    return InvalidArgument("JWK: " + std::string(what));
  }
  return EvpPkeyPtr(raw);
}

Result<PublicKey> EcFromJwk(const JwkMembers& jwk) {
  const char* group = nullptr;
  size_t width = 0;
  if (jwk.crv == "P-256") {
    group = "prime256v1";
    width = EcFieldBytes(KeyType::kP256);
  } else if (jwk.crv == "P-384") {
    group = "secp384r1";
    width = EcFieldBytes(KeyType::kP384);
  } else {
    return InvalidArgument("JWK: unsupported EC curve (supported: P-256, P-384)");
  }
  if (jwk.x.size() != width || jwk.y.size() != width) {
    return InvalidArgument("JWK: EC coordinates must be exactly " + std::to_string(width) +
                           " bytes for " + jwk.crv);
  }
  // The uncompressed point (SEC 1 section 2.3.3); OpenSSL refuses a point not on the curve and
  // coordinates not below the field prime.
  std::string point = "\x04" + jwk.x + jwk.y;
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return internal::OpenSslError(ErrorCode::kInternal, "JWK: out of memory");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return internal::OpenSslError(ErrorCode::kInternal, "JWK: out of memory");
  CF_ASSIGN_OR_RETURN(EvpPkeyPtr pkey,
                      PublicFromParams("EC", params.get(), "the EC point is not on the curve"));
  return ViaSpki(pkey.get());
}

Result<PublicKey> RsaFromJwk(const JwkMembers& jwk) {
  if (jwk.n.empty() || jwk.e.empty()) return InvalidArgument("JWK: RSA key without n or e");
  if (jwk.n[0] == '\0' || jwk.e[0] == '\0') {
    return InvalidArgument("JWK: RSA n and e must not have leading zero octets");
  }
  if (jwk.n.size() > 4096 / 8 || !internal::FitsInt(jwk.n.size())) {
    return InvalidArgument("JWK: RSA modulus larger than 4096 bits");
  }
  // At most 8 octets; the rest of the rules below are checked on the value.
  if (jwk.e.size() > 8) return InvalidArgument("JWK: RSA public exponent of more than 64 bits");
  uint64_t e = 0;
  for (char c : jwk.e) e = (e << 8) | static_cast<unsigned char>(c);
  if (e < 65537 || e % 2 == 0) {
    return InvalidArgument("JWK: RSA public exponent must be odd and at least 65537");
  }
  const auto* n_raw = reinterpret_cast<const unsigned char*>(jwk.n.data());
  BnPtr n(BN_bin2bn(n_raw, static_cast<int>(jwk.n.size()), nullptr));
  BnPtr e_bn(BN_new());
  if (!n || !e_bn || BN_set_word(e_bn.get(), e) != 1) {
    return internal::OpenSslError(ErrorCode::kInternal, "JWK: out of memory");
  }
  int bits = BN_num_bits(n.get());
  if (bits != 2048 && bits != 3072 && bits != 4096) {
    return InvalidArgument("JWK: unsupported RSA key size " + std::to_string(bits) +
                           " (supported: 2048, 3072, 4096)");
  }
  if (!BN_is_odd(n.get())) return InvalidArgument("JWK: RSA modulus is even");
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) != 1) {
    return internal::OpenSslError(ErrorCode::kInternal, "JWK: out of memory");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return internal::OpenSslError(ErrorCode::kInternal, "JWK: out of memory");
  CF_ASSIGN_OR_RETURN(EvpPkeyPtr pkey, PublicFromParams("RSA", params.get(), "invalid RSA key"));
  return ViaSpki(pkey.get());
}

Result<PublicKey> Ed25519FromJwk(const JwkMembers& jwk) {
  if (jwk.crv != "Ed25519")
    return InvalidArgument("JWK: unsupported OKP curve (supported: Ed25519)");
  if (jwk.x.size() != kEd25519KeyBytes) {
    return InvalidArgument("JWK: an Ed25519 key must be exactly 32 bytes");
  }
  EVP_PKEY* raw = EVP_PKEY_new_raw_public_key_ex(
      nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(jwk.x.data()),
      jwk.x.size());
  if (raw == nullptr) {
    internal::ClearOpenSslErrors();
    return InvalidArgument("JWK: invalid Ed25519 key");
  }
  EvpPkeyPtr pkey(raw);
  return ViaSpki(pkey.get());
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
  if (key.type() == KeyType::kEd25519) return Ed25519Jwk(key);
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
  // EdDSA (RFC 8037 section 3.1): the signature is the raw 64 bytes of RFC 8032.
  if (key.type() == KeyType::kEd25519) {
    return signature.size() == kEd25519SignatureBytes && key.Verify(signing_input, signature);
  }
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

Result<PublicKey> PublicKeyFromJwk(const JwkMembers& jwk) {
  if (jwk.kty == "EC") return EcFromJwk(jwk);
  if (jwk.kty == "RSA") return RsaFromJwk(jwk);
  if (jwk.kty == "OKP") return Ed25519FromJwk(jwk);
  return InvalidArgument("JWK: unsupported key type (supported kty: EC, RSA, OKP)");
}

}  // namespace certfleet::crypto
