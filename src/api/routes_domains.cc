// /v1/domains: domain claims (issue #13, docs/api.md "Domain claims"). A system admin claims and
// releases; an account's admins, operators and auditors list their own account's claims, system
// admins every account's. Releasing is POST /v1/domains/{id}/release (not DELETE), like the other
// state changes that keep a record (grants, webhooks).
#include <map>

#include "api/api_service.h"
#include "api/json_body.h"
#include "api/list_page.h"
#include "base/time_util.h"
#include "base/validate.h"

namespace certfleet::api {
namespace {

using policy::Action;

nlohmann::json ClaimJson(const model::DomainClaim& c, const std::string& account_name) {
  return {{"id", c.id},
          {"account", c.account_id},
          {"account_name", account_name},
          {"domain", c.domain},
          {"include_subdomains", c.include_subdomains},
          {"shared", c.shared},
          {"created_by", c.created_by},
          {"created_at", FormatRfc3339(c.created_at)}};
}

// Account names for display, looked up once per account.
class AccountNames {
 public:
  explicit AccountNames(ApiDeps& deps) : deps_(deps) {}
  const std::string& operator()(const std::string& id) {
    auto it = names_.find(id);
    if (it != names_.end()) return it->second;
    auto a = deps_.governance.ResolveAccount(id);
    return names_.emplace(id, a.ok() ? a->name : std::string()).first->second;
  }

 private:
  ApiDeps& deps_;
  std::map<std::string, std::string> names_;
};

}  // namespace

void AddDomainRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  // Paged in memory by id: claims are made by hand, by system admins.
  AddRoute(router, "GET", "/v1/domains", Action::kDomainRead, "domain.list",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(ListQuery q,
                                 ListQuery::Parse(ctx.request, {"limit", "cursor", "account"}));
             CF_ASSIGN_OR_RETURN(PageRequest page, ParsePage(q, "domains"));
             std::optional<std::string> account_id;
             CF_ASSIGN_OR_RETURN(auto account_key, q.One("account"));
             if (account_key || !ctx.caller->system_admin) {
               CF_ASSIGN_OR_RETURN(model::Account account,
                                   TargetAccount(deps, ctx, account_key, Action::kDomainRead));
               account_id = account.id;
             }
             CF_ASSIGN_OR_RETURN(auto claims, deps.governance.ListDomainClaims(account_id));
             AccountNames names(deps);
             return SmallPage(std::move(claims), page, [&](const model::DomainClaim& c) {
               return ClaimJson(c, names(c.account_id));
             });
           });
  AddRoute(router, "POST", "/v1/domains", Action::kDomainWrite, "domain.claim",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(std::string account_key, body.String("account", 64));
             lifecycle::NewDomainClaim spec;
             CF_ASSIGN_OR_RETURN(spec.domain, body.String("domain", 300));
             CF_ASSIGN_OR_RETURN(auto subdomains, body.OptBool("include_subdomains"));
             CF_ASSIGN_OR_RETURN(auto shared, body.OptBool("shared"));
             CF_TRY(body.NoOtherFields());
             spec.include_subdomains = subdomains.value_or(false);
             spec.shared = shared.value_or(false);
             CF_ASSIGN_OR_RETURN(model::Account account,
                                 TargetAccount(deps, ctx, account_key, Action::kDomainWrite));
             spec.account_id = account.id;
             CF_ASSIGN_OR_RETURN(model::DomainClaim c,
                                 deps.governance.ClaimDomain(*ctx.caller, spec));
             ctx.audit_resource = c.id;
             return JsonResponse(201, ClaimJson(c, account.name));
           });
  AddRoute(router, "POST", "/v1/domains/{id}/release", Action::kDomainWrite, "domain.release",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(
                 model::DomainClaim c,
                 LoadForAction(
                     ctx, "domain claim", ctx.params.at("id"), model::kDomainClaimPrefix,
                     Action::kDomainWrite,
                     [&](const std::string& k) { return deps.governance.GetDomainClaim(k); },
                     [](const model::DomainClaim& claim) { return claim.account_id; }));
             CF_ASSIGN_OR_RETURN(model::Account account,
                                 deps.governance.ResolveAccount(c.account_id));
             CF_ASSIGN_OR_RETURN(c, deps.governance.ReleaseDomainClaim(*ctx.caller, c.id));
             return JsonResponse(200, ClaimJson(c, account.name));
           });
}

}  // namespace certfleet::api
