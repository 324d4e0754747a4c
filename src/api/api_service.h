// ApiService: the REST front end. Maps HTTP requests to lifecycle calls: authenticates, routes,
// parses and validates bodies, renders results and problem documents. It knows nothing about
// sockets (net::HttpsServer calls Handle() on its worker threads). Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/auth.h"
#include <nlohmann/json.hpp>

#include "api/router.h"
#include "base/clock.h"
#include "base/random.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/export_service.h"
#include "net/http.h"
#include "store/store.h"

namespace certfleet::api {

struct RequestContext {
  const net::HttpRequest& request;
  const lifecycle::Caller* caller;  // null on public routes
  PathParams params;
  std::string request_id;
};

using RouteHandler = std::function<Result<net::HttpResponse>(const RequestContext&)>;

struct RouteSpec {
  RouteHandler handler;
  bool authenticated = true;
};

struct ApiDeps {
  store::Store& store;
  const Clock& clock;
  Random& random;
  lifecycle::CertificateService& certificates;
  lifecycle::ExportService& exports;
};

class ApiService {
 public:
  explicit ApiService(ApiDeps deps);
  net::HttpResponse Handle(const net::HttpRequest& request);
  const Router<RouteSpec>& router() const { return router_; }

 private:
  void AddRoutes();
  Result<net::HttpResponse> Health(const RequestContext& ctx);
  Result<net::HttpResponse> CreateCertificate(const RequestContext& ctx);
  Result<net::HttpResponse> ListCertificates(const RequestContext& ctx);
  Result<net::HttpResponse> GetCertificate(const RequestContext& ctx);
  Result<net::HttpResponse> ExportCertificate(const RequestContext& ctx);

  ApiDeps deps_;
  Authenticator auth_;
  Router<RouteSpec> router_;
};

// A JSON response with the given status.
net::HttpResponse JsonResponse(int status, const nlohmann::json& body);

}  // namespace certfleet::api
