#include "api/api_service.h"

#include <charconv>
#include <chrono>

#include "api/console_assets.h"
#include "api/json_body.h"
#include "api/problem.h"
#include "base/failpoint.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "crypto/hash.h"
#include "lifecycle/tokens.h"

namespace certfleet::api {

net::HttpResponse JsonResponse(int status, const nlohmann::json& body) {
  net::HttpResponse r;
  r.status = status;
  r.headers["Content-Type"] = "application/json";
  r.body = body.dump();
  return r;
}

void AddRoute(Router<RouteSpec>& router, const std::string& method, const std::string& pattern,
              std::optional<policy::Action> action, const std::string& audit_action,
              RouteHandler handler, bool audit_reads) {
  RouteSpec spec;
  spec.handler = std::move(handler);
  spec.action = action;
  spec.audit_action = audit_action;
  spec.audit_success = method != "GET";
  spec.audit_reads = audit_reads;
  router.Add(method, pattern, std::move(spec));
}

Result<int64_t> QueryInt(const RequestContext& ctx, const std::string& name, int64_t fallback,
                         int64_t max) {
  auto v = ctx.request.query(name);
  if (!v) return fallback;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || n < 0 || n > max) {
    return InvalidArgument("query parameter \"" + name + "\" must be a number from 0 to " +
                           std::to_string(max));
  }
  return n;
}

Result<model::Account> TargetAccount(ApiDeps& deps, const RequestContext& ctx,
                                     const std::optional<std::string>& key, policy::Action action) {
  const std::string wanted = key && !key->empty() ? *key : ctx.caller->account_id;
  // Whether another account exists is not the caller's business: the ownership check answers a
  // foreign account like an unknown one.
  return LoadForAction(
      ctx, "account", wanted, "", action,
      [&](const std::string& k) { return deps.governance.ResolveAccount(k); },
      [](const model::Account& a) { return a.id; });
}

Result<TargetedPrincipal> TargetPrincipal(ApiDeps& deps, const RequestContext& ctx,
                                          const std::optional<std::string>& account_key,
                                          const std::string& principal_key, policy::Action action) {
  TargetedPrincipal out;
  if ((!account_key || account_key->empty()) && IsValidId(principal_key, model::kPrincipalPrefix)) {
    CF_ASSIGN_OR_RETURN(out.principal,
                        LoadForAction(
                            ctx, "principal", principal_key, model::kPrincipalPrefix, action,
                            [&](const std::string& k) { return deps.governance.GetPrincipal(k); },
                            [](const model::Principal& p) { return p.account_id; }));
    CF_ASSIGN_OR_RETURN(out.account, deps.governance.ResolveAccount(out.principal.account_id));
    return out;
  }
  CF_ASSIGN_OR_RETURN(out.account, TargetAccount(deps, ctx, account_key, action));
  CF_ASSIGN_OR_RETURN(out.principal,
                      deps.governance.ResolvePrincipal(out.account.id, principal_key));
  return out;
}

Result<std::optional<std::string>> SystemScopeAccount(ApiDeps& deps, const RequestContext& ctx,
                                                      const std::optional<std::string>& account,
                                                      policy::Action action) {
  const lifecycle::Caller& caller = *ctx.caller;
  if (caller.system_admin || caller.system_auditor) {
    if (!account || account->empty()) return std::optional<std::string>();
    // The global view: every account is visible to the system account's admins and auditors.
    CF_ASSIGN_OR_RETURN(model::Account a,
                        store::LoadVisible(
                            "account", *account, "",
                            [&](const std::string& k) { return deps.governance.ResolveAccount(k); },
                            [](const model::Account&) { return true; }));
    ctx.audit_account = a.id;
    return std::optional<std::string>(a.id);
  }
  if (!account || account->empty()) return std::optional<std::string>(caller.account_id);
  CF_ASSIGN_OR_RETURN(model::Account a, TargetAccount(deps, ctx, account, action));
  return std::optional<std::string>(a.id);
}

ApiService::ApiService(ApiDeps deps)
    : deps_(deps),
      auth_(deps.store, deps.clock),
      sessions_(deps.clock, deps.random, deps.console.sessions) {
  AddHealthRoutes(router_, deps_);
  AddCertificateRoutes(router_, deps_);
  AddGovernanceRoutes(router_, deps_);
  AddSecretAndAuditRoutes(router_, deps_);
  AddAgentRoutes(router_, deps_);
  AddDeploymentRoutes(router_, deps_);
  AddWebhookRoutes(router_, deps_);
  AddAcmeRoutes(router_, deps_);
  AddDomainRoutes(router_, deps_);
  AddAcmeServerRoutes(router_, deps_);
  AddMetricsRoutes(router_, deps_, http_metrics_);
  AddSessionRoutes(router_, deps_, sessions_);
  AddCountsRoutes(router_, deps_);
}

Result<lifecycle::Caller> ApiService::AuthenticateCaller(const net::HttpRequest& request,
                                                         const RouteSpec& spec,
                                                         RequestCredential& credential) {
  if (spec.token_in_body) {
    CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(request.body));
    CF_ASSIGN_OR_RETURN(auto token, body.OptSecret("token", 256));
    CF_TRY(body.NoOtherFields());
    if (!token) return InvalidArgument("\"token\" (an API token) is required");
    credential.login_token_hash = lifecycle::HashApiToken(token->view());
    return auth_.AuthenticateToken(token->view());
  }
  auto authorization = request.header("authorization");
  std::string cookie = CookieValue(request.header("cookie").value_or(""), kSessionCookie);
  if (authorization || cookie.empty()) return auth_.Authenticate(authorization);
  CF_ASSIGN_OR_RETURN(credential.session, sessions_.Use(cookie));
  // The session is the token's: whatever ended the token (revoked, expired, principal disabled)
  // ends the session too.
  auto who = auth_.AuthenticateHash(credential.session->token_hash);
  if (!who.ok()) {
    sessions_.Remove(cookie);
    credential.session.reset();
    if (who.error().code() == ErrorCode::kUnauthorized) {
      return Unauthorized("console session ended: " + who.error().message());
    }
    return who;
  }
  credential.cookie = std::move(cookie);
  return who;
}

void ApiService::Audit(const net::HttpRequest& request, const RouteSpec* spec,
                       const RequestContext* ctx, const lifecycle::Caller* caller,
                       const net::HttpResponse& response, const std::string& detail,
                       const audit::RequestScope* scope) {
  const int s = response.status;
  const bool denied = s == 401 || s == 403;
  const bool failed = s >= 400 && !denied;
  // Denials always; state changes (non-GET routes) and audited reads whatever their outcome.
  if (!denied && !(spec && (spec->audit_success || spec->audit_reads))) return;
  if (scope && !scope->appended().empty()) {
    // A service recorded the request in its own transaction. A success answer means that
    // transaction committed (services answer after their commit). A refusal the service
    // recorded with its change (e.g. an export refused and logged) needs no second record once
    // it is known to have committed; anything else that failed afterwards is recorded below.
    if (!denied && !failed) return;
    const model::AuditRecord& last = scope->appended().back();
    if (last.outcome != model::AuditOutcome::kSuccess && Committed(last)) return;
  }
  audit::AuditEntry e;
  e.principal_id = caller ? caller->principal_id : "";
  e.account_id =
      ctx && !ctx->audit_account.empty() ? ctx->audit_account : (caller ? caller->account_id : "");
  e.action = spec ? spec->audit_action : "auth.failed";
  if (s == 401) e.action = "auth.failed";
  if (ctx) {
    e.resource = !ctx->audit_resource.empty() ? ctx->audit_resource
                 : ctx->params.count("id")    ? ctx->params.at("id")
                                              : "";
  }
  if (e.resource.empty()) e.resource = std::string(request.path());
  e.outcome = denied   ? model::AuditOutcome::kDenied
              : failed ? model::AuditOutcome::kFailure
                       : model::AuditOutcome::kSuccess;
  e.status = s;
  e.source = request.remote_address;
  e.detail = detail;
  Status st = deps_.audit.Record(e);
  if (!st.ok()) {
    log::Error("audit record could not be written",
               {{"error", st.error().ToString()}, {"action", e.action}});
  }
}

bool ApiService::Committed(const model::AuditRecord& r) {
  auto tx = deps_.store.BeginRead();
  if (!tx.ok()) return false;
  auto found = (*tx)->audit().List({.after_seq = r.seq - 1, .limit = 1});
  return found.ok() && !found->empty() && found->front().id == r.id;
}

namespace {

// The address part of "host:port", "[v6]:port" or a bare host, so that a client cannot escape
// the sampling window by changing its source port.
std::string SourceHost(const std::string& remote) {
  if (!remote.empty() && remote.front() == '[') {
    size_t close = remote.find(']');
    return close == std::string::npos ? remote : remote.substr(1, close - 1);
  }
  size_t colon = remote.find(':');
  if (colon != std::string::npos && remote.find(':', colon + 1) == std::string::npos) {
    return remote.substr(0, colon);
  }
  return remote;
}

constexpr Seconds kAuthFailureWindow{60};
constexpr size_t kMaxAuthFailureSources = 10000;

}  // namespace

void ApiService::AuthFailed(const net::HttpRequest& request, const RouteSpec& spec,
                            const net::HttpResponse& response, const Error& error,
                            std::string_view reason) {
  http_metrics_.CountAuthFailure(reason);
  // Sampling: a client hammering with bad tokens must not turn every attempt into a durable,
  // chained write (one synced commit each); the counter above sees them all.
  const TimePoint now = deps_.clock.Now();
  const std::string host = SourceHost(request.remote_address);
  int64_t suppressed = 0;
  TimePoint since;
  {
    std::lock_guard<std::mutex> lock(auth_failures_mu_);
    auto it = auth_failures_.find(host);
    if (it != auth_failures_.end() && now - it->second.recorded_at < kAuthFailureWindow) {
      ++it->second.suppressed;
      return;
    }
    if (it != auth_failures_.end()) {
      suppressed = it->second.suppressed;
      since = it->second.recorded_at;
    } else if (auth_failures_.size() >= kMaxAuthFailureSources) {
      // Bounded memory: forget sources whose window has ended (their counts are in the
      // metric); if every one is recent, this source is recorded without a window.
      std::erase_if(auth_failures_, [&](const auto& kv) {
        return now - kv.second.recorded_at >= kAuthFailureWindow;
      });
    }
    if (auth_failures_.size() < kMaxAuthFailureSources) {
      auth_failures_[host] = AuthFailureWindow{.recorded_at = now, .suppressed = 0};
    }
  }
  std::string detail = error.message();
  if (suppressed > 0) {
    detail += "; suppressed=" + std::to_string(suppressed) + " (failed authentications from " +
              host + " not recorded since " + FormatRfc3339(since) + ")";
  }
  Audit(request, &spec, nullptr, nullptr, response, detail);
}

net::HttpResponse ApiService::Handle(const net::HttpRequest& request) {
  // Latency is measured on the monotonic clock, not the injected Clock: it is an observation of
  // this process, not an input to any decision, and a FakeClock would make every request take 0 s.
  const auto started = std::chrono::steady_clock::now();
  const std::string request_id = NewId("req", deps_.clock, deps_.random);
  std::string detail;
  // The matched route PATTERN labels the request metrics, never the raw path, so ids in paths do
  // not create series.
  std::string_view route_label = "unmatched";
  auto finish = [&](net::HttpResponse r) {
    // A long poll (r.deferred set) is recorded here, when the handler returns and parks it: its
    // latency is the handler's, its code the placeholder's (200), not the later answer's.
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    http_metrics_.Observe(route_label, MetricMethod(request.method), r.status, seconds);
    r.headers["X-Request-Id"] = request_id;
    log::Info("request", {{"method", request.method},
                          {"path", std::string(request.path())},
                          {"status", std::to_string(r.status)},
                          {"remote", request.remote_address},
                          {"request_id", request_id}});
    return r;
  };
  auto problem = [&](const Error& e, int status_override = 0) {
    detail = e.message();
    return ProblemResponse(e, request_id, status_override);
  };

  // The ACME server (issue #16) authenticates with JWS, not bearer tokens, and answers problem
  // documents of its own; it is mounted under /acme/ beside the REST API.
  if (deps_.acme_server != nullptr && request.path().starts_with("/acme/")) {
    route_label = "/acme/";
    return finish(deps_.acme_server->Handle(request));
  }

  // The console's static files (issue #17): public, beside the API.
  if (IsConsolePath(request.path())) {
    route_label = "/ui/";
    return finish(ServeConsoleAsset(deps_.console.ui_dir, request, request_id));
  }

  auto match = router_.Find(request.method, request.path());
  if (match.route != nullptr) {
    route_label = match.route->pattern;
  } else if (match.other_method_route != nullptr) {
    route_label = match.other_method_route->pattern;
  }
  if (match.route == nullptr) {
    if (match.path_matched_other_method) {
      return finish(
          problem(InvalidArgument("method " + request.method + " is not allowed here"), 405));
    }
    return finish(problem(NotFound("no such route")));
  }
  const RouteSpec& spec = match.route->handler;
  std::optional<lifecycle::Caller> caller;
  std::optional<model::Agent> agent;
  RequestCredential credential;
  if (spec.agent_auth) {
    auto who = deps_.agents.Authenticate(request.client_cert_der);
    if (!who.ok()) {
      net::HttpResponse r = problem(who.error());
      log::Warn("agent authentication failed", {{"reason", who.error().message()},
                                                {"remote", request.remote_address},
                                                {"request_id", request_id}});
      if (r.status == 401) {
        AuthFailed(request, spec, r, who.error(), "agent_certificate");
      } else {
        Audit(request, &spec, nullptr, nullptr, r, detail);
      }
      return finish(std::move(r));
    }
    agent = std::move(*who);
    caller = deps_.agents.AgentCaller(*agent, request.remote_address);
  } else if (spec.authenticated) {
    auto who = AuthenticateCaller(request, spec, credential);
    if (!who.ok()) {
      net::HttpResponse r = problem(who.error());
      log::Warn("authentication failed", {{"reason", who.error().message()},
                                          {"remote", request.remote_address},
                                          {"request_id", request_id}});
      if (r.status == 401) {
        AuthFailed(request, spec, r, who.error(), AuthFailureReason(who.error()));
      } else {
        Audit(request, &spec, nullptr, nullptr, r, detail);
      }
      return finish(std::move(r));
    }
    caller = std::move(*who);
    caller->source_address = request.remote_address;
  }
  // The request's audit scope: services append the record inside their transaction through
  // Caller::audit (audit/audit_log.h); respond() below writes it only if none was.
  std::optional<audit::RequestScope> scope;
  if (caller && (spec.audit_success || spec.audit_reads)) {
    audit::AuditEntry tmpl;
    tmpl.principal_id = caller->principal_id;
    tmpl.account_id = caller->account_id;
    tmpl.action = spec.audit_action;
    auto id = match.params.find("id");
    tmpl.resource = id != match.params.end() ? id->second : std::string(request.path());
    tmpl.source = request.remote_address;
    scope.emplace(deps_.audit, std::move(tmpl));
    caller->audit = &*scope;
  }
  RequestContext ctx{request, caller ? &*caller : nullptr, agent ? &*agent : nullptr,
                     std::move(match.params), request_id};
  ctx.credential = &credential;
  auto respond = [&](net::HttpResponse r) {
    // Public routes that change state (agent enrollment) are audited too.
    if (caller || spec.audit_success) {
      Audit(request, &spec, &ctx, caller ? &*caller : nullptr, r, detail,
            scope ? &*scope : nullptr);
    }
    // Crash tests: everything is recorded, the answer not yet sent (e.g.
    // "api.before_response.certificate.export").
    if (scope) Failpoint("api.before_response." + spec.audit_action);
    return finish(std::move(r));
  };
  // A change made with a session cookie must carry the session's CSRF token, which only the
  // console's own pages can read (issue #17). Checked before anything runs, so a forged
  // cross-site request changes nothing.
  if (credential.session && request.method != "GET" && request.method != "HEAD") {
    auto sent = request.header("x-csrf-token");
    if (!sent || !crypto::ConstantTimeEquals(*sent, credential.session->csrf_token)) {
      return respond(problem(Forbidden("CSRF token missing or wrong")));
    }
  }
  if (spec.action) {
    policy::Decision d = policy::Authorize(lifecycle::ToSubject(*caller), *spec.action,
                                           {.account_id = caller->account_id});
    if (!d.allowed) return respond(problem(d.ToStatus().error()));
  }
  if (request.method == "POST" || request.method == "PUT" || request.method == "PATCH") {
    auto ct = request.header("content-type");
    if (!request.body.empty() && (!ct || ct->rfind("application/json", 0) != 0)) {
      return respond(
          problem(InvalidArgument("request body must be sent as Content-Type: application/json")));
    }
  }
  Result<net::HttpResponse> result = spec.handler(ctx);
  if (!result.ok()) return respond(problem(result.error()));
  return respond(std::move(result).value());
}

}  // namespace certfleet::api
