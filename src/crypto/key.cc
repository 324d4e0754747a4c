// Key generation, import, export and signatures over OpenSSL 3's EVP interface only (no RSA_* or
// EC_KEY_* calls, which OpenSSL 3 deprecates). Encrypted PKCS#8 lives in pkcs8.cc.
#include "crypto/key.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <array>
#include <cstring>
#include <mutex>
#include <optional>

#include "crypto/key_internal.h"
#include "crypto/openssl_util.h"

namespace certfleet::crypto {

using internal::ClearOpenSslErrors;
using internal::OpenSslError;

void EVP_PKEY_Deleter::operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }

namespace {

struct KeyTypeInfo {
  KeyType type;
  std::string_view name;
};
constexpr std::array<KeyTypeInfo, 6> kKeyTypes = {{
    {KeyType::kP256, "p256"},
    {KeyType::kP384, "p384"},
    {KeyType::kRsa2048, "rsa2048"},
    {KeyType::kRsa3072, "rsa3072"},
    {KeyType::kRsa4096, "rsa4096"},
    {KeyType::kEd25519, "ed25519"},
}};

// The digest each key type signs with (nullptr: Ed25519 hashes internally, RFC 8032). ECDSA
// pairs the curve with the hash of matching strength (RFC 5480 section 4; CA/B Forum BR 6.1.5).
const char* DigestFor(KeyType type) {
  switch (type) {
    case KeyType::kP256:
      return "SHA256";
    case KeyType::kP384:
      return "SHA384";
    case KeyType::kRsa2048:
    case KeyType::kRsa3072:
    case KeyType::kRsa4096:
      return "SHA256";
    case KeyType::kEd25519:
      return nullptr;
  }
  return nullptr;
}

Result<EvpPkeyPtr> GenerateRaw(KeyType type) {
  EVP_PKEY* raw = nullptr;
  switch (type) {
    case KeyType::kP256:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kP384:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    // EVP_PKEY_Q_keygen's RSA default public exponent is 65537 (F4).
    case KeyType::kRsa2048:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
      break;
    case KeyType::kRsa3072:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072});
      break;
    case KeyType::kRsa4096:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{4096});
      break;
    case KeyType::kEd25519:
      raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  if (raw == nullptr) {
    return OpenSslError(ErrorCode::kInternal,
                        "key generation failed for " + std::string(KeyTypeName(type)));
  }
  return EvpPkeyPtr(raw);
}

// The DER prefix of a SubjectPublicKeyInfo whose key is a fixed-size string: ecPublicKey on a
// named curve with an uncompressed point (RFC 5480), or Ed25519 (RFC 8410). What follows the
// prefix is the point or the raw key, which is also what i2d_PUBKEY writes.
struct FixedSpki {
  KeyType type;
  std::string_view prefix;
  size_t key_size;
};
constexpr std::array<FixedSpki, 3> kFixedSpki = {{
    {KeyType::kP256,
     std::string_view("\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86"
                      "\x48\xce\x3d\x03\x01\x07\x03\x42\x00",
                      26),
     65},
    {KeyType::kP384,
     std::string_view("\x30\x76\x30\x10\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x05\x2b\x81"
                      "\x04\x00\x22\x03\x62\x00",
                      23),
     97},
    {KeyType::kEd25519, std::string_view("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12),
     32},
}};

// PKCS#8 PrivateKeyInfo of the same key types, as OpenSSL writes it: for EC an ECPrivateKey
// (RFC 5915) with the public point and without the curve parameters, for Ed25519 the raw key
// (RFC 8410). `head` precedes the private key, `tail` follows it and precedes the public point.
struct FixedPkcs8 {
  KeyType type;
  std::string_view head;
  size_t private_size;
  std::string_view tail;
};
constexpr std::array<FixedPkcs8, 3> kFixedPkcs8 = {{
    {KeyType::kP256,
     std::string_view("\x30\x81\x87\x02\x01\x00\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"
                      "\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07\x04\x6d\x30\x6b\x02\x01\x01"
                      "\x04\x20",
                      36),
     32, std::string_view("\xa1\x44\x03\x42\x00", 5)},
    {KeyType::kP384,
     std::string_view("\x30\x81\xb6\x02\x01\x00\x30\x10\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"
                      "\x06\x05\x2b\x81\x04\x00\x22\x04\x81\x9e\x30\x81\x9b\x02\x01\x01"
                      "\x04\x30",
                      35),
     48, std::string_view("\xa1\x64\x03\x62\x00", 5)},
    {KeyType::kEd25519,
     std::string_view("\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 16), 32,
     std::string_view()},
}};

// The SPKI of an EC or Ed25519 key built from its public point, without OpenSSL 3's encoder
// lookup (which cost a third of the CPU of an issuance, docs/PERFORMANCE.md). Only for keys
// certfleet generated: OpenSSL hands back the uncompressed point even for a key whose point
// format is "compressed", and i2d_PUBKEY would honour that format. nullopt for other types.
std::optional<std::string> FixedSpkiOf(EVP_PKEY* pkey, KeyType type) {
  for (const FixedSpki& f : kFixedSpki) {
    if (f.type != type) continue;
    unsigned char key[97];
    size_t len = 0;
    const bool ok = type == KeyType::kEd25519
                        ? EVP_PKEY_get_raw_public_key(pkey, key, &(len = sizeof(key))) == 1
                        : EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                                          key, sizeof(key), &len) == 1;
    if (!ok || len != f.key_size || (type != KeyType::kEd25519 && key[0] != 0x04)) {
      ClearOpenSslErrors();
      return std::nullopt;
    }
    std::string spki(f.prefix);
    spki.append(reinterpret_cast<const char*>(key), len);
    return spki;
  }
  return std::nullopt;
}

}  // namespace

namespace internal {

Result<KeyType> DetectKeyType(const EVP_PKEY* pkey) {
  if (pkey == nullptr) return InvalidArgument("no key");
  if (EVP_PKEY_is_a(pkey, "ED25519")) return KeyType::kEd25519;
  if (EVP_PKEY_is_a(pkey, "EC")) {
    // Named curves only: explicit curve parameters are forbidden by RFC 5480 section 2.1.1 and
    // have no group name.
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &len) != 1) {
      ClearOpenSslErrors();
      return InvalidArgument("EC key without a named curve is not supported");
    }
    int nid = OBJ_txt2nid(group);
    if (nid == NID_X9_62_prime256v1) return KeyType::kP256;
    if (nid == NID_secp384r1) return KeyType::kP384;
    return InvalidArgument("unsupported EC curve " + std::string(group) +
                           " (supported: P-256, P-384)");
  }
  // "RSA" excludes RSASSA-PSS-restricted keys (id-RSASSA-PSS), which we do not issue with.
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    int bits = EVP_PKEY_get_bits(pkey);
    if (bits == 2048) return KeyType::kRsa2048;
    if (bits == 3072) return KeyType::kRsa3072;
    if (bits == 4096) return KeyType::kRsa4096;
    return InvalidArgument("unsupported RSA key size " + std::to_string(bits) +
                           " (supported: 2048, 3072, 4096)");
  }
  const char* name = EVP_PKEY_get0_type_name(pkey);
  return InvalidArgument("unsupported key type " + std::string(name ? name : "unknown") +
                         " (supported: p256, p384, rsa2048, rsa3072, rsa4096, ed25519)");
}

Result<PrivateKey> PrivateKeyFromPkcs8Info(const PKCS8_PRIV_KEY_INFO* p8) {
  EVP_PKEY* raw = EVP_PKCS82PKEY_ex(p8, nullptr, nullptr);
  if (raw == nullptr) return OpenSslError(ErrorCode::kMalformed, "invalid PKCS#8 private key");
  return PrivateKey::Adopt(EvpPkeyPtr(raw));
}

}  // namespace internal

std::string_view KeyTypeName(KeyType type) {
  for (const auto& info : kKeyTypes) {
    if (info.type == type) return info.name;
  }
  return "unknown";
}

Result<KeyType> ParseKeyType(std::string_view name) {
  for (const auto& info : kKeyTypes) {
    if (info.name == name) return info.type;
  }
  return InvalidArgument("unknown key type '" + std::string(name) +
                         "' (valid: p256, p384, rsa2048, rsa3072, rsa4096, ed25519)");
}

// ---- PublicKey -------------------------------------------------------------------------------

struct PublicKey::Decoded {
  std::once_flag once;
  std::shared_ptr<EVP_PKEY> pkey;
};

PublicKey::PublicKey(std::shared_ptr<EVP_PKEY> pkey, std::string spki, KeyType type)
    : decoded_(std::make_shared<Decoded>()), spki_der_(std::move(spki)), type_(type) {
  decoded_->pkey = std::move(pkey);
}

PublicKey PublicKey::FromTrustedSpki(std::string spki, KeyType type) {
  return PublicKey(nullptr, std::move(spki), type);
}

EVP_PKEY* PublicKey::get() const {
  std::call_once(decoded_->once, [this] {
    if (decoded_->pkey) return;
    const auto* p = reinterpret_cast<const unsigned char*>(spki_der_.data());
    EVP_PKEY* raw =
        d2i_PUBKEY_ex(nullptr, &p, static_cast<long>(spki_der_.size()), nullptr, nullptr);
    // Our own encoding of a key OpenSSL holds: failing here is an internal error, and every
    // caller of get() handles nullptr as "no key".
    if (raw == nullptr) ClearOpenSslErrors();
    decoded_->pkey.reset(raw, EVP_PKEY_free);
  });
  return decoded_->pkey.get();
}

Result<PublicKey> PublicKey::FromSpkiDer(std::string_view der) {
  if (der.empty() || !internal::FitsInt(der.size())) return Malformed("empty or oversized SPKI");
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* raw = d2i_PUBKEY_ex(nullptr, &p, static_cast<long>(der.size()), nullptr, nullptr);
  if (raw == nullptr) return OpenSslError(ErrorCode::kMalformed, "invalid SubjectPublicKeyInfo");
  std::shared_ptr<EVP_PKEY> pkey(raw, EVP_PKEY_free);
  if (p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return Malformed("trailing data after SubjectPublicKeyInfo");
  }
  CF_ASSIGN_OR_RETURN(KeyType type, internal::DetectKeyType(raw));
  // Keep the canonical re-encoding so byte comparisons (CSR vs certificate key) are reliable
  // even if the input used a non-minimal BER form that d2i accepted.
  int len = i2d_PUBKEY(raw, nullptr);
  if (len <= 0) return OpenSslError(ErrorCode::kInternal, "cannot encode public key");
  std::string spki(static_cast<size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(spki.data());
  if (i2d_PUBKEY(raw, &out) != len) {
    return OpenSslError(ErrorCode::kInternal, "cannot encode public key");
  }
  return PublicKey(std::move(pkey), std::move(spki), type);
}

Result<PublicKey> PublicKey::FromPem(std::string_view pem) {
  internal::BioPtr bio = internal::ReadOnlyBio(pem);
  if (!bio) return InvalidArgument("PEM input too large");
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
    return OpenSslError(ErrorCode::kMalformed, "invalid PEM public key");
  }
  std::string label(name);
  std::string der(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(data);
  if (label != "PUBLIC KEY") return Malformed("expected a PUBLIC KEY PEM block, got " + label);
  return FromSpkiDer(der);
}

std::string PublicKey::ToPem() const { return internal::PemEncode("PUBLIC KEY", spki_der_); }

bool PublicKey::Verify(std::string_view data, std::string_view signature) const {
  internal::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = ctx != nullptr &&
            EVP_DigestVerifyInit_ex(ctx.get(), nullptr, DigestFor(type_), nullptr, nullptr, get(),
                                    nullptr) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                             data.size()) == 1;
  // A bad signature is an expected outcome; do not leave its reasons for the next caller.
  if (!ok) ClearOpenSslErrors();
  return ok;
}

// ---- PrivateKey ------------------------------------------------------------------------------

// Public-key-only copy of `pkey` via its SubjectPublicKeyInfo, so a PublicKey never holds
// private material even when it was derived from a PrivateKey. Its EVP_PKEY is decoded from the
// SPKI when first used.
Result<PublicKey> PrivateKey::PublicOf(EVP_PKEY* pkey, KeyType type, bool fresh) {
  if (fresh) {
    if (std::optional<std::string> spki = FixedSpkiOf(pkey, type)) {
      return PublicKey::FromTrustedSpki(std::move(*spki), type);
    }
  }
  int len = i2d_PUBKEY(pkey, nullptr);
  if (len <= 0) return OpenSslError(ErrorCode::kInternal, "cannot encode public key");
  std::string spki(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(spki.data());
  if (i2d_PUBKEY(pkey, &p) != len) {
    return OpenSslError(ErrorCode::kInternal, "cannot encode public key");
  }
  return PublicKey::FromTrustedSpki(std::move(spki), type);
}

Result<PrivateKey> PrivateKey::Generate(KeyType type) {
  CF_ASSIGN_OR_RETURN(EvpPkeyPtr pkey, GenerateRaw(type));
  CF_ASSIGN_OR_RETURN(PublicKey pub, PublicOf(pkey.get(), type, /*fresh=*/true));
  return PrivateKey(std::move(pkey), std::move(pub), type);
}

Result<PrivateKey> PrivateKey::Adopt(EvpPkeyPtr pkey) {
  if (!pkey) return InvalidArgument("no key to adopt");
  CF_ASSIGN_OR_RETURN(KeyType type, internal::DetectKeyType(pkey.get()));
  CF_ASSIGN_OR_RETURN(PublicKey pub, PublicOf(pkey.get(), type, /*fresh=*/false));
  return PrivateKey(std::move(pkey), std::move(pub), type);
}

Result<PrivateKey> PrivateKey::FromPkcs8Der(const SecretBytes& der) {
  if (der.empty() || !internal::FitsInt(der.size())) return Malformed("empty or oversized PKCS#8");
  const unsigned char* p = der.data();
  internal::Pkcs8PrivKeyInfoPtr p8(
      d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size())));
  if (!p8) return OpenSslError(ErrorCode::kMalformed, "invalid PKCS#8 PrivateKeyInfo");
  if (p != der.data() + der.size()) return Malformed("trailing data after PKCS#8 PrivateKeyInfo");
  return internal::PrivateKeyFromPkcs8Info(p8.get());
}

Result<PrivateKey> PrivateKey::FromPem(const SecretBytes& pem) {
  std::string_view text = pem.view();
  // Encrypted keys need a passphrase; point the caller at the right entry point instead of a
  // generic decoding error.
  if (text.find("ENCRYPTED PRIVATE KEY") != std::string_view::npos ||
      text.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos) {
    return InvalidArgument("PEM private key is encrypted; a passphrase is required");
  }
  internal::BioPtr bio = internal::ReadOnlyBio(text);
  if (!bio) return InvalidArgument("PEM input too large");
  // The callback refuses to supply a passphrase: without it OpenSSL would prompt on the
  // controlling terminal.
  pem_password_cb* no_passphrase = [](char*, int, int, void*) { return -1; };
  EVP_PKEY* raw =
      PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, no_passphrase, nullptr, nullptr, nullptr);
  if (raw == nullptr) return OpenSslError(ErrorCode::kMalformed, "invalid PEM private key");
  return Adopt(EvpPkeyPtr(raw));
}

// PKCS#8 of an EC or Ed25519 key whose SPKI has the fixed form, without OpenSSL 3's encoder
// lookup (a tenth of the CPU of an issuance, where every new key is sealed). Empty when the key
// is of another type or form, or its private half cannot be read (a token's key): the caller
// then asks OpenSSL.
SecretBytes PrivateKey::FixedPkcs8Der() const {
  for (size_t i = 0; i < kFixedPkcs8.size(); ++i) {
    const FixedPkcs8& f = kFixedPkcs8[i];
    const FixedSpki& spki = kFixedSpki[i];
    if (f.type != type_) continue;
    const std::string& pub = public_key_.spki_der();
    if (pub.size() != spki.prefix.size() + spki.key_size || !pub.starts_with(spki.prefix)) {
      return SecretBytes();
    }
    SecretBytes priv(f.private_size);
    if (type_ == KeyType::kEd25519) {
      size_t len = priv.size();
      if (EVP_PKEY_get_raw_private_key(pkey_.get(), priv.data(), &len) != 1 || len != priv.size()) {
        ClearOpenSslErrors();
        return SecretBytes();
      }
    } else {
      BIGNUM* d = nullptr;
      const bool ok = EVP_PKEY_get_bn_param(pkey_.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 &&
                      BN_bn2binpad(d, priv.data(), static_cast<int>(priv.size())) ==
                          static_cast<int>(priv.size());
      BN_clear_free(d);
      if (!ok) {
        ClearOpenSslErrors();
        return SecretBytes();
      }
    }
    const std::string_view point =
        f.tail.empty() ? std::string_view() : std::string_view(pub).substr(spki.prefix.size());
    SecretBytes out(f.head.size() + priv.size() + f.tail.size() + point.size());
    uint8_t* p = out.data();
    for (std::string_view part : {f.head, priv.view(), f.tail, point}) {
      if (!part.empty()) memcpy(p, part.data(), part.size());
      p += part.size();
    }
    return out;
  }
  return SecretBytes();
}

SecretBytes PrivateKey::ToPkcs8Der() const {
  if (SecretBytes fixed = FixedPkcs8Der(); !fixed.empty()) return fixed;
  internal::Pkcs8PrivKeyInfoPtr p8(EVP_PKEY2PKCS8(pkey_.get()));
  int len = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8.get(), nullptr) : -1;
  if (len <= 0) {
    // Keys held by a token are not exportable; the contract returns empty (see key.h).
    ClearOpenSslErrors();
    return SecretBytes();
  }
  SecretBytes out(static_cast<size_t>(len));
  unsigned char* p = out.data();
  if (i2d_PKCS8_PRIV_KEY_INFO(p8.get(), &p) != len) {
    ClearOpenSslErrors();
    return SecretBytes();
  }
  return out;
}

SecretBytes PrivateKey::ToPkcs8Pem() const {
  SecretBytes der = ToPkcs8Der();
  if (der.empty()) return SecretBytes();
  return internal::PemEncodeSecret("PRIVATE KEY", der.view());
}

Result<std::string> PrivateKey::Sign(std::string_view data) const {
  internal::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return OpenSslError(ErrorCode::kInternal, "out of memory");
  // RSA keys default to PKCS#1 v1.5 padding (RFC 8017 section 8.2).
  if (EVP_DigestSignInit_ex(ctx.get(), nullptr, DigestFor(type_), nullptr, nullptr, pkey_.get(),
                            nullptr) != 1) {
    return OpenSslError(ErrorCode::kInternal, "cannot initialise signing");
  }
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  size_t len = 0;
  // One-shot EVP_DigestSign: Ed25519 supports no streaming (RFC 8032 PureEdDSA).
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) != 1) {
    return OpenSslError(ErrorCode::kInternal, "cannot size signature");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                     data.size()) != 1) {
    return OpenSslError(ErrorCode::kInternal, "signing failed");
  }
  sig.resize(len);  // DER ECDSA signatures are variable length
  return sig;
}

}  // namespace certfleet::crypto
