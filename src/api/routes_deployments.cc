// /v1/deployments and /v1/inventory (docs/agents.md).
#include "api/api_service.h"
#include "api/dto.h"
#include "api/json_body.h"
#include "api/list_page.h"
#include "base/time_util.h"

namespace certfleet::api {
namespace {

using policy::Action;

// GET /v1/deployments?limit=&cursor=&account=&certificate=&state= (docs/api.md): the
// deployments the account is either side of (its certificates', or onto its agents), keyset
// pages by id.
Result<net::HttpResponse> ListDeployments(ApiDeps& deps, const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(ListRequest l,
                      ParseListRequest(deps, ctx, "deployments",
                                       {"limit", "cursor", "account", "certificate", "state"},
                                       Action::kDeploymentRead));
  const ListQuery& q = l.query;
  const PageRequest& page = l.page;
  store::DeploymentFilter f{.limit = page.fetch(), .after_id = page.after_id()};
  CF_ASSIGN_OR_RETURN(f.certificate_id, QueryText(q, "certificate", 128));
  CF_ASSIGN_OR_RETURN(auto state,
                      QueryChoice(q, "state", {"running", "succeeded", "failed", "no_targets"}));
  if (state) {
    CF_ASSIGN_OR_RETURN(f.state, model::ParseDeploymentState(*state));
  }
  f.party_account_id = l.account.id;
  CF_ASSIGN_OR_RETURN(auto tx, deps.store.BeginRead());
  CF_ASSIGN_OR_RETURN(auto rows, tx->deployments().List(f));
  return JsonResponse(200, PageJson(rows, page, DeploymentJson, kById));
}

// GET /v1/inventory?certificate=|agent=&limit=&cursor=: one certificate's or one agent's
// placements, paged in memory by target id (bounded by that certificate's or host's targets).
Result<net::HttpResponse> ListInventory(ApiDeps& deps, const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(ListQuery q,
                      ListQuery::Parse(ctx.request, {"limit", "cursor", "certificate", "agent"}));
  CF_ASSIGN_OR_RETURN(PageRequest page, ParsePage(q, "inventory"));
  CF_ASSIGN_OR_RETURN(auto cert, q.One("certificate"));
  CF_ASSIGN_OR_RETURN(auto agent, q.One("agent"));
  if (cert.has_value() == agent.has_value()) {
    return InvalidArgument("give exactly one of ?certificate=ID and ?agent=ID");
  }
  std::vector<lifecycle::InventoryRow> rows;
  if (cert) {
    CF_ASSIGN_OR_RETURN(rows, deps.deployments.InventoryForCertificate(*ctx.caller, *cert));
  } else {
    CF_ASSIGN_OR_RETURN(rows, deps.deployments.InventoryForAgent(*ctx.caller, *agent));
  }
  auto key = [](const lifecycle::InventoryRow& r) { return RowKey{0, r.target.id}; };
  return JsonResponse(200,
                      PageJson(PageInMemory(std::move(rows), page, key), page, InventoryJson, key));
}

}  // namespace

void AddDeploymentRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  AddRoute(router, "POST", "/v1/deployments", Action::kDeploymentWrite, "deployment.create",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(std::string cert, body.String("certificate", 128));
             CF_ASSIGN_OR_RETURN(auto target, body.OptString("target_account", 128));
             CF_ASSIGN_OR_RETURN(auto selector, body.OptStringMap("selector"));
             CF_ASSIGN_OR_RETURN(std::string profile, body.String("profile", 64));
             CF_ASSIGN_OR_RETURN(auto deadline_text, body.OptString("deadline", 32));
             CF_TRY(body.NoOtherFields());
             lifecycle::NewDeployment spec;
             spec.certificate_id = cert;
             spec.selector = selector.value_or(model::Tags{});
             spec.profile = profile;
             if (deadline_text) {
               CF_ASSIGN_OR_RETURN(Seconds d, ParseDuration(*deadline_text));
               spec.deadline = d;
             }
             if (target && !target->empty()) {
               // Resolve the name without checking the caller's rights on it: the grant decides,
               // and an unknown account is refused with the same words as one without a grant.
               auto account = deps.governance.ResolveAccount(*target);
               if (!account.ok() && account.error().code() != ErrorCode::kNotFound) {
                 return std::move(account).error();
               }
               spec.target_account_id = account.ok() ? account->id : "unknown:" + *target;
             }
             CF_ASSIGN_OR_RETURN(model::Deployment dep, deps.deployments.Create(*ctx.caller, spec));
             ctx.audit_resource = dep.id;
             CF_ASSIGN_OR_RETURN(auto view, deps.deployments.Get(*ctx.caller, dep.id));
             net::HttpResponse r = JsonResponse(201, DeploymentViewJson(view));
             r.headers["Location"] = "/v1/deployments/" + dep.id;
             return r;
           });
  AddRoute(router, "GET", "/v1/deployments", Action::kDeploymentRead, "deployment.list",
           [&deps](const RequestContext& ctx) { return ListDeployments(deps, ctx); });
  AddRoute(router, "GET", "/v1/deployments/{id}", Action::kDeploymentRead, "deployment.read",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(auto view, deps.deployments.Get(*ctx.caller, ctx.params.at("id")));
             return JsonResponse(200, DeploymentViewJson(view));
           });
  AddRoute(router, "POST", "/v1/deployments/{id}/redeploy", Action::kDeploymentWrite,
           "deployment.redeploy", [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(model::Deployment dep,
                                 deps.deployments.Redeploy(*ctx.caller, ctx.params.at("id")));
             CF_ASSIGN_OR_RETURN(auto view, deps.deployments.Get(*ctx.caller, dep.id));
             return JsonResponse(202, DeploymentViewJson(view));
           });
  AddRoute(router, "GET", "/v1/inventory", Action::kDeploymentRead, "inventory.read",
           [&deps](const RequestContext& ctx) { return ListInventory(deps, ctx); });
}

}  // namespace certfleet::api
