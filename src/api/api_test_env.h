// ApiStack: the whole in-process API (services over a PkiEnv) for api tests. Test-only.
#pragma once

#include <memory>

#include "api/api_service.h"
#include "events/webhooks.h"
#include "fakes/pki_env.h"
#include "jobs/engine.h"
#include "lifecycle/issuers/internal_issuer.h"
#include "lifecycle/tokens.h"
#include "secrets/audit_key.h"

namespace certfleet::api {

// As certfleetd does: the audit key sealed by the KEK, the chain keyed from the first record on.
inline std::unique_ptr<audit::AuditLog> MakeKeyedAuditLog(testing::PkiEnv& env) {
  auto tx = env.store->Begin();
  CF_CHECK(tx.ok());
  auto key = secrets::LoadOrCreateAuditKey(**tx, *env.secret_store, SystemRandomSource());
  CF_CHECK(key.ok());
  auto log = std::make_unique<audit::AuditLog>(*env.store, env.clock, SystemRandomSource(),
                                               std::move(key->key));
  CF_CHECK(log->Start(**tx).ok());
  CF_CHECK((*tx)->Commit().ok());
  return log;
}

// Writes straight to the store an account `account` (its id and name), its admin principal
// "prn_<account>" named "admin" and that admin's API token "tok_<account>"; returns the token.
inline std::string AddAdminWithToken(testing::PkiEnv& env, const std::string& account) {
  auto tx = env.store->Begin();
  CF_CHECK(tx.ok());
  CF_CHECK((*tx)->accounts().Insert({account, account, env.clock.Now()}).ok());
  model::Principal p;
  p.id = "prn_" + account;
  p.account_id = account;
  p.name = "admin";
  p.role = model::Role::kAdmin;
  p.created_at = env.clock.Now();
  CF_CHECK((*tx)->principals().Insert(p).ok());
  lifecycle::NewToken t = lifecycle::GenerateApiToken(SystemRandomSource());
  CF_CHECK((*tx)
               ->tokens()
               .Insert({.id = "tok_" + account,
                        .principal_id = p.id,
                        .hash_hex = t.hash_hex,
                        .created_at = env.clock.Now()})
               .ok());
  CF_CHECK((*tx)->Commit().ok());
  return std::string(t.token.view());
}

struct ApiStack {
  ApiStack() {
    issuers.Register(std::make_unique<lifecycle::InternalIssuer>(env.Ca()));
    certs = std::make_unique<lifecycle::CertificateService>(*env.store, *env.secret_store, issuers,
                                                            env.clock, SystemRandomSource());
    // A low iteration count keeps the tests fast; e2e tests use the default.
    exports = std::make_unique<lifecycle::ExportService>(
        *env.store, *env.secret_store, env.clock, SystemRandomSource(),
        lifecycle::ExportOptions{.pkcs8 = {.pbkdf2_iterations = 10000}});
    governance =
        std::make_unique<lifecycle::GovernanceService>(*env.store, env.clock, SystemRandomSource());
    secrets = std::make_unique<lifecycle::SecretService>(*env.store, *env.secret_store);
    audit = MakeKeyedAuditLog(env);
    engine = std::make_unique<jobs::JobEngine>(*env.store, env.clock, SystemRandomSource(),
                                               jobs::EngineOptions{.owner = "api-test"});
    deployments = std::make_unique<lifecycle::DeploymentService>(
        *env.store, *env.secret_store, *engine, nullptr, env.clock, SystemRandomSource(),
        lifecycle::DeploymentOptions{.pkcs8 = {.pbkdf2_iterations = 10000}});
    deployments->RegisterJobs();
    agents = std::make_unique<lifecycle::AgentService>(*env.store, env.Ca(), deployments.get(),
                                                       nullptr, env.clock, SystemRandomSource());
    webhooks = std::make_unique<events::WebhookService>(*env.store, *env.secret_store, env.clock,
                                                        SystemRandomSource());
    api = std::make_unique<ApiService>(ApiDeps{*env.store, env.clock, SystemRandomSource(), *certs,
                                               *exports, *governance, *secrets, *audit,
                                               *deployments, *agents, nullptr, webhooks.get()});
  }

  testing::PkiEnv env;
  lifecycle::IssuerRegistry issuers;
  std::unique_ptr<lifecycle::CertificateService> certs;
  std::unique_ptr<lifecycle::ExportService> exports;
  std::unique_ptr<lifecycle::GovernanceService> governance;
  std::unique_ptr<lifecycle::SecretService> secrets;
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<jobs::JobEngine> engine;
  std::unique_ptr<lifecycle::DeploymentService> deployments;
  std::unique_ptr<lifecycle::AgentService> agents;
  std::unique_ptr<events::WebhookService> webhooks;
  std::unique_ptr<ApiService> api;
};

}  // namespace certfleet::api
