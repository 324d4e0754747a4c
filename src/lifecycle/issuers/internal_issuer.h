// The internal CA as an Issuer: issues synchronously, never pending, and publishes a CRL.
#pragma once

#include <string>

#include "ca/authority.h"
#include "lifecycle/issuer.h"

namespace certfleet::lifecycle {

inline constexpr char kInternalIssuerName[] = "internal";

class InternalIssuer final : public Issuer, public CrlPublisher {
 public:
  // `ca` is borrowed and must outlive this object.
  explicit InternalIssuer(ca::CertificateAuthority& ca) : ca_(ca) {}
  const std::string& name() const override { return name_; }
  Result<IssueOutcome> Issue(const IssueInput& input, const std::string& idempotency_key) override;
  // The issuing intermediate's CRL (ca::CertificateAuthority::CurrentCrl).
  Result<std::string> CurrentCrl() override { return ca_.CurrentCrl(); }

 private:
  ca::CertificateAuthority& ca_;
  std::string name_ = kInternalIssuerName;
};

}  // namespace certfleet::lifecycle
