// ApiService: the REST front end. Maps HTTP requests to lifecycle calls: authenticates, checks the
// caller's role for the route's action (policy::Authorize), routes, parses and validates bodies,
// renders results and problem documents, and writes the audit trail. It knows nothing about
// sockets (net::HttpsServer calls Handle() on its worker threads). Thread-safe.
//
// Auditing is arranged here, in one place: every state-changing request, every denial (401, 403),
// every secret value read and every export is recorded, with the route's audit action, the
// resource and the outcome. Records never carry request bodies. Before an audited route's
// handler runs, Handle() opens an audit::RequestScope (the entry template) and puts it in the
// Caller; services that change state or release a secret append the record inside their own
// transaction (exports, secret value reads, issuance), so it commits with the change. After the
// handler returns, Handle() writes the record itself, in its own transaction, only when none
// was written in the request's transaction: denials, failures, and routes whose service does
// not append (audit/audit_log.h, docs/design/2026-12-07-audit-in-transaction.md).
//
// Failed authentication (401) is counted in certfleet_auth_failures_total{reason} and sampled
// into the trail: at most one "auth.failed" record per source address per minute, carrying the
// number of failures from that address not recorded since the previous one.
//
// Every request is also counted and timed in HttpMetrics under its route pattern, for GET
// /metrics (routes_metrics.cc, docs/metrics.md).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "acme/server/server.h"
#include "api/auth.h"
#include "api/metrics.h"
#include "api/readiness.h"
#include "api/router.h"
#include "api/sessions.h"
#include "audit/audit_log.h"
#include "base/clock.h"
#include "base/random.h"
#include "lifecycle/agent_service.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/deployment_service.h"
#include "lifecycle/export_service.h"
#include "lifecycle/governance_service.h"
#include "lifecycle/secret_service.h"
#include "net/http.h"
#include "net/https_server.h"
#include "policy/authorize.h"
#include "store/owned.h"
#include "store/store.h"

namespace certfleet::api {

// How a caller authenticated when it was not with a bearer header or a client certificate:
// console sessions (sessions.h).
struct RequestCredential {
  std::optional<Session> session;  // authenticated by this session's cookie
  std::string cookie;              // that cookie's value
  std::string login_token_hash;    // POST /v1/session: the hash of the token in the body
};

struct RequestContext {
  const net::HttpRequest& request;
  const lifecycle::Caller* caller;      // null on public routes
  const model::Agent* agent = nullptr;  // set on agent (mutual TLS) routes
  PathParams params;
  std::string request_id;
  // Set by handlers for the audit record when the route's own view is not enough.
  mutable std::string audit_resource;
  mutable std::string audit_account;
  const RequestCredential* credential = nullptr;  // null for bearer and agent callers
};

using RouteHandler = std::function<Result<net::HttpResponse>(const RequestContext&)>;

struct RouteSpec {
  RouteHandler handler;
  // Checked against the caller's own account before the handler runs. Unset: public route, or a
  // route whose handler authorizes against the resource itself (secret values).
  std::optional<policy::Action> action;
  std::string audit_action;  // e.g. "certificate.export"
  bool authenticated = true;
  bool audit_success = false;  // audit every outcome (set for all non-GET routes)
  bool audit_reads = false;    // audit a GET route too (secret values, audit trail reads)
  // Authenticated by the agent's TLS client certificate instead of a bearer token; the caller is
  // the agent's principal and RequestContext::agent is set.
  bool agent_auth = false;
  // Authenticated by an API token in the JSON body ({"token": ...}) instead of a header: the
  // console login, POST /v1/session. RequestContext::credential carries the token's hash.
  bool token_in_body = false;
};

class PollHub;
}  // namespace certfleet::api

namespace certfleet::events {
class WebhookService;
}  // namespace certfleet::events

namespace certfleet::lifecycle {
class AcmeConfigService;
}  // namespace certfleet::lifecycle

namespace certfleet::api {

// GET /metrics (docs/metrics.md).
struct MetricsOptions {
  // An active agent counts as online in certfleet_agents_online when it was last seen this
  // recently (its long polls refresh last_seen; agents poll well within the default).
  Seconds agent_online_window{300};
  // The HTTPS listener's connection counters (issue #13: refusals at the connection limits);
  // null: the connection families are not written.
  const net::ConnectionCounters* connections = nullptr;
};

// The web console (issue #17, docs/console.md "Server side").
struct ConsoleOptions {
  // The directory /ui/ serves (certfleetd --ui-dir, [ui] dir); empty: /ui answers 404.
  std::string ui_dir;
  SessionOptions sessions{};
};

struct ApiDeps {
  store::Store& store;
  const Clock& clock;
  Random& random;
  lifecycle::CertificateService& certificates;
  lifecycle::ExportService& exports;
  lifecycle::GovernanceService& governance;
  lifecycle::SecretService& secrets;
  audit::AuditLog& audit;
  lifecycle::DeploymentService& deployments;
  lifecycle::AgentService& agents;
  PollHub* poll_hub = nullptr;  // long polls; without one, agent polls answer at once
  events::WebhookService* webhooks = nullptr;  // without one, /v1/webhooks answers 503
  MetricsOptions metrics{};
  // ACME issuers and solvers (issue #6); without one, /v1/issuers and /v1/solvers answer 503.
  // After the fields above, so that aggregate initializations that predate it keep compiling.
  lifecycle::AcmeConfigService* acme = nullptr;
  // This replica's phase for GET /readyz (readiness.h); without one, the replica counts as
  // serving and /readyz reports the store alone. Last, for the same reason as `acme`.
  Readiness* readiness = nullptr;
  // certfleet's ACME server under /acme/ and POST /v1/acme/eab (issue #16); without one, /acme/
  // paths answer 404 and /v1/acme/eab 503. Last, for the same reason as `acme`.
  acme::server::AcmeServer* acme_server = nullptr;
  // The console's static files and sessions. Last, for the same reason as `acme`.
  ConsoleOptions console{};
};

class ApiService {
 public:
  explicit ApiService(ApiDeps deps);
  net::HttpResponse Handle(const net::HttpRequest& request);
  const Router<RouteSpec>& router() const { return router_; }

 private:
  void Audit(const net::HttpRequest& request, const RouteSpec* spec, const RequestContext* ctx,
             const lifecycle::Caller* caller, const net::HttpResponse& response,
             const std::string& detail, const audit::RequestScope* scope = nullptr);
  // A 401: counted by reason, and recorded if the source's sampling window allows.
  void AuthFailed(const net::HttpRequest& request, const RouteSpec& spec,
                  const net::HttpResponse& response, const Error& error, std::string_view reason);
  // The caller of an authenticated (non-agent) route: from the body's token (spec.token_in_body),
  // else the Authorization header, else the session cookie (then `credential` gets the session).
  // A bearer header wins over a cookie.
  Result<lifecycle::Caller> AuthenticateCaller(const net::HttpRequest& request,
                                               const RouteSpec& spec,
                                               RequestCredential& credential);
  // Whether `r` (appended in a request's transaction) committed.
  bool Committed(const model::AuditRecord& r);

  // Per source address (without port): when its last auth.failed record was written and how
  // many failures were not recorded since.
  struct AuthFailureWindow {
    TimePoint recorded_at;
    int64_t suppressed = 0;
  };

  ApiDeps deps_;
  std::mutex auth_failures_mu_;
  std::map<std::string, AuthFailureWindow> auth_failures_;  // guarded by auth_failures_mu_
  Authenticator auth_;
  SessionStore sessions_;
  HttpMetrics http_metrics_;  // every request, recorded in Handle(); read by GET /metrics
  Router<RouteSpec> router_;
};

// Route groups, one file each.
// GET /healthz and GET /readyz: unauthenticated (routes_health.cc).
void AddHealthRoutes(Router<RouteSpec>& router, ApiDeps& deps);
void AddCertificateRoutes(Router<RouteSpec>& router, ApiDeps& deps);
void AddGovernanceRoutes(Router<RouteSpec>& router, ApiDeps& deps);
void AddSecretAndAuditRoutes(Router<RouteSpec>& router, ApiDeps& deps);
void AddAgentRoutes(Router<RouteSpec>& router, ApiDeps& deps);
void AddDeploymentRoutes(Router<RouteSpec>& router, ApiDeps& deps);
void AddWebhookRoutes(Router<RouteSpec>& router, ApiDeps& deps);
// /v1/issuers and /v1/solvers (routes_acme.cc).
void AddAcmeRoutes(Router<RouteSpec>& router, ApiDeps& deps);
// /v1/domains: domain claims (routes_domains.cc, issue #13).
void AddDomainRoutes(Router<RouteSpec>& router, ApiDeps& deps);
// POST /v1/acme/eab: external account binding keys for the ACME server (routes_acme_server.cc).
void AddAcmeServerRoutes(Router<RouteSpec>& router, ApiDeps& deps);
// GET /metrics: the store's aggregates and `http`'s request metrics (borrowed; must outlive the
// router).
void AddMetricsRoutes(Router<RouteSpec>& router, ApiDeps& deps, const HttpMetrics& http);

// POST, GET and DELETE /v1/session: console login, who am I, logout (routes_session.cc).
void AddSessionRoutes(Router<RouteSpec>& router, ApiDeps& deps, SessionStore& sessions);
// GET /v1/counts: the console dashboard's numbers (routes_counts.cc).
void AddCountsRoutes(Router<RouteSpec>& router, ApiDeps& deps);

// Helpers shared by the route files.
net::HttpResponse JsonResponse(int status, const nlohmann::json& body);
// Adds a route; non-GET routes are audited on success too.
void AddRoute(Router<RouteSpec>& router, const std::string& method, const std::string& pattern,
              std::optional<policy::Action> action, const std::string& audit_action,
              RouteHandler handler, bool audit_reads = false);
// A query parameter as a number in [0, max]; `fallback` when absent.
Result<int64_t> QueryInt(const RequestContext& ctx, const std::string& name, int64_t fallback,
                         int64_t max);
// Loads a resource whose account the caller must be allowed `action` on (its own account; every
// account for a system admin), through the one ownership check (store/owned.h): an unknown,
// malformed or foreign resource answers the same NotFound; a role that may not perform `action`
// there answers 403. `account_of(resource)` names the resource's account; on success it becomes
// the audit record's account.
template <typename Load, typename AccountOf>
auto LoadForAction(const RequestContext& ctx, std::string_view kind, const std::string& key,
                   std::string_view id_prefix, policy::Action action, Load&& load,
                   AccountOf&& account_of) -> std::invoke_result_t<Load, const std::string&> {
  const policy::Subject subject = lifecycle::ToSubject(*ctx.caller);
  auto decide = [&](const auto& resource) {
    return policy::Authorize(subject, action, {.account_id = account_of(resource)});
  };
  auto loaded = store::LoadVisible(
      kind, key, id_prefix, std::forward<Load>(load),
      [&](const auto& resource) { return decide(resource).rule != "account.foreign"; });
  if (!loaded.ok()) return loaded;
  CF_TRY(decide(*loaded).ToStatus());
  ctx.audit_account = account_of(*loaded);
  return loaded;
}

// The account a read covering possibly every account is scoped to, from ?account=: for system
// admins and system auditors, every account (nullopt) unless one is named (by id or name, any
// account); for everyone else their own account, or the named one if `action` is allowed there
// (TargetAccount). An unknown account answers NotFound.
Result<std::optional<std::string>> SystemScopeAccount(ApiDeps& deps, const RequestContext& ctx,
                                                      const std::optional<std::string>& account,
                                                      policy::Action action);

// Resolves the account a request acts on: `key` (id or name) if given, else the caller's own,
// and checks `action` on it. A foreign account the caller may not act on answers NotFound.
Result<model::Account> TargetAccount(ApiDeps& deps, const RequestContext& ctx,
                                     const std::optional<std::string>& key, policy::Action action);

// Resolves the principal a request names by `principal_key` (id or name) and its account. A name
// is looked up in the account `account_key` names (else the caller's own); an id needs no
// account: the principal's own account is then checked for `action`, as TargetAccount does. A
// principal the caller may not act on answers NotFound like an unknown one.
struct TargetedPrincipal {
  model::Account account;
  model::Principal principal;
};
Result<TargetedPrincipal> TargetPrincipal(ApiDeps& deps, const RequestContext& ctx,
                                          const std::optional<std::string>& account_key,
                                          const std::string& principal_key, policy::Action action);

}  // namespace certfleet::api
