// X.509 certificates: parsing, inspection, PEM/DER, key matching and chain verification.
// Certificate is an immutable value that shares its parsed X509 (copy is cheap, thread-safe
// for reads).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/key.h"

typedef struct x509_st X509;

namespace certfleet::x509 {

enum class ExtendedKeyUsage { kServerAuth, kClientAuth, kOcspSigning };

// Key usage bits that the CA profiles use (RFC 5280 section 4.2.1.3).
struct KeyUsage {
  bool digital_signature = false;
  bool key_encipherment = false;
  bool key_cert_sign = false;
  bool crl_sign = false;
  bool operator==(const KeyUsage&) const = default;
};

// One X.509 v3 extension as encoded, for extensions certfleet does not model, e.g. RFC 8737's
// id-pe-acmeIdentifier that the ACME server's tls-alpn-01 validation checks.
struct RawExtension {
  std::string oid;  // dotted decimal, e.g. "1.3.6.1.5.5.7.1.31"
  bool critical = false;
  std::string value;  // the contents of extnValue: the DER of the extension's value
};

class Certificate {
 public:
  static Result<Certificate> FromDer(std::string_view der);
  // Exactly one "CERTIFICATE" PEM block.
  static Result<Certificate> FromPem(std::string_view pem);
  // Zero or more concatenated "CERTIFICATE" blocks, in order. Any other PEM block type (notably a
  // private key) is a Malformed error: chains must never carry keys.
  static Result<std::vector<Certificate>> ParsePemChain(std::string_view pem);

  const std::string& der() const { return der_; }
  std::string ToPem() const;

  // Lower-case hex of the positive serial, without leading zero bytes (so always an even number
  // of digits, "0a1b..." rather than "a1b..."); "00" for a (non-conforming) zero serial.
  std::string serial_hex() const;
  std::string serial_bytes() const;  // big-endian magnitude
  TimePoint not_before() const;
  TimePoint not_after() const;
  // RFC 2253-style one-line names, e.g. "CN=certfleet Root CA,O=certfleet".
  std::string subject() const;
  std::string issuer() const;
  std::string subject_der() const;                // DER of the subject Name
  std::string subject_common_name() const;        // empty if none
  std::vector<std::string> dns_names() const;     // SAN dNSName entries in order
  std::vector<std::string> ip_addresses() const;  // SAN iPAddress entries, textual
  // GeneralName entries of every type (dNSName, iPAddress, URI, rfc822Name, ...) in the
  // subjectAltName; 0 when it is absent, duplicated or undecodable (as for dns_names()).
  size_t subject_alt_name_count() const;
  // Every extension, in order, duplicates included.
  std::vector<RawExtension> extensions() const;
  std::string fingerprint_sha256_hex() const;  // lower-case hex of SHA-256 over DER
  // SubjectPublicKeyInfo DER as encoded in the certificate.
  std::string spki_der() const;
  // The subject key as a crypto::PublicKey. Fails (crypto's error) for key types crypto does not
  // support, e.g. RSA-1024 or P-521 in a third-party chain: parsing such a certificate is fine,
  // using its key is not.
  Result<crypto::PublicKey> public_key() const;
  bool is_ca() const;
  std::optional<int> path_len() const;
  KeyUsage key_usage() const;
  std::vector<ExtendedKeyUsage> extended_key_usage() const;
  std::string subject_key_id() const;                        // raw bytes, empty if absent
  std::string authority_key_id() const;                      // raw bytes, empty if absent
  std::vector<std::string> crl_distribution_points() const;  // URIs

  // True if `key` is the private half of this certificate's public key.
  bool MatchesKey(const crypto::PrivateKey& key) const;

  // Borrowed; for src/x509 internals and tests. For a certificate returned by Signer::Sign this is
  // the X509 the signer built (its DER is der()), on which X509_get0_pubkey() is null under
  // OpenSSL 3.0; internals that need the key use X509WithKey() (certificate_internal.h).
  X509* get() const { return x509_.get(); }

 private:
  Certificate(std::shared_ptr<X509> x, std::string der)
      : x509_(std::move(x)), der_(std::move(der)) {}
  std::shared_ptr<X509> x509_;
  std::string der_;
  // src/x509 internals (certificate_internal.h).
  friend Certificate WrapX509(std::shared_ptr<X509> x, std::string der);
  friend std::shared_ptr<X509> X509WithKey(const Certificate& cert);
};

enum class Purpose { kAny, kServerAuth, kClientAuth };

// Verifies leaf -> intermediates -> one of roots at time `at`, with the given purpose.
// Returns Forbidden with OpenSSL's reason ("certificate has expired", ...) on failure.
Status VerifyChain(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                   const std::vector<Certificate>& roots, TimePoint at,
                   Purpose purpose = Purpose::kAny);

std::string ChainToPem(const std::vector<Certificate>& certs);

}  // namespace certfleet::x509
