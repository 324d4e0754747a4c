// /v1/certificates: request, list, show, export, renew, revoke; and the internal CA's CRL.
#include "api/api_service.h"
#include "api/dto.h"
#include "api/json_body.h"
#include "base/time_util.h"

namespace certfleet::api {
namespace {

// The stable, public URL of the internal CA's CRL (named in its certificates' CRL Distribution
// Points; certfleetd derives CaOptions::crl_url from its listener and this path).
constexpr char kInternalCrlPath[] = "/crl/intermediate.crl";

nlohmann::json RevocationJson(const lifecycle::RevocationView& r) {
  nlohmann::json j = CertificateJson(r.view);
  nlohmann::json revoked = nlohmann::json::array();
  for (const model::Revocation& v : r.revoked) {
    revoked.push_back(
        {{"serial", v.serial_hex},
         {"version_id", v.version_id},
         {"reason", x509::RevocationReasonName(static_cast<x509::RevocationReason>(v.reason))},
         {"revoked_at", FormatRfc3339(v.revoked_at)}});
  }
  j["revoked_versions"] = std::move(revoked);
  return j;
}

}  // namespace

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
  AddRoute(router, "POST", "/v1/certificates/{id}/renew", Action::kCertificateRenew,
           "certificate.renew", [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(auto reuse_key, body.OptBool("reuse_key"));
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(auto view,
                                 deps.certificates.Renew(*ctx.caller, ctx.params.at("id"),
                                                         {.reuse_key = reuse_key.value_or(false)}));
             return JsonResponse(200, CertificateJson(view));
           });
  AddRoute(router, "POST", "/v1/certificates/{id}/revoke", Action::kCertificateRevoke,
           "certificate.revoke", [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(auto reason_name, body.OptString("reason", 64));
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(x509::RevocationReason reason,
                                 x509::ParseRevocationReason(reason_name.value_or("unspecified")));
             CF_ASSIGN_OR_RETURN(
                 auto revoked, deps.certificates.Revoke(*ctx.caller, ctx.params.at("id"), reason));
             return JsonResponse(200, RevocationJson(revoked));
           });

  // Public: relying parties fetch the CRL without credentials (RFC 5280 4.2.1.13).
  RouteSpec crl;
  crl.authenticated = false;
  crl.handler = [&deps](const RequestContext&) -> Result<net::HttpResponse> {
    CF_ASSIGN_OR_RETURN(std::string der, deps.certificates.CurrentCrl("internal"));
    net::HttpResponse r;
    r.status = 200;
    r.headers["Content-Type"] = "application/pkix-crl";  // RFC 5280 4.2.1.13
    r.headers["Cache-Control"] = "max-age=60";
    r.body = std::move(der);
    return r;
  };
  router.Add("GET", kInternalCrlPath, std::move(crl));
}

}  // namespace certfleet::api
