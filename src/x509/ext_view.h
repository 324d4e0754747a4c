// Readers for the X.509 v3 extensions certfleet models, over a plain extension list. Certificate's
// accessors use them on its parsed X509; the post-signing check uses them on extensions decoded
// independently from the issued DER. Internal to src/x509. Pure functions; thread-safe.
//
// Each reader treats an absent, duplicated or undecodable extension as absent (RFC 5280
// section 4.2: an extension appears at most once).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "x509/certificate.h"
#include "x509/ossl.h"

namespace certfleet::x509::internal {

using Extensions = STACK_OF(X509_EXTENSION);

// Raw values of the subjectAltName entries of `gen_type` (GEN_DNS: IA5 text; GEN_IPADD: 4 or 16
// octets), in order.
std::vector<std::string> SubjectAltNames(const Extensions* exts, int gen_type);
// The number of subjectAltName entries of every type.
size_t SubjectAltNameCount(const Extensions* exts);
struct BasicConstraintsView {
  bool ca = false;
  std::optional<int> path_len;  // only when ca
};
BasicConstraintsView GetBasicConstraints(const Extensions* exts);
KeyUsage GetKeyUsage(const Extensions* exts);
// Purposes certfleet does not model are skipped.
std::vector<ExtendedKeyUsage> GetExtendedKeyUsage(const Extensions* exts);
std::string GetSubjectKeyId(const Extensions* exts);    // empty if absent
std::string GetAuthorityKeyId(const Extensions* exts);  // keyIdentifier; empty if absent
// URIs of fullName distribution points.
std::vector<std::string> GetCrlDistributionPoints(const Extensions* exts);
// True if `nid` occurs exactly once, with the given criticality.
bool HasExtension(const Extensions* exts, int nid, bool critical);

}  // namespace certfleet::x509::internal
