// PKCS#10 certificate signing requests: build, parse, verify.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "crypto/key.h"

namespace certfleet::x509 {

class Csr {
 public:
  // Builds and signs a CSR with subject CN=`common_name` (may be empty) and a SAN extension
  // listing `dns_names`.
  static Result<Csr> Build(const crypto::PrivateKey& key, std::string_view common_name,
                           const std::vector<std::string>& dns_names);
  static Result<Csr> FromDer(std::string_view der);
  static Result<Csr> FromPem(std::string_view pem);

  const std::string& der() const { return der_; }
  std::string ToPem() const;
  // Malformed if the self-signature does not verify.
  Status VerifySignature() const;
  const crypto::PublicKey& public_key() const { return public_key_; }
  const std::string& common_name() const { return common_name_; }
  const std::vector<std::string>& dns_names() const { return dns_names_; }

 private:
  Csr(std::string der, crypto::PublicKey pub, std::string cn, std::vector<std::string> names)
      : der_(std::move(der)), public_key_(std::move(pub)), common_name_(std::move(cn)),
        dns_names_(std::move(names)) {}
  std::string der_;
  crypto::PublicKey public_key_;
  std::string common_name_;
  std::vector<std::string> dns_names_;
};

}  // namespace certfleet::x509
