// To-be-signed certificate data, the pre-issuance lint, and signing.
//
// Issuance is lint-then-sign by construction (CONVENTIONS.md #6): Sign() accepts only a
// LintedTbs, a move-only token that Lint() alone can create. After signing, the DER that OpenSSL
// produced is parsed back and compared with the linted TbsSpec (serial, names, validity, public
// key, extensions, issuer); on any mismatch Sign() returns Internal and no certificate.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/key.h"
#include "x509/certificate.h"

namespace certfleet::x509 {

struct TbsSpec {
  std::string serial;                // big-endian magnitude; must be positive, at most 20 octets
  std::string subject_common_name;   // for leaves, must be one of dns_names (or empty)
  std::string subject_organization;  // optional
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // textual IPv4/IPv6; private profiles only (API cert)
  TimePoint not_before;
  TimePoint not_after;
  std::string subject_public_key_der;  // SubjectPublicKeyInfo DER
  bool is_ca = false;
  std::optional<int> path_len;  // CA only
  KeyUsage key_usage;
  std::vector<ExtendedKeyUsage> extended_key_usage;
  std::vector<std::string> crl_distribution_points;  // URIs, optional
};

// Limits the lint enforces, chosen by the CA profile.
struct LintOptions {
  // Maximum validity (notAfter - notBefore + 1 s, RFC 5280 inclusive). Zero means no limit.
  Seconds max_validity{0};
  bool require_dns_names = true;  // leaves need at least one SAN
  bool allow_wildcards = true;
  bool allow_ed25519 = false;  // only private profiles may issue Ed25519 leaves
  // Accept https:// CRL distribution points too (a private CA serving its CRL on its TLS
  // listener); BR 7.1.2.11.2 wants http:// for publicly trusted CAs.
  bool allow_https_crl_url = false;
};

class LintedTbs {
 public:
  LintedTbs(LintedTbs&&) noexcept = default;
  LintedTbs& operator=(LintedTbs&&) noexcept = default;
  LintedTbs(const LintedTbs&) = delete;
  LintedTbs& operator=(const LintedTbs&) = delete;
  const TbsSpec& spec() const { return spec_; }

 private:
  explicit LintedTbs(TbsSpec spec) : spec_(std::move(spec)) {}
  TbsSpec spec_;
  friend Result<LintedTbs> Lint(TbsSpec spec, const LintOptions& options,
                                const Certificate* issuer);
};

// Checks, citing the Baseline Requirements (BR) and RFC 5280:
// - serial positive, at most 20 octets once DER-encoded (so 20 magnitude octets only with the
//   top bit clear), at least 8 octets given, i.e. 64 bits of CSPRNG output (BR 7.1);
// - subject CN and O at most 64 characters of UTF-8 without control characters; CAs need a CN;
// - DNS names valid (base/validate.h), no duplicates (case-insensitive), wildcard only in the
//   leftmost label and only if allowed; IP addresses valid, no duplicates; leaves need a SAN if
//   require_dns_names; the CN (if any) is among the SANs (BR 7.1.4.3); a subject that is empty
//   needs a SAN;
// - key, judged from its encoding (no OpenSSL key decoder): AlgorithmIdentifier exactly as
//   BR 7.1.3.1 encodes it; RSA >= 2048 bits, modulus a multiple of 8, exponent odd and >= 3;
//   EC only P-256/P-384 with an uncompressed point on the curve; Ed25519 only if allowed
//   (BR 6.1.5, 6.1.6);
// - validity positive, from 1950, within max_validity; within the issuer's validity if an issuer
//   is given. Times are floored to whole seconds (X.509 precision); spec() holds floored times;
// - CA: keyCertSign+cRLSign, no EKU for roots; pathLenConstraint only on CAs, >= 0, and below the
//   issuer's (an issuer with pathLen 0 cannot sign CAs); leaf: no keyCertSign, digitalSignature
//   set, keyEncipherment only for RSA keys, EKU present, non-empty, without duplicates;
// - CRL distribution points are http:// URLs (BR 7.1.2.11.2);
// - an issuer, if given, must be a CA with keyCertSign.
// `issuer` is null only for a self-signed root (which must then be a CA).
// Returns InvalidArgument whose message starts with "lint <rule>:" naming the rule that failed.
Result<LintedTbs> Lint(TbsSpec spec, const LintOptions& options, const Certificate* issuer);

// Signs linted TBS data with one issuer. Create() decodes and caches what every signature
// reuses (issuer name, authority key id, an initialized signing context, the leaf
// basicConstraints), so the hot path only fills in the per-certificate fields (RECIPES.md: 52 us
// vs 283 us per P-256 leaf). For a self-signed root, pass issuer = nullopt and the root's own key.
// Create() returns InvalidArgument if the issuer is not a CA with keyCertSign or the key is not
// the issuer's.
//
// Sign() builds a v3 certificate with basicConstraints (critical), keyUsage (critical), EKU,
// subjectAltName (critical only with an empty subject), subjectKeyIdentifier (SHA-1 of the key
// bits, RFC 5280 4.2.1.2 method 1), authorityKeyIdentifier and cRLDistributionPoints, and signs
// with ECDSA-SHA256/384, RSA-SHA256 or Ed25519 per issuer key type. It then decodes the DER
// field by field and compares it with the spec (x509/issued_check.h); on any mismatch it returns
// Internal and no certificate. A self-signed spec must certify the signing key (InvalidArgument).
// Thread-safe: Sign() may run concurrently.
class Signer {
 public:
  static Result<Signer> Create(std::optional<Certificate> issuer,
                               std::shared_ptr<const crypto::PrivateKey> issuer_key);
  Result<Certificate> Sign(LintedTbs&& tbs) const;
  const std::optional<Certificate>& issuer() const { return issuer_; }

 private:
  struct Cache;
  Signer(std::optional<Certificate> issuer, std::shared_ptr<const crypto::PrivateKey> key,
         std::shared_ptr<const Cache> cache)
      : issuer_(std::move(issuer)), key_(std::move(key)), cache_(std::move(cache)) {}
  std::optional<Certificate> issuer_;
  std::shared_ptr<const crypto::PrivateKey> key_;
  std::shared_ptr<const Cache> cache_;
};

}  // namespace certfleet::x509
