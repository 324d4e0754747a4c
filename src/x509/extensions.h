// Builders for the X.509 v3 extensions certfleet issues, encoded straight from OpenSSL's
// extension structures (no X509V3_EXT_nconf string parsing, which RECIPES.md measured as the
// slow path). Criticality follows RFC 5280 section 4.2 and BR 7.1.2. Internal to src/x509.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "x509/certificate.h"
#include "x509/ossl.h"

namespace certfleet::x509::internal {

int EkuNid(ExtendedKeyUsage eku);

// Where a built extension goes. Bound to a certificate, Put() appends it with
// X509_add1_ext_i2d (encoded once, never copied); unbound, it keeps the extension for Take()
// (cached extensions, CSR extension requests).
class ExtensionSink {
 public:
  ExtensionSink() = default;
  explicit ExtensionSink(X509* target) : target_(target) {}
  Status Put(int nid, bool critical, void* value);
  X509ExtensionPtr Take() { return std::move(kept_); }

 private:
  X509* target_ = nullptr;
  X509ExtensionPtr kept_;
};

// Critical. cA is omitted (DEFAULT FALSE) for leaves; pathLenConstraint only for CAs.
Status BasicConstraintsExtension(ExtensionSink& sink, bool ca, std::optional<int> path_len);
// Critical (BR 7.1.2.7.11, 7.1.2.10.7).
Status KeyUsageExtension(ExtensionSink& sink, const KeyUsage& ku);
// Non-critical (BR 7.1.2.7.10).
Status ExtendedKeyUsageExtension(ExtensionSink& sink, const std::vector<ExtendedKeyUsage>& ekus);
// Critical only when the subject is empty (RFC 5280 section 4.2.1.6). `ip_octets` are 4- or
// 16-octet network-order addresses.
Status SubjectAltNameExtension(ExtensionSink& sink, const std::vector<std::string>& dns_names,
                               const std::vector<std::string>& ip_octets, bool critical);
// Non-critical (RFC 5280 sections 4.2.1.1, 4.2.1.2).
Status SubjectKeyIdExtension(ExtensionSink& sink, std::string_view key_id);
Status AuthorityKeyIdExtension(ExtensionSink& sink, std::string_view key_id);
// Non-critical; one DistributionPoint per URI, each with a fullName (BR 7.1.2.11.2).
Status CrlDistributionPointsExtension(ExtensionSink& sink, const std::vector<std::string>& uris);

}  // namespace certfleet::x509::internal
