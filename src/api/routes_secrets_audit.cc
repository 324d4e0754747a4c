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
             auto account = ctx.request.query("account");
             if (account || !ctx.caller->system_admin) {
               CF_ASSIGN_OR_RETURN(model::Account a,
                                   TargetAccount(deps, ctx, account, Action::kAuditRead));
               f.account_id = a.id;
             }
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
  AddRoute(router, "GET", "/v1/audit/verify", Action::kAuditRead, "audit.verify",
           [&deps](const RequestContext&) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(audit::VerifyReport r, deps.audit.Verify());
             nlohmann::json j = {{"ok", r.ok}, {"checked", r.checked}, {"reason", r.reason}};
             j["first_bad_seq"] =
                 r.first_bad_seq ? nlohmann::json(*r.first_bad_seq) : nlohmann::json(nullptr);
             return JsonResponse(200, j);
           });
}

}  // namespace certfleet::api
