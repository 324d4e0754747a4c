#include "x509/issued_check.h"

#include <openssl/objects.h>

#include "base/time_util.h"
#include "x509/asn1_util.h"
#include "x509/ext_view.h"
#include "x509/ossl.h"

namespace certfleet::x509::internal {
namespace {

Error Mismatch(std::string_view field) {
  // Internal: our encoder (or OpenSSL) did not produce what was linted. The certificate must
  // not leave the signer.
  return Internal("issued certificate does not match the linted TBS: " + std::string(field));
}

// d2i over one complete TLV; null unless it consumed exactly `tlv`.
template <typename T, auto Free, typename D2i>
OsslPtr<T, Free> DecodeExactly(std::string_view tlv, D2i d2i) {
  const unsigned char* p = Bytes(tlv);
  OsslPtr<T, Free> out(d2i(nullptr, &p, static_cast<long>(tlv.size())));  // NOLINT
  if (out && p != Bytes(tlv) + tlv.size()) out.reset();
  ClearOsslErrors();
  return out;
}

int AlgorithmNid(std::string_view tlv) {
  auto alg = DecodeExactly<X509_ALGOR, X509_ALGOR_free>(tlv, d2i_X509_ALGOR);
  if (!alg) return NID_undef;
  const ASN1_OBJECT* obj = nullptr;
  X509_ALGOR_get0(&obj, nullptr, nullptr, alg.get());
  return OBJ_obj2nid(obj);
}

// RFC 5280 section 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
bool TimeMatches(std::string_view tlv, TimePoint want) {
  auto t = DecodeExactly<ASN1_TIME, ASN1_TIME_free>(tlv, d2i_ASN1_TIME);
  if (!t) return false;
  int want_type = want < UtcDate(2050, 1, 1) ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME;
  return ASN1_STRING_type(t.get()) == want_type &&
         Asn1TimeToTimePoint(t.get()) == FloorToSeconds(want);
}

Status CheckExtensions(const Extensions* exts, const TbsSpec& spec,
                       const IssuerExpectations& expected) {
  bool has_san = !spec.dns_names.empty() || !spec.ip_addresses.empty();
  bool san_critical = spec.subject_common_name.empty() && spec.subject_organization.empty();
  int count = 4 + (spec.extended_key_usage.empty() ? 0 : 1) + (has_san ? 1 : 0) +
              (spec.crl_distribution_points.empty() ? 0 : 1);
  if (sk_X509_EXTENSION_num(exts) != count || !HasExtension(exts, NID_basic_constraints, true) ||
      !HasExtension(exts, NID_key_usage, true) ||
      !HasExtension(exts, NID_subject_key_identifier, false) ||
      !HasExtension(exts, NID_authority_key_identifier, false) ||
      (has_san && !HasExtension(exts, NID_subject_alt_name, san_critical)) ||
      (!spec.extended_key_usage.empty() && !HasExtension(exts, NID_ext_key_usage, false)) ||
      (!spec.crl_distribution_points.empty() &&
       !HasExtension(exts, NID_crl_distribution_points, false))) {
    return Mismatch("extension set");
  }
  BasicConstraintsView bc = GetBasicConstraints(exts);
  if (bc.ca != spec.is_ca) return Mismatch("basicConstraints cA");
  if (bc.path_len != (spec.is_ca ? spec.path_len : std::nullopt)) {
    return Mismatch("basicConstraints pathLenConstraint");
  }
  if (!(GetKeyUsage(exts) == spec.key_usage)) return Mismatch("keyUsage");
  if (GetExtendedKeyUsage(exts) != spec.extended_key_usage) return Mismatch("extendedKeyUsage");
  if (SubjectAltNames(exts, GEN_DNS) != spec.dns_names) {
    return Mismatch("subjectAltName dNSName");
  }
  std::vector<std::string> ips = SubjectAltNames(exts, GEN_IPADD);
  if (ips.size() != spec.ip_addresses.size()) return Mismatch("subjectAltName iPAddress");
  for (size_t i = 0; i < ips.size(); ++i) {
    if (ParseIpAddress(spec.ip_addresses[i]) != ips[i]) {
      return Mismatch("subjectAltName iPAddress");
    }
  }
  if (GetCrlDistributionPoints(exts) != spec.crl_distribution_points) {
    return Mismatch("cRLDistributionPoints");
  }
  Result<SpkiParts> parts = SplitSpki(spec.subject_public_key_der);
  if (!parts.ok() || GetSubjectKeyId(exts) != KeyIdentifier(parts->key_bits, EVP_sha1())) {
    return Mismatch("subjectKeyIdentifier");
  }
  if (GetAuthorityKeyId(exts) != expected.authority_key_id) {
    return Mismatch("authorityKeyIdentifier");
  }
  return Ok();
}

}  // namespace

Status CheckIssuedMatchesSpec(std::string_view der, const TbsSpec& spec,
                              const IssuerExpectations& expected) {
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
  std::string_view tlv, content, cert, tbs, outer_alg, sig;
  DerReader top(der);
  if (!top.Read(0x30, &tlv, &cert) || !top.empty()) return Mismatch("Certificate framing");
  DerReader c(cert);
  if (!c.Read(0x30, &tlv, &tbs) || !c.Read(0x30, &outer_alg, &content) ||
      !c.Read(0x03, &tlv, &sig) || !c.empty()) {
    return Mismatch("Certificate framing");
  }
  // TBSCertificate ::= SEQUENCE { [0] version, serialNumber, signature, issuer, validity,
  //   subject, subjectPublicKeyInfo, [1] issuerUniqueID, [2] subjectUniqueID, [3] extensions }
  DerReader t(tbs);
  std::string_view version, serial, inner_alg, issuer, validity, subject, spki, exts;
  if (!t.Read(0xa0, &tlv, &version) || version != std::string_view("\x02\x01\x02", 3)) {
    return Mismatch("version");
  }
  if (!t.Read(0x02, &serial, &content)) return Mismatch("serial");
  auto serial_int = DecodeExactly<ASN1_INTEGER, ASN1_INTEGER_free>(serial, d2i_ASN1_INTEGER);
  if (!serial_int || ASN1_STRING_type(serial_int.get()) != V_ASN1_INTEGER ||
      IntegerMagnitude(serial_int.get()) != StripLeadingZeros(spec.serial)) {
    return Mismatch("serial");
  }
  // RFC 5280 section 4.1.1.2: the inner signature field equals signatureAlgorithm.
  if (!t.Read(0x30, &inner_alg, &content) || inner_alg != outer_alg ||
      AlgorithmNid(inner_alg) != expected.signature_nid) {
    return Mismatch("signatureAlgorithm");
  }
  if (!t.Read(0x30, &issuer, &content) || issuer != expected.issuer_name_der) {
    return Mismatch("issuer");
  }
  std::string_view not_before, not_after;
  if (!t.Read(0x30, &tlv, &validity)) return Mismatch("validity");
  DerReader v(validity);
  auto read_time = [&v, &content](std::string_view* out) {
    return v.Read(0x17, out, &content) || v.Read(0x18, out, &content);
  };
  if (!read_time(&not_before) || !TimeMatches(not_before, spec.not_before)) {
    return Mismatch("notBefore");
  }
  if (!read_time(&not_after) || !v.empty() || !TimeMatches(not_after, spec.not_after)) {
    return Mismatch("notAfter");
  }
  if (!t.Read(0x30, &subject, &content)) return Mismatch("subject");
  auto name = DecodeExactly<X509_NAME, X509_NAME_free>(subject, d2i_X509_NAME);
  int entries =
      (spec.subject_common_name.empty() ? 0 : 1) + (spec.subject_organization.empty() ? 0 : 1);
  if (!name || X509_NAME_entry_count(name.get()) != entries ||
      NameEntry(name.get(), NID_commonName) != spec.subject_common_name ||
      NameEntry(name.get(), NID_organizationName) != spec.subject_organization) {
    return Mismatch("subject");
  }
  if (!t.Read(0x30, &spki, &content) || spki != spec.subject_public_key_der) {
    return Mismatch("subjectPublicKeyInfo");
  }
  if (!t.Read(0xa3, &tlv, &exts) || !t.empty()) return Mismatch("extension set");
  auto ext_stack = DecodeExactly<Extensions, FreeExtensionStack>(exts, d2i_X509_EXTENSIONS);
  if (!ext_stack) return Mismatch("extension set");
  return CheckExtensions(ext_stack.get(), spec, expected);
}

}  // namespace certfleet::x509::internal
