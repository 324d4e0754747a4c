// Certificate revocation lists (RFC 5280 section 5): the reason codes and a CRL builder.
//
// BuildCrl() produces a v2 CRL, DER-encoded, signed by `issuer` with `issuer_key` (ECDSA with
// SHA-256/384, RSA with SHA-256 or Ed25519 per key type, as leaves are signed), carrying the
// CRL number (5.2.3) and the authority key identifier (5.2.1, required by RFC 5280 for
// conforming CAs), with thisUpdate and nextUpdate, and one entry per revoked serial with its
// revocation date and, unless unspecified, its reason code (5.3.1; "unspecified" is omitted as
// RFC 5280 recommends). Returns InvalidArgument for an issuer that is not a CA allowed to sign
// CRLs, a key that is not the issuer's, a non-positive number, nextUpdate not after thisUpdate
// or a malformed serial; Internal for OpenSSL failures. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/key.h"
#include "x509/certificate.h"

namespace certfleet::x509 {

// RFC 5280 5.3.1 CRLReason; the values are the DER enumeration (7 is unused).
enum class RevocationReason {
  kUnspecified = 0,
  kKeyCompromise = 1,
  kCaCompromise = 2,
  kAffiliationChanged = 3,
  kSuperseded = 4,
  kCessationOfOperation = 5,
  kCertificateHold = 6,
  kRemoveFromCrl = 8,
  kPrivilegeWithdrawn = 9,
  kAaCompromise = 10,
};

// Names as RFC 5280 spells them, in kebab case: "key-compromise", "cessation-of-operation".
std::string_view RevocationReasonName(RevocationReason r);
// The reasons an end-entity certificate may be revoked for by its subscriber or administrator:
// all but ca-compromise, aa-compromise, certificate-hold and remove-from-crl (CA-only or
// delta-CRL-only). InvalidArgument listing the accepted names otherwise.
Result<RevocationReason> ParseRevocationReason(std::string_view name);

struct RevokedEntry {
  std::string serial_hex;  // as Certificate::serial_hex()
  TimePoint revoked_at;
  RevocationReason reason = RevocationReason::kUnspecified;
};

struct CrlSpec {
  int64_t number = 0;  // CRL number, strictly increasing per issuer
  TimePoint this_update;
  TimePoint next_update;
  std::vector<RevokedEntry> revoked;
};

Result<std::string> BuildCrl(const CrlSpec& spec, const Certificate& issuer,
                             const crypto::PrivateKey& issuer_key);

}  // namespace certfleet::x509
