// ACME issuers (issue #6) behind the Issuer seam: one object serves every account's configured
// ACME issuers (IssueInput::issuer_config names the account's issuer).
//
// Issue(input, idempotency_key) runs one order from start to download on the calling thread
// (a job worker's): it picks each identifier's solver by the issuer's rules, resumes the order
// recorded under `idempotency_key` ("<certificate id>/<version>") when there is one (so a job
// retried after a crash or a lost lease continues the same order instead of opening another),
// records the new order's URL before answering any challenge, sends ARI's `replaces` for a
// renewal when the directory offers renewalInfo, and afterwards records the CA's suggested
// renewal window (store::AcmeOrder ari_start/ari_end; RenewalScheduler uses it).
// Errors keep the failing step's code and carry the CA's problem document in their message.
// Thread-safe: each call builds its own client and solvers.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "acme/client/http01.h"
#include "dns/query.h"
#include "lifecycle/acme_config_service.h"
#include "lifecycle/deployment_service.h"
#include "lifecycle/issuer.h"
#include "secrets/secret_store.h"
#include "store/store.h"

namespace certfleet::lifecycle {

inline constexpr char kAcmeIssuerType[] = "acme";

struct AcmeIssuerOptions {
  AcmeConfigOptions client;
  // certfleetd's http-01 listener's token map; null: the built-in "http01" solver is off.
  acme::Http01Tokens* http01 = nullptr;
  // DNS propagation check of the rfc2136 solvers.
  std::chrono::milliseconds propagation_timeout{120000};
  std::chrono::milliseconds propagation_poll{500};
  // agent-http01 solvers: wakes the agents' long polls when a challenge is handed out (the API's
  // poll hub); null: agents see it at their next poll.
  AgentNotifier* agent_notifier = nullptr;
  std::chrono::milliseconds agent_http01_poll{200};
};

class AcmeIssuer final : public Issuer, public RemoteRevoker {
 public:
  AcmeIssuer(store::Store& store, secrets::SecretStore& secrets, const Clock& clock,
             AcmeIssuerOptions options)
      : store_(store), secrets_(secrets), clock_(clock), options_(options) {}
  const std::string& name() const override { return name_; }
  bool asynchronous() const override { return true; }
  Result<IssueOutcome> Issue(const IssueInput& input, const std::string& idempotency_key) override;
  // revokeCert signed by the issuer's account key.
  Status RevokeAtCa(const std::string& account_id, const std::string& issuer_config,
                    const std::string& leaf_pem, int reason) override;

 private:
  Result<store::AcmeConfig> LoadIssuer(const std::string& account_id, const std::string& name);
  store::Store& store_;
  secrets::SecretStore& secrets_;
  const Clock& clock_;
  AcmeIssuerOptions options_;
  std::string name_ = kAcmeIssuerType;
};

// The ARI window recorded for `version_key` ("<certificate id>/<version>"), if any.
Result<std::optional<std::pair<TimePoint, TimePoint>>> StoredAriWindow(
    store::Tx& tx, const std::string& version_key);

}  // namespace certfleet::lifecycle
