// CertificateService: request, issue and look up certificates (ARCHITECTURE.md flow 1).
//
// Request() validates everything first (names, domains, key type, profile, validity, tags), then
// generates the key, asks the issuer, seals the key and stores certificate, sealed key and version
// in one transaction. Nothing is written for a request that fails validation. A crash before the
// final commit leaves only a reserved serial behind; the request can simply be repeated.
// Thread-safe; Request() may block for RSA key generation (call it off event-loop threads).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "lifecycle/caller.h"
#include "lifecycle/issuer.h"
#include "model/model.h"
#include "secrets/secret_store.h"
#include "store/store.h"

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

// A certificate with its current version, if any.
struct CertificateView {
  model::Certificate certificate;
  std::optional<model::CertificateVersion> version;
};

inline constexpr size_t kMaxDomains = 100;

class CertificateService {
 public:
  CertificateService(store::Store& store, secrets::SecretStore& secrets,
                     const IssuerRegistry& issuers, const Clock& clock, Random& random)
      : store_(store), secrets_(secrets), issuers_(issuers), clock_(clock), random_(random) {}

  // InvalidArgument for bad input (message names the field), Forbidden naming the policy rule
  // that denied, Conflict if the name is taken in the caller's account.
  Result<CertificateView> Request(const Caller& caller, const CertificateRequest& request);
  // NotFound for unknown ids and for certificates of other accounts.
  Result<CertificateView> Get(const Caller& caller, const std::string& id);
  Result<std::vector<CertificateView>> List(const Caller& caller);

 private:
  Status Validate(CertificateRequest& request);
  // The account policy (src/policy); Forbidden naming the rule on denial.
  Status CheckPolicy(const Caller& caller, const CertificateRequest& request);
  store::Store& store_;
  secrets::SecretStore& secrets_;
  const IssuerRegistry& issuers_;
  const Clock& clock_;
  Random& random_;
};

// Loads a certificate visible to `caller` (same account) with its current version.
Result<CertificateView> LoadVisible(store::Tx& tx, const Caller& caller, const std::string& id);

}  // namespace certfleet::lifecycle
