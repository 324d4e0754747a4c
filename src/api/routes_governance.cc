// /v1/accounts, /v1/principals, /v1/tokens, /v1/grants, /v1/policies, /v1/reports.
#include "api/api_service.h"
#include "api/dto.h"
#include "api/json_body.h"
#include "api/list_page.h"
#include "base/ids.h"
#include "base/time_util.h"
#include "base/validate.h"

namespace certfleet::api {
namespace {

using policy::Action;

// GET /v1/reports/exports?limit=&cursor=&account=&certificate=&principal=&since=&until=: the
// chargeback ledger per certificate, grouped in SQL and paged by certificate id. A system admin
// without ?account= sees every account.
Result<net::HttpResponse> ExportReport(ApiDeps& deps, const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(ListQuery q,
                      ListQuery::Parse(ctx.request, {"limit", "cursor", "account", "certificate",
                                                     "principal", "since", "until"}));
  CF_ASSIGN_OR_RETURN(PageRequest page, ParsePage(q, "export-report"));
  store::ExportFilter f{.limit = page.fetch(), .after_id = page.after_id()};
  CF_ASSIGN_OR_RETURN(f.certificate_id, QueryText(q, "certificate", 128));
  CF_ASSIGN_OR_RETURN(f.principal_id, QueryText(q, "principal", 128));
  CF_ASSIGN_OR_RETURN(f.since, QueryTime(q, "since"));
  CF_ASSIGN_OR_RETURN(f.until, QueryTime(q, "until"));
  CF_ASSIGN_OR_RETURN(auto account_key, q.One("account"));
  if (account_key || !ctx.caller->system_admin) {
    CF_ASSIGN_OR_RETURN(model::Account account,
                        TargetAccount(deps, ctx, account_key, Action::kReportRead));
    f.account_id = account.id;
  }
  CF_ASSIGN_OR_RETURN(auto rows, deps.governance.ExportReport(f));
  return JsonResponse(
      200, PageJson(rows, page, ExportReportJson, [](const lifecycle::ExportReportRow& r) {
        return RowKey{0, r.certificate_id};
      }));
}

// A token's metadata; the hash is never rendered (it is what a stolen database would need).
nlohmann::json TokenJson(const model::ApiToken& t, const std::string& account_id) {
  return {{"id", t.id},
          {"principal", t.principal_id},
          {"account", account_id},
          {"created_at", FormatRfc3339(t.created_at)},
          {"expires_at",
           t.expires_at ? nlohmann::json(FormatRfc3339(*t.expires_at)) : nlohmann::json(nullptr)},
          {"revoked", t.revoked}};
}

// POST /v1/principals/{id}/disable and /enable. The principal is resolved inside the account
// the caller may write (its own, or any for a system admin), so another account's principal
// answers 404 like a missing one.
RouteHandler SetDisabledHandler(ApiDeps& deps, bool disabled) {
  return [&deps, disabled](const RequestContext& ctx) -> Result<net::HttpResponse> {
    CF_ASSIGN_OR_RETURN(TargetedPrincipal target,
                        TargetPrincipal(deps, ctx, ctx.request.query("account"),
                                        ctx.params.at("id"), Action::kPrincipalWrite));
    model::Principal p = std::move(target.principal);
    ctx.audit_resource = p.id;
    CF_ASSIGN_OR_RETURN(p, deps.governance.SetPrincipalDisabled(*ctx.caller, p.id, disabled));
    return JsonResponse(200, PrincipalJson(p));
  };
}

}  // namespace

void AddGovernanceRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  AddRoute(router, "GET", "/v1/accounts", Action::kAccountRead, "account.list",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(ListQuery q, ListQuery::Parse(ctx.request, {"limit", "cursor"}));
             CF_ASSIGN_OR_RETURN(PageRequest page, ParsePage(q, "accounts"));
             CF_ASSIGN_OR_RETURN(auto accounts, deps.governance.ListAccounts(*ctx.caller));
             return SmallPage(std::move(accounts), page, AccountJson);
           });
  AddRoute(router, "POST", "/v1/accounts", Action::kAccountCreate, "account.create",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(std::string name, body.String("name", 64));
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(model::Account a,
                                 deps.governance.CreateAccount(name, ctx.caller->audit));
             ctx.audit_resource = a.id;
             ctx.audit_account = a.id;
             return JsonResponse(201, AccountJson(a));
           });

  AddRoute(router, "GET", "/v1/principals", Action::kPrincipalRead, "principal.list",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(ListRequest l, ParseListRequest(deps, ctx, "principals",
                                                                 {"limit", "cursor", "account"},
                                                                 Action::kPrincipalRead));
             CF_ASSIGN_OR_RETURN(auto principals, deps.governance.ListPrincipals(l.account.id));
             return SmallPage(std::move(principals), l.page, PrincipalJson);
           });
  AddRoute(router, "POST", "/v1/principals", Action::kPrincipalWrite, "principal.create",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(auto account_key, body.OptString("account", 64));
             lifecycle::NewPrincipal spec;
             CF_ASSIGN_OR_RETURN(spec.name, body.String("name", 64));
             CF_ASSIGN_OR_RETURN(std::string role, body.String("role", 32));
             CF_ASSIGN_OR_RETURN(spec.role, model::ParseRole(role));
             CF_ASSIGN_OR_RETURN(auto kind, body.OptString("kind", 32));
             if (kind) {
               CF_ASSIGN_OR_RETURN(spec.kind, model::ParsePrincipalKind(*kind));
             } else if (spec.role == model::Role::kAgent) {
               spec.kind = model::PrincipalKind::kAgent;
             }
             CF_ASSIGN_OR_RETURN(auto tags, body.OptStringMap("tags"));
             if (tags) spec.tags = std::move(*tags);
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(model::Account account,
                                 TargetAccount(deps, ctx, account_key, Action::kPrincipalWrite));
             spec.account_id = account.id;
             CF_ASSIGN_OR_RETURN(model::Principal p,
                                 deps.governance.CreatePrincipal(spec, ctx.caller->audit));
             ctx.audit_resource = p.id;
             return JsonResponse(201, PrincipalJson(p));
           });
  // Authorized in the handler: a principal naming itself is refused as tags.self_assign whatever
  // its role (tags decide which secrets it may read), then the usual role and account checks.
  AddRoute(router, "PATCH", "/v1/principals/{id}", std::nullopt, "principal.set_tags",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             const lifecycle::Caller& caller = *ctx.caller;
             auto self = deps.governance.ResolvePrincipal(caller.account_id, ctx.params.at("id"));
             if (self.ok() && self->id == caller.principal_id) {
               return Forbidden("a principal cannot set its own tags (rule tags.self_assign)");
             }
             CF_TRY(policy::Authorize(lifecycle::ToSubject(caller), Action::kPrincipalWrite,
                                      {.account_id = caller.account_id})
                        .ToStatus());
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(auto tags, body.OptStringMap("tags"));
             if (!tags) return InvalidArgument("field \"tags\" is required");
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(TargetedPrincipal target,
                                 TargetPrincipal(deps, ctx, ctx.request.query("account"),
                                                 ctx.params.at("id"), Action::kPrincipalWrite));
             CF_ASSIGN_OR_RETURN(model::Principal p, deps.governance.SetPrincipalTags(
                                                         caller, target.principal.id, *tags));
             return JsonResponse(200, PrincipalJson(p));
           });

  AddRoute(
      router, "POST", "/v1/tokens", Action::kTokenWrite, "token.create",
      [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
        CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
        CF_ASSIGN_OR_RETURN(std::string principal_key, body.String("principal", 64));
        CF_ASSIGN_OR_RETURN(auto account_key, body.OptString("account", 64));
        CF_ASSIGN_OR_RETURN(auto expires, body.OptString("expires", 32));
        CF_TRY(body.NoOtherFields());
        std::optional<Seconds> ttl;
        if (expires) {
          CF_ASSIGN_OR_RETURN(ttl, ParseDuration(*expires));
        }
        CF_ASSIGN_OR_RETURN(
            TargetedPrincipal target,
            TargetPrincipal(deps, ctx, account_key, principal_key, Action::kTokenWrite));
        const model::Principal& p = target.principal;
        CF_ASSIGN_OR_RETURN(lifecycle::IssuedToken t,
                            deps.governance.CreateToken(p, ttl, ctx.caller->audit));
        ctx.audit_resource = t.record.id;
        nlohmann::json j = {
            {"id", t.record.id},
            {"principal", p.id},
            {"account", p.account_id},
            {"token", std::string(t.token.view())},
            {"created_at", FormatRfc3339(t.record.created_at)},
            {"expires_at", t.record.expires_at ? nlohmann::json(FormatRfc3339(*t.record.expires_at))
                                               : nlohmann::json(nullptr)}};
        return JsonResponse(201, j);
      });

  AddRoute(router, "POST", "/v1/principals/{id}/disable", Action::kPrincipalWrite,
           "principal.disable", SetDisabledHandler(deps, true));
  AddRoute(router, "POST", "/v1/principals/{id}/enable", Action::kPrincipalWrite,
           "principal.enable", SetDisabledHandler(deps, false));

  AddRoute(router, "GET", "/v1/tokens", Action::kPrincipalRead, "token.list",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(
                 ListRequest l,
                 ParseListRequest(deps, ctx, "tokens", {"limit", "cursor", "account", "principal"},
                                  Action::kPrincipalRead));
             std::optional<std::string> principal_id;
             CF_ASSIGN_OR_RETURN(auto key, l.query.One("principal"));
             if (key) {
               // A principal id needs no ?account=: the principal's own account is checked.
               CF_ASSIGN_OR_RETURN(auto account_key, l.query.One("account"));
               CF_ASSIGN_OR_RETURN(
                   TargetedPrincipal target,
                   TargetPrincipal(deps, ctx, account_key, *key, Action::kPrincipalRead));
               l.account = std::move(target.account);
               principal_id = target.principal.id;
             }
             CF_ASSIGN_OR_RETURN(auto tokens,
                                 deps.governance.ListTokens(l.account.id, principal_id));
             const std::string account_id = l.account.id;
             return SmallPage(std::move(tokens), l.page,
                              [&](const model::ApiToken& t) { return TokenJson(t, account_id); });
           });
  // An admin of the token's account (or a system admin) revokes it; to anyone else another
  // account's token does not exist, exactly like an unknown id.
  AddRoute(router, "POST", "/v1/tokens/{id}/revoke", Action::kTokenWrite, "token.revoke",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             // A token belongs to its principal's account.
             struct OwnedToken {
               model::ApiToken token;
               std::string account_id;
             };
             CF_ASSIGN_OR_RETURN(
                 OwnedToken t,
                 LoadForAction(
                     ctx, "token", ctx.params.at("id"), model::kTokenPrefix, Action::kTokenWrite,
                     [&](const std::string& k) -> Result<OwnedToken> {
                       CF_ASSIGN_OR_RETURN(model::ApiToken token, deps.governance.GetToken(k));
                       CF_ASSIGN_OR_RETURN(model::Principal owner,
                                           deps.governance.GetPrincipal(token.principal_id));
                       return OwnedToken{std::move(token), owner.account_id};
                     },
                     [](const OwnedToken& o) { return o.account_id; }));
             ctx.audit_resource = t.token.id;
             CF_ASSIGN_OR_RETURN(model::ApiToken revoked,
                                 deps.governance.RevokeToken(t.token.id, ctx.caller->audit));
             return JsonResponse(200, TokenJson(revoked, t.account_id));
           });

  AddRoute(router, "GET", "/v1/grants", Action::kGrantRead, "grant.list",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(ListRequest l, ParseListRequest(deps, ctx, "grants",
                                                                 {"limit", "cursor", "account"},
                                                                 Action::kGrantRead));
             CF_ASSIGN_OR_RETURN(auto grants, deps.governance.ListGrants(l.account.id));
             return SmallPage(std::move(grants), l.page, GrantJson);
           });
  // The grant is the consent of the `to` account (whose hosts receive certificates), so it is
  // created and revoked by an admin of that account.
  AddRoute(router, "POST", "/v1/grants", Action::kGrantWrite, "grant.create",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(std::string from, body.String("from", 64));
             CF_ASSIGN_OR_RETURN(auto to, body.OptString("to", 64));
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(model::Account to_account,
                                 TargetAccount(deps, ctx, to, Action::kGrantWrite));
             // A tenant names the other account by its id, which it can only have been told:
             // resolving names for it would let grants probe which account names exist.
             if (!ctx.caller->system_admin && !IsValidId(from, model::kAccountPrefix)) {
               return InvalidArgument(
                   "field \"from\" must be the other account's id (acc_...); account names are "
                   "resolved for system admins only");
             }
             CF_ASSIGN_OR_RETURN(model::Account from_account, deps.governance.ResolveAccount(from));
             CF_ASSIGN_OR_RETURN(model::Grant g, deps.governance.CreateGrant(
                                                     *ctx.caller, from_account.id, to_account.id));
             ctx.audit_resource = g.id;
             return JsonResponse(201, GrantJson(g));
           });
  AddRoute(router, "POST", "/v1/grants/{id}/revoke", Action::kGrantWrite, "grant.revoke",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             // Only the granting (`to`) account may revoke; to anyone else the grant does not
             // exist, exactly like an unknown id.
             CF_ASSIGN_OR_RETURN(
                 model::Grant g,
                 LoadForAction(
                     ctx, "grant", ctx.params.at("id"), model::kGrantPrefix, Action::kGrantWrite,
                     [&](const std::string& k) { return deps.governance.GetGrant(k); },
                     [](const model::Grant& grant) { return grant.to_account_id; }));
             CF_ASSIGN_OR_RETURN(model::Grant revoked,
                                 deps.governance.RevokeGrant(g.id, ctx.caller->audit));
             // Targets not yet delivered under the grant are cancelled (issue #13).
             CF_TRY(deps.deployments.OnGrantRevoked(revoked));
             return JsonResponse(200, GrantJson(revoked));
           });

  AddRoute(router, "GET", "/v1/policies/{account}", Action::kPolicyRead, "policy.read",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(
                 model::Account account,
                 TargetAccount(deps, ctx, ctx.params.at("account"), Action::kPolicyRead));
             CF_ASSIGN_OR_RETURN(auto doc, deps.governance.GetPolicy(account.id));
             return JsonResponse(200, PolicyJson(doc));
           });
  AddRoute(router, "PUT", "/v1/policies/{account}", Action::kPolicyWrite, "policy.set",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(std::string toml, body.String("toml", 64 * 1024));
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(
                 model::Account account,
                 TargetAccount(deps, ctx, ctx.params.at("account"), Action::kPolicyWrite));
             ctx.audit_resource = "policy/" + account.id;
             CF_ASSIGN_OR_RETURN(auto doc,
                                 deps.governance.SetPolicy(*ctx.caller, account.id, toml));
             return JsonResponse(200, PolicyJson(doc));
           });

  AddRoute(router, "GET", "/v1/reports/exports", Action::kReportRead, "report.exports",
           [&deps](const RequestContext& ctx) { return ExportReport(deps, ctx); });
}

}  // namespace certfleet::api
