// The seam between the ACME server's order and authorization core (src/acme/server) and the
// certificate inventory (src/lifecycle), issue #16. The core owns the protocol's state machines;
// the inventory side owns what an ACME client obtains: the account policy and domain claims
// checked at newOrder, the certificate record, its version, events and audit record written at
// finalize, revocations, and the durable job that runs a validation.
//
// Implemented by lifecycle::AcmeServerIssuance; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "model/model.h"
#include "store/acme_server.h"
#include "store/store.h"
#include "x509/certificate.h"
#include "x509/csr.h"

namespace certfleet::acme::server {

// Who an ACME account acts as: the certfleet account, principal and tags of its binding.
struct Binding {
  std::string acme_account_id;
  std::string account_id;
  std::string principal_id;
  model::Tags tags;
};

// The suggested renewal window of an ARI certificate id (RFC 9773 section 4.2).
struct RenewalWindow {
  TimePoint start;
  TimePoint end;
};

class Issuance {
 public:
  virtual ~Issuance() = default;

  // May `b` order certificates for `identifiers` (DNS names, "*." kept on wildcards, or IP
  // addresses in canonical text, refused unless the profile allows them) under
  // `profile`? The account's domain claims and policy (wildcards included), read-only. Errors are
  // AcmeError: rejectedIdentifier (with one subproblem per refused identifier), unauthorized.
  virtual Status CheckOrder(const Binding& b,
                            const std::vector<store::AcmeServerIdentifier>& identifiers,
                            const std::string& profile) = 0;

  // Whether the server configuration lets `identifier` be authorized without a challenge for
  // this binding (a test and private-network option, documented: a domain claim of the account
  // covers it).
  virtual bool AuthorizedWithoutChallenge(const Binding& b,
                                          const store::AcmeServerIdentifier& identifier) = 0;

  // Issues the certificate of `order` (status "processing") for `csr`, whose names the core has
  // checked against the order, and in one transaction records it in the inventory (a new
  // certificate, or a new version of the certificate it renews: the same account and names, or
  // the certificate `order.replaces` names) and stores the order as valid with certificate_id
  // and version_id. Returns the stored order. badCSR for a key the account policy refuses.
  virtual Result<store::AcmeServerOrder> Finalize(const Binding& b,
                                                  const store::AcmeServerOrder& order,
                                                  const x509::Csr& csr) = 0;

  // The PEM chain (leaf first, then the issuing chain) of a valid order's certificate version.
  virtual Result<std::string> CertificateChain(const store::AcmeServerOrder& order) = 0;

  // Revokes `leaf`, which must have been issued by this server: `b` is the requesting account's
  // binding (revocation by account key: the certificate must be in its certfleet account), or
  // nullopt when the request was signed with the certificate's own key. `reason` is an RFC 5280
  // code the core has checked. Errors: malformed (not ours), unauthorized, alreadyRevoked.
  virtual Status Revoke(const std::optional<Binding>& b, const x509::Certificate& leaf,
                        int reason) = 0;

  // ARI: the window for the certificate with RFC 9773 id `cert_id`; NotFound if unknown.
  virtual Result<RenewalWindow> RenewalInfo(const std::string& cert_id) = 0;

  // Appends the audit record of an ACME change (`action` such as "acme.account.create") made by
  // `b` to `resource`, inside `tx`, so it commits with the change.
  virtual Status Audit(store::Tx& tx, const Binding& b, const std::string& action,
                       const std::string& resource) = 0;

  // Queues, in `tx`, the durable job that runs Server::RunValidation(challenge_id).
  virtual Status EnqueueValidation(store::Tx& tx, const std::string& account_id,
                                   const std::string& challenge_id) = 0;
  // Called once the transaction that queued a validation committed: run it now rather than at
  // the job loop's next idle poll.
  virtual void ValidationQueued() {}
};

}  // namespace certfleet::acme::server
