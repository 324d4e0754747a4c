#include "api/api_service.h"

#include "api/dto.h"
#include "api/json_body.h"
#include "api/problem.h"
#include "base/ids.h"
#include "base/log.h"

namespace certfleet::api {

net::HttpResponse JsonResponse(int status, const nlohmann::json& body) {
  net::HttpResponse r;
  r.status = status;
  r.headers["Content-Type"] = "application/json";
  r.body = body.dump();
  return r;
}

ApiService::ApiService(ApiDeps deps) : deps_(deps), auth_(deps.store, deps.clock) { AddRoutes(); }

void ApiService::AddRoutes() {
  auto bind = [this](auto method) {
    return [this, method](const RequestContext& ctx) { return (this->*method)(ctx); };
  };
  router_.Add("GET", "/healthz", {bind(&ApiService::Health), /*authenticated=*/false});
  router_.Add("POST", "/v1/certificates", {bind(&ApiService::CreateCertificate)});
  router_.Add("GET", "/v1/certificates", {bind(&ApiService::ListCertificates)});
  router_.Add("GET", "/v1/certificates/{id}", {bind(&ApiService::GetCertificate)});
  router_.Add("POST", "/v1/certificates/{id}/export", {bind(&ApiService::ExportCertificate)});
}

net::HttpResponse ApiService::Handle(const net::HttpRequest& request) {
  const std::string request_id = NewId("req", deps_.clock, deps_.random);
  auto finish = [&](net::HttpResponse r) {
    r.headers["X-Request-Id"] = request_id;
    log::Info("request", {{"method", request.method},
                          {"path", std::string(request.path())},
                          {"status", std::to_string(r.status)},
                          {"remote", request.remote_address},
                          {"request_id", request_id}});
    return r;
  };
  auto match = router_.Find(request.method, request.path());
  if (match.route == nullptr) {
    if (match.path_matched_other_method) {
      return finish(ProblemResponse(
          InvalidArgument("method " + request.method + " is not allowed here"), request_id, 405));
    }
    return finish(ProblemResponse(NotFound("no such route"), request_id));
  }
  std::optional<lifecycle::Caller> caller;
  if (match.route->handler.authenticated) {
    auto who = auth_.Authenticate(request.header("authorization"));
    if (!who.ok()) {
      log::Warn("authentication failed", {{"reason", who.error().message()},
                                          {"remote", request.remote_address},
                                          {"request_id", request_id}});
      return finish(ProblemResponse(who.error(), request_id));
    }
    caller = std::move(*who);
    caller->source_address = request.remote_address;
  }
  if (request.method == "POST" || request.method == "PUT" || request.method == "PATCH") {
    auto ct = request.header("content-type");
    if (!request.body.empty() && (!ct || ct->rfind("application/json", 0) != 0)) {
      return finish(ProblemResponse(
          InvalidArgument("request body must be sent as Content-Type: application/json"),
          request_id));
    }
  }
  RequestContext ctx{request, caller ? &*caller : nullptr, std::move(match.params), request_id};
  Result<net::HttpResponse> result = match.route->handler.handler(ctx);
  if (!result.ok()) return finish(ProblemResponse(result.error(), request_id));
  return finish(std::move(result).value());
}

Result<net::HttpResponse> ApiService::Health(const RequestContext&) {
  CF_ASSIGN_OR_RETURN(int schema, deps_.store.SchemaVersion());
  return JsonResponse(200, {{"status", "ok"}, {"schema_version", schema}});
}

Result<net::HttpResponse> ApiService::CreateCertificate(const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
  CF_ASSIGN_OR_RETURN(lifecycle::CertificateRequest req, ParseCertificateRequest(body));
  CF_ASSIGN_OR_RETURN(lifecycle::CertificateView view,
                      deps_.certificates.Request(*ctx.caller, req));
  net::HttpResponse r = JsonResponse(201, CertificateJson(view));
  r.headers["Location"] = "/v1/certificates/" + view.certificate.id;
  return r;
}

Result<net::HttpResponse> ApiService::ListCertificates(const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(auto views, deps_.certificates.List(*ctx.caller));
  nlohmann::json items = nlohmann::json::array();
  for (const auto& v : views) items.push_back(CertificateJson(v));
  return JsonResponse(200, {{"items", std::move(items)}});
}

Result<net::HttpResponse> ApiService::GetCertificate(const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(auto view, deps_.certificates.Get(*ctx.caller, ctx.params.at("id")));
  return JsonResponse(200, CertificateJson(view));
}

Result<net::HttpResponse> ApiService::ExportCertificate(const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
  CF_ASSIGN_OR_RETURN(auto passphrase, body.OptSecret("passphrase", 1024));
  CF_TRY(body.NoOtherFields());
  CF_ASSIGN_OR_RETURN(auto result,
                      deps_.exports.Export(*ctx.caller, ctx.params.at("id"), std::move(passphrase)));
  return JsonResponse(200, ExportJson(result));
}

}  // namespace certfleet::api
