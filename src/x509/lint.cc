// Pre-issuance lint (CONVENTIONS.md #6): the only producer of LintedTbs. Every failure is an
// InvalidArgument whose message starts with "lint <rule>:" so that operators and tests can tell
// which rule fired. Rules cite the CA/Browser Forum Baseline Requirements (BR) and RFC 5280.
#include <algorithm>
#include <cctype>
#include <set>

#include "base/time_util.h"
#include "base/validate.h"
#include "x509/asn1_util.h"
#include "x509/lint_key.h"
#include "x509/ossl.h"
#include "x509/tbs.h"

namespace certfleet::x509 {
namespace {

using internal::Fail;
using internal::KeyKind;

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
    return Fail("serial.length",
                "serial must encode in at most 20 octets (RFC 5280 4.1.2.2), got " +
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
    return Fail("subject.ca_common_name",
                "CA certificates need a subject commonName (BR 7.1.2.10.2)");
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
    return Fail("validity.issuer",
                "validity must lie within the issuer's validity "
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
    return Fail("ca.path_len",
                "pathLenConstraint only on CA certificates, >= 0 (RFC 5280 4.2.1.9)");
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
    return Fail("leaf.digital_signature",
                "leaf certificates need digitalSignature (BR 7.1.2.7.11)");
  }
  if (spec.key_usage.key_encipherment && key != KeyKind::kRsa) {
    return Fail("leaf.key_encipherment", "keyEncipherment only for RSA keys (BR 7.1.2.7.11)");
  }
  if (spec.extended_key_usage.empty()) {
    return Fail("leaf.eku", "leaf certificates need a non-empty extendedKeyUsage (BR 7.1.2.7.10)");
  }
  return Ok();
}

// BR 7.1.2.11.2: CRL distribution points are HTTP URLs. A private CA may choose HTTPS
// (LintOptions::allow_https_crl_url) when its CRL is served on its TLS listener only.
Status LintCrlDistributionPoints(const TbsSpec& spec, const LintOptions& options) {
  for (const std::string& uri : spec.crl_distribution_points) {
    bool printable = IsPrintableAscii(uri) && uri.find(' ') == std::string::npos;
    bool http = uri.rfind("http://", 0) == 0 && uri.size() > 7;
    bool https = options.allow_https_crl_url && uri.rfind("https://", 0) == 0 && uri.size() > 8;
    if (!printable || uri.size() > 2048 || !(http || https)) {
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
      return Fail("issuer.path_len",
                  "issuer's pathLenConstraint 0 forbids subordinate CAs "
                  "(RFC 5280 4.2.1.9)");
    }
    if (!spec.path_len.has_value() || *spec.path_len >= *issuer_len) {
      return Fail("issuer.path_len",
                  "subordinate pathLenConstraint must be below the issuer's "
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
  CF_ASSIGN_OR_RETURN(KeyKind key,
                      internal::LintSubjectKey(spec.subject_public_key_der, options.allow_ed25519));
  CF_TRY(LintValidity(spec, options, issuer));
  CF_TRY(LintUsage(spec, key, issuer));
  CF_TRY(LintCrlDistributionPoints(spec, options));
  CF_TRY(LintIssuer(spec, issuer));
  return LintedTbs(std::move(spec));
}

}  // namespace certfleet::x509
