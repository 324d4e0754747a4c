// The inventory side of certfleet's ACME server (issue #16): acme::server::Issuance over the
// internal CA, the account policies and domain claims, and CertificateService::RecordExternal.
//
// - newOrder: the binding's principal must still exist, be enabled and may request certificates
//   in its account; every identifier must be covered by the account's domain claims and allowed
//   by its policy (wildcards included); the profile by the policy. Refusals are
//   rejectedIdentifier (one subproblem per identifier) or unauthorized.
// - finalize: the CSR's key type must be one the policy allows (badCSR otherwise). The internal
//   CA signs; the certificate is recorded under a name derived from the profile and the sorted
//   identifiers ("acme-<16 hex>"), so a client's renewal of the same names joins the same
//   certificate record, as does an order whose `replaces` names one of its versions. Its issuer
//   reads "acme-server", it is not exportable, and the renewal scheduler leaves it alone.
// - revocation: one version (not the whole record, whose newer versions may be in use) is
//   listed in the CRL; when it is the current version the certificate becomes revoked.
//   certificate.revoked is emitted either way.
// - every change is audited in its own transaction (source "acme"): account creation, update,
//   key change and deactivation, issuance (the certificate's record) and revocation;
// - validations run as durable jobs of type kAcmeValidationJob (RegisterAcmeValidationJob), so a
//   replica that dies mid-validation loses nothing: another takes the job over.
//
// Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "acme/server/issuance.h"
#include "acme/server/server.h"
#include "audit/audit_log.h"
#include "ca/authority.h"
#include "jobs/engine.h"
#include "lifecycle/certificate_service.h"
#include "store/store.h"

namespace certfleet::lifecycle {

inline constexpr std::string_view kAcmeValidationJob = "acme.validate";

struct AcmeServerIssuanceOptions {
  // Authorize an identifier without a challenge when a domain claim of the ordering account
  // covers it (server configuration [acme_server] authorize_claimed_domains; tests and private
  // networks only).
  bool authorize_claimed_without_challenge = false;
};

class AcmeServerIssuance final : public acme::server::Issuance {
 public:
  // Every reference is borrowed and must outlive this object.
  AcmeServerIssuance(store::Store& store, const Clock& clock, Random& random,
                     ca::CertificateAuthority& ca, CertificateService& certificates,
                     jobs::JobEngine& engine, audit::AuditLog& audit,
                     AcmeServerIssuanceOptions options = {})
      : store_(store),
        clock_(clock),
        random_(random),
        audit_(audit),
        ca_(ca),
        certificates_(certificates),
        engine_(engine),
        options_(options) {}

  Status CheckOrder(const acme::server::Binding& b,
                    const std::vector<store::AcmeServerIdentifier>& identifiers,
                    const std::string& profile) override;
  bool AuthorizedWithoutChallenge(const acme::server::Binding& b,
                                  const store::AcmeServerIdentifier& identifier) override;
  Result<store::AcmeServerOrder> Finalize(const acme::server::Binding& b,
                                          const store::AcmeServerOrder& order,
                                          const x509::Csr& csr) override;
  Result<std::string> CertificateChain(const store::AcmeServerOrder& order) override;
  Status Revoke(const std::optional<acme::server::Binding>& b, const x509::Certificate& leaf,
                int reason) override;
  Result<acme::server::RenewalWindow> RenewalInfo(const std::string& cert_id) override;
  Status Audit(store::Tx& tx, const acme::server::Binding& b, const std::string& action,
               const std::string& resource) override;
  Status EnqueueValidation(store::Tx& tx, const std::string& account_id,
                           const std::string& challenge_id) override;
  void ValidationQueued() override { engine_.Wake(); }

 private:
  // The principal the binding acts as, checked (exists, enabled, same account).
  Result<model::Principal> LoadPrincipal(store::Tx& tx, const acme::server::Binding& b);

  store::Store& store_;
  const Clock& clock_;
  Random& random_;
  audit::AuditLog& audit_;
  ca::CertificateAuthority& ca_;
  CertificateService& certificates_;
  jobs::JobEngine& engine_;
  AcmeServerIssuanceOptions options_;
};

// Registers the kAcmeValidationJob step with `engine`: it runs server.RunValidation(challenge).
void RegisterAcmeValidationJob(jobs::JobEngine& engine, acme::server::AcmeServer& server);

}  // namespace certfleet::lifecycle
