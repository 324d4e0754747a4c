// Pre-issuance lint (CONVENTIONS.md #6): the only producer of LintedTbs. Every failure is an
// InvalidArgument whose message starts with "lint <rule>:" so that operators and tests can tell
// which rule fired. Rules cite the CA/Browser Forum Baseline Requirements (BR) and RFC 5280.
#include <openssl/ec.h>
#include <openssl/objects.h>

#include <algorithm>
#include <set>

#include "base/time_util.h"
#include "base/validate.h"
#include "x509/asn1_util.h"
#include "x509/ossl.h"
#include "x509/tbs.h"

namespace certfleet::x509 {
namespace {

Error Fail(std::string_view rule, std::string_view detail) {
  return InvalidArgument("lint " + std::string(rule) + ": " + std::string(detail));
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Well-formed UTF-8 without C0/C1 control characters or DEL.
bool IsCleanUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return false;
    i += n;
  }
  return true;
}

// RFC 5280 section 4.1.2.2: positive, at most 20 octets of DER content. BR 7.1: at least 64
// bits of CSPRNG output, so at least 8 octets as handed to us (leading zero octets included,
// since they are still random output).
Status LintSerial(const std::string& serial) {
  std::string m = internal::StripLeadingZeros(serial);
  if (m.empty()) return Fail("serial.positive", "serial must be positive (RFC 5280 4.1.2.2)");
  size_t der_len = m.size() + ((static_cast<unsigned char>(m[0]) & 0x80) ? 1 : 0);
  if (der_len > 20) {
    return Fail("serial.length", "serial must encode in at most 20 octets (RFC 5280 4.1.2.2), got " +
                                     std::to_string(der_len));
  }
  if (serial.size() < 8) {
    return Fail("serial.entropy", "serial must carry at least 64 bits of CSPRNG output (BR 7.1)");
  }
  return Ok();
}

// RFC 5280 section 4.1.2.4 and Appendix A upper bounds (ub-common-name, ub-organization-name).
Status LintSubject(const TbsSpec& spec) {
  const std::pair<std::string_view, const std::string*> kAttrs[] = {
      {"commonName", &spec.subject_common_name}, {"organizationName", &spec.subject_organization}};
  for (auto [attr, value] : kAttrs) {
    if (value->size() > 64) {
      return Fail("subject.length", std::string(attr) + " exceeds 64 characters (RFC 5280 App. A)");
    }
    if (!IsCleanUtf8(*value)) {
      return Fail("subject.charset",
                  std::string(attr) + " must be UTF-8 without control characters");
    }
  }
  // RFC 5280 section 4.1.2.6: a CA's subject must be non-empty; BR 7.1.2.10.2 requires a CN.
  if (spec.is_ca && spec.subject_common_name.empty()) {
    return Fail("subject.ca_common_name", "CA certificates need a subject commonName (BR 7.1.2.10.2)");
  }
  return Ok();
}

// SANs: BR 7.1.2.7.12 (dNSName syntax, wildcards), RFC 5280 section 4.2.1.6; CN must repeat a
// SAN (BR 7.1.4.3 / 7.1.2.7.2).
Status LintNames(const TbsSpec& spec, const LintOptions& options) {
  std::set<std::string> dns_seen;
  for (const std::string& name : spec.dns_names) {
    Status valid = ValidateDnsName(name, options.allow_wildcards);
    if (!valid.ok()) return Fail("san.dns_syntax", valid.error().message() + " (BR 7.1.2.7.12)");
    if (!dns_seen.insert(Lower(name)).second) {
      return Fail("san.dns_duplicate", "duplicate dNSName " + QuoteForMessage(name));
    }
  }
  std::set<std::string> ip_seen;
  for (const std::string& ip : spec.ip_addresses) {
    std::optional<std::string> octets = internal::ParseIpAddress(ip);
    if (!octets) {
      return Fail("san.ip_syntax", "not an IPv4/IPv6 address: " + QuoteForMessage(ip));
    }
    if (!ip_seen.insert(*octets).second) {
      return Fail("san.ip_duplicate", "duplicate iPAddress " + QuoteForMessage(ip));
    }
  }
  if (spec.is_ca) return Ok();
  if (options.require_dns_names && spec.dns_names.empty() && spec.ip_addresses.empty()) {
    return Fail("san.required", "leaf certificates need at least one SAN (BR 7.1.2.7.12)");
  }
  const std::string& cn = spec.subject_common_name;
  if (!cn.empty() && !dns_seen.count(Lower(cn))) {
    std::optional<std::string> cn_ip = internal::ParseIpAddress(cn);
    if (!cn_ip || !ip_seen.count(*cn_ip)) {
      return Fail("subject.cn_in_san",
                  "commonName " + QuoteForMessage(cn) + " is not among the SANs (BR 7.1.4.3)");
    }
  }
  if (cn.empty() && spec.subject_organization.empty() && spec.dns_names.empty() &&
      spec.ip_addresses.empty()) {
    return Fail("subject.empty", "empty subject needs a subjectAltName (RFC 5280 4.2.1.6)");
  }
  return Ok();
}

enum class KeyKind { kRsa, kP256, kP384, kEd25519 };

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
bool ReadPositiveInteger(internal::DerReader& in, std::string_view* magnitude) {
  std::string_view tlv, content;
  if (!in.Read(0x02, &tlv, &content) || content.empty()) return false;
  unsigned char first = static_cast<unsigned char>(content[0]);
  if (first & 0x80) return false;  // negative
  if (first == 0) {
    if (content.size() == 1) return false;  // zero
    if (!(static_cast<unsigned char>(content[1]) & 0x80)) return false;  // not minimal
    content.remove_prefix(1);
  }
  *magnitude = content;
  return true;
}

// BR 6.1.5 and 6.1.6: modulus of at least 2048 bits and a multiple of 8, public exponent odd
// and at least 3. RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }.
Status LintRsaKey(std::string_view bits) {
  internal::DerReader top(bits);
  std::string_view tlv, seq, n, e;
  if (!top.Read(0x30, &tlv, &seq) || !top.empty()) {
    return Fail("key.parse", "RSA public key is not a DER RSAPublicKey");
  }
  internal::DerReader in(seq);
  if (!ReadPositiveInteger(in, &n) || !ReadPositiveInteger(in, &e) || !in.empty()) {
    return Fail("key.parse", "RSA public key is not a DER RSAPublicKey");
  }
  int top_bits = 8;
  for (unsigned char b = static_cast<unsigned char>(n[0]); !(b & 0x80); b <<= 1) --top_bits;
  size_t modulus_bits = (n.size() - 1) * 8 + static_cast<size_t>(top_bits);
  if (modulus_bits < 2048 || modulus_bits % 8 != 0) {
    return Fail("key.rsa_size", "RSA modulus must be >= 2048 bits and a multiple of 8 "
                                "(BR 6.1.5), got " + std::to_string(modulus_bits));
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
    internal::OsslPtr<EC_GROUP, EC_GROUP_free> p256{EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)};
    internal::OsslPtr<EC_GROUP, EC_GROUP_free> p384{EC_GROUP_new_by_curve_name(NID_secp384r1)};
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
  internal::OsslPtr<EC_POINT, EC_POINT_free> point(group ? EC_POINT_new(group) : nullptr);
  bool ok = point && EC_POINT_oct2point(group, point.get(), internal::Bytes(bits), bits.size(),
                                        nullptr) == 1 &&
            EC_POINT_is_at_infinity(group, point.get()) == 0;
  internal::ClearOsslErrors();
  if (!ok) return Fail("key.ec_point", "EC public key is not a point on the curve (BR 6.1.6)");
  return Ok();
}

// BR 6.1.5: RSA, ECDSA on P-256 or P-384; Ed25519 only where the profile allows it (private
// PKI). The key is checked from its encoding, without OpenSSL's generic key decoder (which
// costs hundreds of microseconds per call in OpenSSL 3.0).
Result<KeyKind> LintKey(const TbsSpec& spec, const LintOptions& options) {
  const std::string& der = spec.subject_public_key_der;
  if (der.empty()) return Fail("key.present", "subject public key is empty");
  Result<internal::SpkiParts> parts = internal::SplitSpki(der);
  if (!parts.ok()) {
    return Fail("key.parse", "subject public key is not a DER SubjectPublicKeyInfo");
  }
  const KnownAlgorithm* known = nullptr;
  for (const KnownAlgorithm& k : kKnownAlgorithms) {
    if (k.der == parts->algorithm_der) known = &k;
  }
  if (known == nullptr) {
    const unsigned char* p = internal::Bytes(parts->algorithm_der);
    internal::X509AlgorPtr alg(
        d2i_X509_ALGOR(nullptr, &p, static_cast<long>(parts->algorithm_der.size())));  // NOLINT
    internal::ClearOsslErrors();
    const ASN1_OBJECT* obj = nullptr;
    if (alg) X509_ALGOR_get0(&obj, nullptr, nullptr, alg.get());
    if (obj != nullptr && OBJ_obj2nid(obj) == NID_X9_62_id_ecPublicKey) {
      return Fail("key.ec_curve", "EC keys must use named curve P-256 or P-384 (BR 6.1.5)");
    }
    return Fail("key.type", "key must be RSA, ECDSA P-256/P-384 or Ed25519 with the "
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
      if (!options.allow_ed25519) {
        return Fail("key.ed25519", "Ed25519 keys are not allowed by this profile (BR 6.1.5)");
      }
      if (parts->key_bits.size() != 32) {
        return Fail("key.parse", "Ed25519 public key must be 32 octets (RFC 8410 section 4)");
      }
      break;
  }
  return known->kind;
}

// RFC 5280 section 4.1.2.5: notBefore <= notAfter, validity inclusive of both ends; BR 6.3.2
// maximum lifetimes come in as options.max_validity. UTCTime starts in 1950.
Status LintValidity(const TbsSpec& spec, const LintOptions& options, const Certificate* issuer) {
  if (spec.not_after <= spec.not_before) {
    return Fail("validity.order", "notAfter must be after notBefore (RFC 5280 4.1.2.5)");
  }
  // (TimePoint's nanosecond ticks end in 2262, well before X.509's 9999 limit.)
  if (spec.not_before < UtcDate(1950, 1, 1)) {
    return Fail("validity.range", "notBefore must not precede 1950 (RFC 5280 4.1.2.5.1)");
  }
  Seconds validity =
      std::chrono::duration_cast<Seconds>(spec.not_after - spec.not_before) + Seconds(1);
  if (options.max_validity.count() > 0 && validity > options.max_validity) {
    return Fail("validity.max", "validity of " + std::to_string(validity.count()) +
                                    " s exceeds the profile maximum of " +
                                    std::to_string(options.max_validity.count()) + " s (BR 6.3.2)");
  }
  if (issuer != nullptr &&
      (spec.not_before < issuer->not_before() || spec.not_after > issuer->not_after())) {
    // A certificate outside its issuer's validity fails path validation (RFC 5280 6.1.3).
    return Fail("validity.issuer", "validity must lie within the issuer's validity "
                                   "(RFC 5280 6.1.3)");
  }
  return Ok();
}

// RFC 5280 sections 4.2.1.3, 4.2.1.9, 4.2.1.12; BR 7.1.2.1 (roots), 7.1.2.10 (CAs) and
// 7.1.2.7 (subscribers).
Status LintUsage(const TbsSpec& spec, KeyKind key, const Certificate* issuer) {
  std::set<ExtendedKeyUsage> ekus(spec.extended_key_usage.begin(), spec.extended_key_usage.end());
  if (ekus.size() != spec.extended_key_usage.size()) {
    return Fail("eku.duplicate", "extendedKeyUsage lists a purpose twice");
  }
  if (spec.path_len.has_value() && (!spec.is_ca || *spec.path_len < 0)) {
    return Fail("ca.path_len", "pathLenConstraint only on CA certificates, >= 0 (RFC 5280 4.2.1.9)");
  }
  if (issuer == nullptr && !spec.is_ca) {
    return Fail("root.is_ca", "a self-signed certificate must be a CA (BR 7.1.2.1)");
  }
  if (spec.is_ca) {
    if (!spec.key_usage.key_cert_sign || !spec.key_usage.crl_sign) {
      return Fail("ca.key_usage", "CA certificates need keyCertSign and cRLSign (BR 7.1.2.10.7)");
    }
    if (issuer == nullptr && !spec.extended_key_usage.empty()) {
      return Fail("root.eku", "root certificates must not carry extendedKeyUsage (BR 7.1.2.1.2)");
    }
    return Ok();
  }
  if (spec.key_usage.key_cert_sign) {
    return Fail("leaf.key_cert_sign", "keyCertSign requires cA (RFC 5280 4.2.1.3)");
  }
  if (!spec.key_usage.digital_signature) {
    return Fail("leaf.digital_signature", "leaf certificates need digitalSignature (BR 7.1.2.7.11)");
  }
  if (spec.key_usage.key_encipherment && key != KeyKind::kRsa) {
    return Fail("leaf.key_encipherment", "keyEncipherment only for RSA keys (BR 7.1.2.7.11)");
  }
  if (spec.extended_key_usage.empty()) {
    return Fail("leaf.eku", "leaf certificates need a non-empty extendedKeyUsage (BR 7.1.2.7.10)");
  }
  return Ok();
}

// BR 7.1.2.11.2: CRL distribution points are HTTP URLs.
Status LintCrlDistributionPoints(const TbsSpec& spec) {
  for (const std::string& uri : spec.crl_distribution_points) {
    bool printable = IsPrintableAscii(uri) && uri.find(' ') == std::string::npos;
    if (!printable || uri.size() > 2048 || uri.rfind("http://", 0) != 0 || uri.size() <= 7) {
      return Fail("crl.uri", "CRL distribution point must be an http:// URL (BR 7.1.2.11.2): " +
                                 QuoteForMessage(uri));
    }
  }
  return Ok();
}

// RFC 5280 section 6.1.4 (k), (m), (n): the issuer is a CA allowed to sign certificates, and
// its pathLenConstraint leaves room for a subordinate CA.
Status LintIssuer(const TbsSpec& spec, const Certificate* issuer) {
  if (issuer == nullptr) return Ok();
  if (!issuer->is_ca() || !issuer->key_usage().key_cert_sign) {
    return Fail("issuer.ca", "issuer must be a CA with keyCertSign (RFC 5280 6.1.4)");
  }
  std::optional<int> issuer_len = issuer->path_len();
  if (spec.is_ca && issuer_len.has_value()) {
    if (*issuer_len == 0) {
      return Fail("issuer.path_len", "issuer's pathLenConstraint 0 forbids subordinate CAs "
                                     "(RFC 5280 4.2.1.9)");
    }
    if (!spec.path_len.has_value() || *spec.path_len >= *issuer_len) {
      return Fail("issuer.path_len", "subordinate pathLenConstraint must be below the issuer's "
                                     "(RFC 5280 4.2.1.9)");
    }
  }
  return Ok();
}

}  // namespace

Result<LintedTbs> Lint(TbsSpec spec, const LintOptions& options, const Certificate* issuer) {
  // X.509 times have whole-second precision; lint (and later compare) what will be encoded.
  spec.not_before = internal::FloorToSeconds(spec.not_before);
  spec.not_after = internal::FloorToSeconds(spec.not_after);
  CF_TRY(LintSerial(spec.serial));
  CF_TRY(LintSubject(spec));
  CF_TRY(LintNames(spec, options));
  CF_ASSIGN_OR_RETURN(KeyKind key, LintKey(spec, options));
  CF_TRY(LintValidity(spec, options, issuer));
  CF_TRY(LintUsage(spec, key, issuer));
  CF_TRY(LintCrlDistributionPoints(spec));
  CF_TRY(LintIssuer(spec, issuer));
  return LintedTbs(std::move(spec));
}

}  // namespace certfleet::x509
