// PKCS#10 certificate signing requests (RFC 2986): build, parse, verify. A Csr is an immutable
// value; copies share the parsed request and are safe to use from several threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "crypto/key.h"

typedef struct X509_req_st X509_REQ;

namespace certfleet::x509 {

class Csr {
 public:
  // Builds and signs a CSR with subject CN=`common_name` (may be empty) and a SAN extension
  // listing `dns_names` then `ip_addresses` (textual; InvalidArgument unless each is a valid DNS
  // name or IP address; critical when the CN is empty). Signed with ECDSA-SHA256 (P-256),
  // ECDSA-SHA384 (P-384), RSA-SHA256 or Ed25519.
  static Result<Csr> Build(const crypto::PrivateKey& key, std::string_view common_name,
                           const std::vector<std::string>& dns_names,
                           const std::vector<std::string>& ip_addresses = {});
  // Malformed for anything but one DER CertificationRequest whose key crypto supports. Does not
  // check the signature: call VerifySignature().
  static Result<Csr> FromDer(std::string_view der);
  // Exactly one "CERTIFICATE REQUEST" (or legacy "NEW CERTIFICATE REQUEST") PEM block.
  static Result<Csr> FromPem(std::string_view pem);

  const std::string& der() const { return der_; }
  std::string ToPem() const;
  // Malformed if the self-signature does not verify.
  Status VerifySignature() const;
  const crypto::PublicKey& public_key() const { return public_key_; }
  const std::string& common_name() const { return common_name_; }
  // Requested subjectAltName dNSName entries in order.
  const std::vector<std::string>& dns_names() const { return dns_names_; }
  // Requested subjectAltName iPAddress entries in order, as canonical text (RFC 5952 for IPv6).
  // Other SAN types are ignored.
  const std::vector<std::string>& ip_addresses() const { return ip_addresses_; }

 private:
  Csr(std::shared_ptr<X509_REQ> req, std::string der, crypto::PublicKey pub, std::string cn,
      std::vector<std::string> names, std::vector<std::string> ips)
      : req_(std::move(req)),
        der_(std::move(der)),
        public_key_(std::move(pub)),
        common_name_(std::move(cn)),
        dns_names_(std::move(names)),
        ip_addresses_(std::move(ips)) {}
  // Kept so VerifySignature() does not parse again (each parse runs OpenSSL 3.0's key decoder).
  std::shared_ptr<X509_REQ> req_;
  std::string der_;
  crypto::PublicKey public_key_;
  std::string common_name_;
  std::vector<std::string> dns_names_;
  std::vector<std::string> ip_addresses_;
};

}  // namespace certfleet::x509
