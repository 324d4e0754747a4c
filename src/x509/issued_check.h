// The post-signing check (tbs.h): decodes the DER that OpenSSL produced, field by field and
// independently of the X509 object that was signed, and compares it with the linted TbsSpec.
// Internal to src/x509; exposed so tests can prove that each compared field fires on a mismatch.
//
// It does not build an X509 from the DER: under OpenSSL 3.0 that decodes the subject key
// through the OSSL_DECODER path, which costs several times the whole signature
// (RECIPES.md: about 150 us). The components are decoded with OpenSSL's d2i functions for
// INTEGER, AlgorithmIdentifier, Name, Time and Extensions; the outer framing with DerReader;
// the SubjectPublicKeyInfo and issuer Name are compared byte for byte.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "x509/tbs.h"

namespace certfleet::x509::internal {

// What the issuer side contributes, fixed per Signer.
struct IssuerExpectations {
  std::string issuer_name_der;   // DER of the expected issuer Name
  std::string authority_key_id;  // expected authorityKeyIdentifier keyIdentifier
  int signature_nid = 0;         // expected signatureAlgorithm (OpenSSL NID)
};

// Ok() if `der` is one DER Certificate (RFC 5280 section 4.1) that encodes exactly `spec`:
// version 3, serial, signature algorithm (same inside and outside the TBS), issuer, validity
// (UTCTime before 2050, GeneralizedTime from 2050), subject CN/O, SubjectPublicKeyInfo bytes, no
// unique identifiers, and exactly the extensions Sign() adds with their criticality and values
// (basic constraints, key usage, EKU, SANs, SKID, AKID, CRL DPs). Otherwise Internal naming the
// first differing field.
Status CheckIssuedMatchesSpec(std::string_view der, const TbsSpec& spec,
                              const IssuerExpectations& expected);

}  // namespace certfleet::x509::internal
