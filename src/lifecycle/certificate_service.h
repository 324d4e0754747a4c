// CertificateService: request, issue and look up certificates (docs/architecture.md flow 1).
//
// Events (issue #5, src/events): certificate.issued, .renewed, .renewal_failed and .revoked are
// appended to the outbox in the transaction of the change they report.
//
// Request() validates everything first (names, domains, key type, profile, validity, tags), then
// generates the key, asks the issuer, seals the key and stores certificate, sealed key and version
// in one transaction. Nothing is written for a request that fails validation. A crash before the
// final commit leaves only a reserved serial behind; the request can simply be repeated.
// Thread-safe; Request() may block for RSA key generation (call it off event-loop threads).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "jobs/engine.h"
#include "lifecycle/caller.h"
#include "lifecycle/issuer.h"
#include "lifecycle/renewal_plan.h"
#include "model/model.h"
#include "secrets/secret_store.h"
#include "store/store.h"
#include "x509/certificate.h"
#include "x509/crl.h"

namespace certfleet::lifecycle {

struct CertificateRequest {
  std::string name;
  std::vector<std::string> domains;
  std::string key_type = "p256";
  std::string profile = "tls-server";
  bool exportable = false;
  model::Tags tags;
  std::optional<Seconds> validity;
  std::optional<Seconds> renew_before;
  std::string issuer = "internal";
};

struct RenewOptions {
  // Keep the current version's private key instead of generating a new one. A new key is the
  // default: a renewal then also limits the damage of an undetected key compromise.
  bool reuse_key = false;
};

// A certificate with its current version, if any.
struct CertificateView {
  model::Certificate certificate;
  std::optional<model::CertificateVersion> version;
};

// One page of CertificateService::List.
struct CertificatePage {
  std::vector<CertificateView> items;
  // True when more certificates match after the last item: the listing is never cut silently.
  bool more = false;
};

// The outcome of a revocation: the certificate (now revoked) and the versions it revoked.
struct RevocationView {
  CertificateView view;
  std::vector<model::Revocation> revoked;
};

inline constexpr size_t kMaxDomains = 100;

// The issuer name of certificates certfleet's ACME server issued (issue #16): their keys stay
// with the ACME client, so they are not exportable, not deployable and renewed by that client.
inline constexpr std::string_view kAcmeServerIssuer = "acme-server";

// A certificate version whose private key certfleet never held (RecordExternal).
struct ExternalVersion {
  std::string name;  // a new certificate's name
  std::vector<std::string> domains;
  std::string key_type;  // crypto::KeyTypeName of the leaf's key
  std::string profile;
  std::string issuer;  // e.g. kAcmeServerIssuer
  model::Tags tags;
  x509::Certificate leaf;
  std::string leaf_pem;
  std::string chain_pem;
  std::string issuer_ca_id;
};

// The durable job that issues a certificate requested from an asynchronous issuer (ACME).
inline constexpr std::string_view kIssueJobType = "certificate.issue";

class CertificateService {
 public:
  CertificateService(store::Store& store, secrets::SecretStore& secrets,
                     const IssuerRegistry& issuers, const Clock& clock, Random& random)
      : store_(store), secrets_(secrets), issuers_(issuers), clock_(clock), random_(random) {}

  // Plans the renewal of each certificate it issues in the issuing transaction (renewal_plan.h)
  // with `options`, so that the scheduler's first tick over a large store has nothing left to
  // plan one by one (issue #14). certfleetd passes its scheduler's options. Off by default: the
  // scheduler then plans every new version at its next tick. Call before serving.
  void PlanRenewalsAtCommit(RenewalPlanOptions options) { plan_at_commit_ = options; }

  // Lets Request() take asynchronous issuers (ACME): registers the kIssueJobType step with
  // `engine` (borrowed; must outlive this service). Call before the engine runs.
  void EnableAsyncIssuance(jobs::JobEngine& engine);

  // InvalidArgument for bad input (message names the field), Forbidden naming the policy rule
  // that denied, Conflict if the name is taken in the caller's account.
  // `request.issuer` is "internal" or the name of an ACME issuer of the caller's account. With an
  // asynchronous issuer the certificate is stored `pending` with its key sealed and a durable
  // kIssueJobType job enqueued in the same transaction; the job's steps show in status_detail,
  // and it ends `issued` (certificate.issued) or `failed` with the CA's problem
  // (certificate.issue_failed).
  Result<CertificateView> Request(const Caller& caller, const CertificateRequest& request);
  // Records `e` in the inventory (issue #16): as a new version of the certificate named `e.name`
  // in the caller's account when there is one (certificate.renewed), otherwise as a new
  // certificate of that name, not exportable (certificate.issued). The version holds no sealed
  // key, and the renewal scheduler leaves it alone: the key's holder renews it. `in_tx` runs in
  // the same transaction before the commit (the ACME order becomes valid with it).
  // FailedPrecondition if the named certificate is revoked, or belongs to another issuer.
  Result<CertificateView> RecordExternal(
      const Caller& caller, const ExternalVersion& e,
      const std::function<Status(store::Tx&, const CertificateView&)>& in_tx);
  // NotFound for unknown ids and for certificates of other accounts.
  Result<CertificateView> Get(const Caller& caller, const std::string& id);
  // One page of the certificates matching `filter`, in filter.sort order: at most filter.limit
  // items, and `more` when others follow. filter.account_id defaults to the caller's account; any
  // other account must already have been authorized for the caller (api's TargetAccount).
  // InvalidArgument as CertificateRepo::List.
  Result<CertificatePage> List(const Caller& caller, store::CertificateFilter filter);
  // Issues a new version through the certificate's issuer (same names, profile, key type and
  // requested validity; the account policy is checked again) and makes it current. Older versions
  // are kept: they stay valid until they expire, so targets not yet redeployed keep working.
  // NotFound as Get(); FailedPrecondition unless the certificate is issued (pending, failed,
  // revoked); Conflict if another renewal made a new version meanwhile. When the issuer fails,
  // status_detail records the failure (the status stays issued: the current version is still
  // good) and the issuer's error is returned.
  Result<CertificateView> Renew(const Caller& caller, const std::string& id,
                                const RenewOptions& options = {});
  // Revokes every version of the certificate that has not expired yet (a renewed certificate's
  // older versions share its names, and with key reuse its key) and marks the certificate
  // revoked, in one transaction: status, status_detail and one store::RevocationRepo row per
  // version with `reason` and the time. The issuing CA lists them in its next CRL. Renewal stops
  // for a revoked certificate. NotFound as Get(); Conflict if it is revoked already;
  // FailedPrecondition if it was never issued. For an ACME certificate the CA is asked to revoke
  // first (revokeCert); when it refuses, nothing changes and its error is returned.
  Result<RevocationView> Revoke(const Caller& caller, const std::string& id,
                                x509::RevocationReason reason);
  // The CRL of issuer `issuer_name`, DER. NotFound for an unknown issuer or one that publishes
  // no CRL.
  Result<std::string> CurrentCrl(const std::string& issuer_name);

 private:
  Status Validate(CertificateRequest& request);
  // The issuer for `name` in `account_id`: a registered issuer ("internal"), or the ACME issuer
  // when the account has an issuer configuration of that name. InvalidArgument otherwise.
  Result<Issuer*> ResolveIssuer(const std::string& account_id, const std::string& name);
  // A new version row for `leaf` as `outcome` brought it (id, serial, validity, PEMs); the
  // caller sets key_blob_id and created_at.
  model::CertificateVersion NewVersion(const std::string& certificate_id, int version,
                                       const x509::Certificate& leaf, const IssueOutcome& outcome);
  // The kIssueJobType step.
  jobs::StepResult RunIssueJob(const model::Job& job);
  // Stores the issued first version of a pending certificate (or marks it failed).
  Status CompleteIssue(const std::string& id, const crypto::PrivateKey& key,
                       const std::string& key_blob_id, const IssueOutcome& outcome);
  Status FailIssue(const std::string& id, const Error& error);
  // Best effort, for progress only: sets status_detail of a pending certificate.
  void RecordStep(const std::string& id, std::string_view step);
  // The account policy (src/policy); Forbidden naming the rule on denial.
  Status CheckPolicy(const Caller& caller, const CertificateRequest& request);
  // Appends a certificate.* event (events::Emit) to the outbox in `tx`: the change and its
  // event commit together. `data` gets the certificate's id and name added.
  Status EmitEvent(store::Tx& tx, const model::Certificate& cert, const std::string& type,
                   nlohmann::json data);
  // A first version is stored in `tx`: emits certificate.issued, commits, logs.
  Status CommitIssued(store::Tx& tx, const model::Certificate& cert,
                      const model::CertificateVersion& v);
  // Asks the certificate's CA to revoke its unexpired versions when the issuer can
  // (RemoteRevoker: ACME); Ok for the internal CA, which lists revocations in its CRL.
  Status RevokeAtCa(const Caller& caller, const std::string& id, x509::RevocationReason reason);
  // Best effort: the renewal's error is what the caller needs; a store failure here is logged.
  void RecordRenewalFailure(const std::string& id, const Error& error);
  store::Store& store_;
  secrets::SecretStore& secrets_;
  const IssuerRegistry& issuers_;
  const Clock& clock_;
  Random& random_;
  std::optional<RenewalPlanOptions> plan_at_commit_;
  jobs::JobEngine* engine_ = nullptr;
};

// Loads a certificate visible to `caller` (same account) with its current version.
Result<CertificateView> LoadVisible(store::Tx& tx, const Caller& caller, const std::string& id);

}  // namespace certfleet::lifecycle
