// /v1/deployments and /v1/inventory (docs/agents.md).
#include "api/api_service.h"
#include "api/dto.h"
#include "api/json_body.h"
#include "base/time_util.h"

namespace certfleet::api {

void AddDeploymentRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  using policy::Action;
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
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(
                 model::Account account,
                 TargetAccount(deps, ctx, ctx.request.query("account"), Action::kDeploymentRead));
             CF_ASSIGN_OR_RETURN(
                 auto list, deps.deployments.List(account.id, ctx.request.query("certificate")));
             nlohmann::json items = nlohmann::json::array();
             for (const auto& d : list) items.push_back(DeploymentJson(d));
             return JsonResponse(200, {{"items", std::move(items)}});
           });
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
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             auto cert = ctx.request.query("certificate");
             auto agent = ctx.request.query("agent");
             if (cert.has_value() == agent.has_value()) {
               return InvalidArgument("give exactly one of ?certificate=ID and ?agent=ID");
             }
             std::vector<lifecycle::InventoryRow> rows;
             if (cert) {
               CF_ASSIGN_OR_RETURN(rows,
                                   deps.deployments.InventoryForCertificate(*ctx.caller, *cert));
             } else {
               CF_ASSIGN_OR_RETURN(rows, deps.deployments.InventoryForAgent(*ctx.caller, *agent));
             }
             nlohmann::json items = nlohmann::json::array();
             for (const auto& r : rows) items.push_back(InventoryJson(r));
             return JsonResponse(200, {{"items", std::move(items)}});
           });
}

}  // namespace certfleet::api
