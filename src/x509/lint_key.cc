// Lint of the subject public key (BR 6.1.5, 6.1.6, 7.1.3.1), judged from its encoding.
#include "x509/lint_key.h"

#include <openssl/ec.h>
#include <openssl/objects.h>

#include "x509/asn1_util.h"
#include "x509/ossl.h"

namespace certfleet::x509::internal {

Error Fail(std::string_view rule, std::string_view detail) {
  return InvalidArgument("lint " + std::string(rule) + ": " + std::string(detail));
}

namespace {

// BR 7.1.3.1: the only AlgorithmIdentifier encodings allowed in a SubjectPublicKeyInfo (RSA with
// explicit NULL parameters; ECDSA with a named curve), plus RFC 8410 section 3 for Ed25519.
struct KnownAlgorithm {
  std::string_view der;
  KeyKind kind;
};
constexpr KnownAlgorithm kKnownAlgorithms[] = {
    {{"\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00", 15}, KeyKind::kRsa},
    {{"\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 21},
     KeyKind::kP256},
    {{"\x30\x10\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x05\x2b\x81\x04\x00\x22", 18},
     KeyKind::kP384},
    {{"\x30\x05\x06\x03\x2b\x65\x70", 7}, KeyKind::kEd25519},
};

// An unsigned DER INTEGER's magnitude; false unless minimally encoded and positive.
bool ReadPositiveInteger(DerReader& in, std::string_view* magnitude) {
  std::string_view tlv, content;
  if (!in.Read(0x02, &tlv, &content) || content.empty()) return false;
  unsigned char first = static_cast<unsigned char>(content[0]);
  if (first & 0x80) return false;  // negative
  if (first == 0) {
    if (content.size() == 1) return false;                               // zero
    if (!(static_cast<unsigned char>(content[1]) & 0x80)) return false;  // not minimal
    content.remove_prefix(1);
  }
  *magnitude = content;
  return true;
}

// BR 6.1.5 and 6.1.6: modulus of at least 2048 bits and a multiple of 8, public exponent odd
// and at least 3. RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }.
Status LintRsaKey(std::string_view bits) {
  DerReader top(bits);
  std::string_view tlv, seq, n, e;
  if (!top.Read(0x30, &tlv, &seq) || !top.empty()) {
    return Fail("key.parse", "RSA public key is not a DER RSAPublicKey");
  }
  DerReader in(seq);
  if (!ReadPositiveInteger(in, &n) || !ReadPositiveInteger(in, &e) || !in.empty()) {
    return Fail("key.parse", "RSA public key is not a DER RSAPublicKey");
  }
  int top_bits = 8;
  for (unsigned char b = static_cast<unsigned char>(n[0]); !(b & 0x80); b <<= 1) --top_bits;
  size_t modulus_bits = (n.size() - 1) * 8 + static_cast<size_t>(top_bits);
  if (modulus_bits < 2048 || modulus_bits % 8 != 0) {
    return Fail("key.rsa_size",
                "RSA modulus must be >= 2048 bits and a multiple of 8 "
                "(BR 6.1.5), got " +
                    std::to_string(modulus_bits));
  }
  bool odd = static_cast<unsigned char>(e.back()) & 1;
  if (!odd || (e.size() == 1 && static_cast<unsigned char>(e[0]) < 3)) {
    return Fail("key.rsa_exponent", "RSA public exponent must be odd and >= 3 (BR 6.1.6)");
  }
  return Ok();
}

// The two curves' EC_GROUPs, built once: building one costs more than the rest of the lint.
// Immutable after construction and only read (EC_POINT_oct2point takes a const group), so
// sharing them between threads is safe; they are curve constants, not state.
const EC_GROUP* CurveGroup(KeyKind kind) {
  struct Groups {
    OsslPtr<EC_GROUP, EC_GROUP_free> p256{EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)};
    OsslPtr<EC_GROUP, EC_GROUP_free> p384{EC_GROUP_new_by_curve_name(NID_secp384r1)};
  };
  static const Groups* groups = new Groups;  // never destroyed: no shutdown-order hazards
  return kind == KeyKind::kP256 ? groups->p256.get() : groups->p384.get();
}

// BR 6.1.6: the CA confirms the ECDSA public key is valid. EC_POINT_oct2point rejects points
// that are not on the curve. Points must be uncompressed (RFC 5480 section 2.2), the form every
// client supports.
Status LintEcKey(std::string_view bits, KeyKind kind) {
  size_t want = kind == KeyKind::kP256 ? 65 : 97;
  if (bits.size() != want || bits[0] != '\x04') {
    return Fail("key.ec_point", "EC public key must be an uncompressed point (RFC 5480 2.2)");
  }
  const EC_GROUP* group = CurveGroup(kind);
  OsslPtr<EC_POINT, EC_POINT_free> point(group ? EC_POINT_new(group) : nullptr);
  bool ok = point &&
            EC_POINT_oct2point(group, point.get(), Bytes(bits), bits.size(), nullptr) == 1 &&
            EC_POINT_is_at_infinity(group, point.get()) == 0;
  ClearOsslErrors();
  if (!ok) return Fail("key.ec_point", "EC public key is not a point on the curve (BR 6.1.6)");
  return Ok();
}

// BR 6.1.5: RSA, ECDSA on P-256 or P-384; Ed25519 only where the profile allows it (private
// PKI). The key is checked from its encoding, without OpenSSL's generic key decoder (which
// costs hundreds of microseconds per call in OpenSSL 3.0).
}  // namespace

Result<KeyKind> LintSubjectKey(std::string_view der, bool allow_ed25519) {
  if (der.empty()) return Fail("key.present", "subject public key is empty");
  Result<SpkiParts> parts = SplitSpki(der);
  if (!parts.ok()) {
    return Fail("key.parse", "subject public key is not a DER SubjectPublicKeyInfo");
  }
  const KnownAlgorithm* known = nullptr;
  for (const KnownAlgorithm& k : kKnownAlgorithms) {
    if (k.der == parts->algorithm_der) known = &k;
  }
  if (known == nullptr) {
    const unsigned char* p = Bytes(parts->algorithm_der);
    X509AlgorPtr alg(
        d2i_X509_ALGOR(nullptr, &p, static_cast<long>(parts->algorithm_der.size())));  // NOLINT
    ClearOsslErrors();
    const ASN1_OBJECT* obj = nullptr;
    if (alg) X509_ALGOR_get0(&obj, nullptr, nullptr, alg.get());
    if (obj != nullptr && OBJ_obj2nid(obj) == NID_X9_62_id_ecPublicKey) {
      return Fail("key.ec_curve", "EC keys must use named curve P-256 or P-384 (BR 6.1.5)");
    }
    return Fail("key.type",
                "key must be RSA, ECDSA P-256/P-384 or Ed25519 with the "
                "AlgorithmIdentifier encoding of BR 7.1.3.1");
  }
  switch (known->kind) {
    case KeyKind::kRsa:
      CF_TRY(LintRsaKey(parts->key_bits));
      break;
    case KeyKind::kP256:
    case KeyKind::kP384:
      CF_TRY(LintEcKey(parts->key_bits, known->kind));
      break;
    case KeyKind::kEd25519:
      if (!allow_ed25519) {
        return Fail("key.ed25519", "Ed25519 keys are not allowed by this profile (BR 6.1.5)");
      }
      if (parts->key_bits.size() != 32) {
        return Fail("key.parse", "Ed25519 public key must be 32 octets (RFC 8410 section 4)");
      }
      break;
  }
  return known->kind;
}

}  // namespace certfleet::x509::internal
