// /v1/secrets (metadata; values for authorized readers only) and /v1/audit.
#include "api/api_service.h"
#include "api/dto.h"
#include "base/time_util.h"

namespace certfleet::api {
namespace {

using policy::Action;

Result<std::optional<TimePoint>> QueryTime(const RequestContext& ctx, const std::string& name) {
  auto v = ctx.request.query(name);
  if (!v) return std::optional<TimePoint>();
  CF_ASSIGN_OR_RETURN(TimePoint t, ParseRfc3339(*v));
  return std::optional<TimePoint>(t);
}

// The account whose audit records a request may see: unset for the global view (system admins
// and system auditors without ?account=), else the named account (system view) or the caller's
// own. A tenant naming another account gets NotFound, as everywhere (TargetAccount).
Result<std::optional<std::string>> AuditScopeAccount(ApiDeps& deps, const RequestContext& ctx) {
  auto account = ctx.request.query("account");
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
  // Its own account: the route's action was already checked against it.
  if (!account || account->empty()) return std::optional<std::string>(caller.account_id);
  CF_ASSIGN_OR_RETURN(model::Account a, TargetAccount(deps, ctx, account, Action::kAuditRead));
  return std::optional<std::string>(a.id);
}

}  // namespace

void AddSecretAndAuditRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  AddRoute(router, "GET", "/v1/secrets", Action::kSecretRead, "secret.list",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(auto secrets, deps.secrets.List(*ctx.caller));
             nlohmann::json items = nlohmann::json::array();
             for (const auto& s : secrets) items.push_back(SecretJson(s));
             return JsonResponse(200, {{"items", items}});
           });
  AddRoute(router, "GET", "/v1/secrets/{id}", Action::kSecretRead, "secret.read",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(auto s, deps.secrets.Get(*ctx.caller, ctx.params.at("id")));
             return JsonResponse(200, SecretJson(s));
           });
  // Authorized inside SecretService against the secret's tags; audited whatever the outcome.
  AddRoute(
      router, "GET", "/v1/secrets/{id}/value", std::nullopt, "secret.read_value",
      [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
        CF_ASSIGN_OR_RETURN(int64_t version, QueryInt(ctx, "version", 0, 1 << 30));
        CF_ASSIGN_OR_RETURN(SecretBytes value,
                            deps.secrets.ReadValue(*ctx.caller, ctx.params.at("id"), int(version)));
        CF_ASSIGN_OR_RETURN(auto s, deps.secrets.Get(*ctx.caller, ctx.params.at("id")));
        return JsonResponse(200, {{"id", s.id},
                                  {"version", version == 0 ? s.current_version : version},
                                  {"value", std::string(value.view())}});
      },
      /*audit_reads=*/true);

  AddRoute(router, "GET", "/v1/audit", Action::kAuditRead, "audit.list",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             store::AuditFilter f;
             CF_ASSIGN_OR_RETURN(f.account_id, AuditScopeAccount(deps, ctx));
             f.principal_id = ctx.request.query("principal");
             f.resource = ctx.request.query("resource");
             CF_ASSIGN_OR_RETURN(f.since, QueryTime(ctx, "since"));
             CF_ASSIGN_OR_RETURN(f.until, QueryTime(ctx, "until"));
             CF_ASSIGN_OR_RETURN(f.after_seq, QueryInt(ctx, "after", 0, INT64_MAX / 2));
             CF_ASSIGN_OR_RETURN(int64_t limit, QueryInt(ctx, "limit", 1000, 10000));
             f.limit = size_t(limit);
             CF_ASSIGN_OR_RETURN(auto tx, deps.store.Begin());
             CF_ASSIGN_OR_RETURN(auto records, tx->audit().List(f));
             nlohmann::json items = nlohmann::json::array();
             for (const auto& r : records) items.push_back(AuditJson(r));
             return JsonResponse(200, {{"items", items}});
           });
  // A tenant verifies its own account's chain; a system admin or auditor every chain (or one
  // account's with ?account=).
  AddRoute(router, "GET", "/v1/audit/verify", Action::kAuditRead, "audit.verify",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(std::optional<std::string> account, AuditScopeAccount(deps, ctx));
             audit::VerifyReport r;
             if (account) {
               CF_ASSIGN_OR_RETURN(r, deps.audit.VerifyAccount(*account));
             } else {
               CF_ASSIGN_OR_RETURN(r, deps.audit.Verify());
             }
             nlohmann::json j = {{"ok", r.ok},
                                 {"checked", r.checked},
                                 {"reason", r.reason},
                                 {"scope", account ? nlohmann::json(*account) : "all"}};
             j["first_bad_seq"] =
                 r.first_bad_seq ? nlohmann::json(*r.first_bad_seq) : nlohmann::json(nullptr);
             return JsonResponse(200, j);
           });
}

}  // namespace certfleet::api
