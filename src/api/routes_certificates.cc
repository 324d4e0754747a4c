// /v1/certificates: request, list, show, export.
#include "api/api_service.h"
#include "api/dto.h"
#include "api/json_body.h"

namespace certfleet::api {

void AddCertificateRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  using policy::Action;
  AddRoute(router, "POST", "/v1/certificates", Action::kCertificateRequest, "certificate.request",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(lifecycle::CertificateRequest req, ParseCertificateRequest(body));
             CF_ASSIGN_OR_RETURN(lifecycle::CertificateView view,
                                 deps.certificates.Request(*ctx.caller, req));
             ctx.audit_resource = view.certificate.id;
             net::HttpResponse r = JsonResponse(201, CertificateJson(view));
             r.headers["Location"] = "/v1/certificates/" + view.certificate.id;
             return r;
           });
  AddRoute(router, "GET", "/v1/certificates", Action::kCertificateRead, "certificate.list",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(auto views, deps.certificates.List(*ctx.caller));
             nlohmann::json items = nlohmann::json::array();
             for (const auto& v : views) items.push_back(CertificateJson(v));
             return JsonResponse(200, {{"items", std::move(items)}});
           });
  AddRoute(router, "GET", "/v1/certificates/{id}", Action::kCertificateRead, "certificate.read",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(auto view,
                                 deps.certificates.Get(*ctx.caller, ctx.params.at("id")));
             return JsonResponse(200, CertificateJson(view));
           });
  AddRoute(router, "POST", "/v1/certificates/{id}/export", Action::kCertificateExport,
           "certificate.export", [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(auto passphrase, body.OptSecret("passphrase", 1024));
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(auto result, deps.exports.Export(*ctx.caller, ctx.params.at("id"),
                                                                  std::move(passphrase)));
             return JsonResponse(200, ExportJson(result));
           });
}

}  // namespace certfleet::api
