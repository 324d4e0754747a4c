// /v1/secrets (metadata; values for authorized readers only) and /v1/audit.
#include "api/api_service.h"
#include "api/dto.h"
#include "api/list_page.h"
#include "base/time_util.h"

namespace certfleet::api {
namespace {

using policy::Action;

// GET /v1/secrets?limit=&cursor=&account=&tag=k:v&kind=&name= (docs/api.md): keyset pages by id.
Result<net::HttpResponse> ListSecrets(ApiDeps& deps, const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(
      ListRequest l,
      ParseListRequest(deps, ctx, "secrets", {"limit", "cursor", "account", "tag", "kind", "name"},
                       Action::kSecretRead));
  const ListQuery& q = l.query;
  const PageRequest& page = l.page;
  store::SecretFilter f{.limit = page.fetch(), .after_id = page.after_id()};
  CF_ASSIGN_OR_RETURN(f.tags, QueryTags(q));
  CF_ASSIGN_OR_RETURN(auto kind, QueryChoice(q, "kind", {"passphrase", "generic"}));
  if (kind) {
    CF_ASSIGN_OR_RETURN(f.kind, model::ParseSecretKind(*kind));
  }
  CF_ASSIGN_OR_RETURN(auto name, QueryText(q, "name", 128));
  f.name_contains = name.value_or("");
  f.account_id = l.account.id;
  CF_ASSIGN_OR_RETURN(auto tx, deps.store.BeginRead());
  CF_ASSIGN_OR_RETURN(auto rows, tx->secrets().List(f));
  return JsonResponse(200, PageJson(rows, page, SecretJson, kById));
}

// GET /v1/audit (docs/api.md): oldest first, by seq; the cursor carries the last seq.
Result<net::HttpResponse> ListAudit(ApiDeps& deps, const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(
      ListQuery q,
      ListQuery::Parse(ctx.request, {"limit", "cursor", "account", "principal", "action",
                                     "resource", "resource_type", "outcome", "since", "until"}));
  CF_ASSIGN_OR_RETURN(PageRequest page, ParsePage(q, "audit"));
  store::AuditFilter f{.after_seq = page.after_key(), .limit = page.fetch()};
  CF_ASSIGN_OR_RETURN(auto account, q.One("account"));
  CF_ASSIGN_OR_RETURN(f.account_id, SystemScopeAccount(deps, ctx, account, Action::kAuditRead));
  CF_ASSIGN_OR_RETURN(f.principal_id, QueryText(q, "principal", 128));
  CF_ASSIGN_OR_RETURN(f.action, QueryText(q, "action", 128));
  CF_ASSIGN_OR_RETURN(f.resource, QueryText(q, "resource", 512));
  CF_ASSIGN_OR_RETURN(f.resource_type, QueryText(q, "resource_type", 16));
  if (f.resource_type &&
      f.resource_type->find_first_not_of("abcdefghijklmnopqrstuvwxyz") != std::string::npos) {
    return InvalidArgument(
        "query parameter \"resource_type\" must be an id prefix such as crt, agt or sec");
  }
  CF_ASSIGN_OR_RETURN(auto outcome, QueryChoice(q, "outcome", {"success", "denied", "failure"}));
  if (outcome) {
    CF_ASSIGN_OR_RETURN(f.outcome, model::ParseAuditOutcome(*outcome));
  }
  CF_ASSIGN_OR_RETURN(f.since, QueryTime(q, "since"));
  CF_ASSIGN_OR_RETURN(f.until, QueryTime(q, "until"));
  CF_ASSIGN_OR_RETURN(auto tx, deps.store.BeginRead());
  CF_ASSIGN_OR_RETURN(auto records, tx->audit().List(f));
  return JsonResponse(200, PageJson(records, page, AuditJson, [](const model::AuditRecord& r) {
                        return RowKey{r.seq, r.id};
                      }));
}

}  // namespace

void AddSecretAndAuditRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  AddRoute(router, "GET", "/v1/secrets", Action::kSecretRead, "secret.list",
           [&deps](const RequestContext& ctx) { return ListSecrets(deps, ctx); });
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
           [&deps](const RequestContext& ctx) { return ListAudit(deps, ctx); });
  // A tenant verifies its own account's chain; a system admin or auditor every chain (or one
  // account's with ?account=).
  AddRoute(router, "GET", "/v1/audit/verify", Action::kAuditRead, "audit.verify",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(
                 std::optional<std::string> account,
                 SystemScopeAccount(deps, ctx, ctx.request.query("account"), Action::kAuditRead));
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
