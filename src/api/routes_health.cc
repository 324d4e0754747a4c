// GET /healthz and GET /readyz: unauthenticated, for load balancers and supervisors (issue #15,
// docs/api.md "Health and readiness"). Neither names anything but the schema version: no hosts,
// no paths, no error text from below (that goes to the log).
// GET /v1/openapi.json: the API's description (openapi.h), public like the other two: it names
// routes and fields, nothing of this deployment.
//
// /healthz: is this process alive and does its store answer? One cheap store round trip (the
// schema version, read in a read transaction); 503 when the store does not answer.
// /readyz: should a load balancer send this replica traffic? Not while it starts, not while it
// drains after SIGTERM (Readiness), not while its store does not answer.
#include <chrono>
#include <cmath>

#include "api/api_service.h"
#include "api/openapi.h"
#include "api/problem.h"
#include "api/readiness.h"
#include "base/log.h"

namespace certfleet::api {
namespace {

struct StoreProbe {
  Result<int> schema_version;
  double latency_ms;
};

// Measured on the monotonic clock: an observation of this process, not an input to a decision.
StoreProbe ProbeStore(store::Store& store) {
  const auto started = std::chrono::steady_clock::now();
  Result<int> version = store.SchemaVersion();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (!version.ok()) {
    log::Warn("the store did not answer the health probe", {{"error", version.error().ToString()}});
  }
  return {std::move(version), std::round(ms * 1000) / 1000};
}

// The 503 of a probe: our own words (Error::ForClients), the store's delay if it named one.
net::HttpResponse NotAnswering(const RequestContext& ctx, std::string_view what,
                               std::optional<std::chrono::seconds> retry_after,
                               nlohmann::json extensions) {
  Error e = Unavailable(std::string(what)).ForClients();
  e.WithRetry(retry_after);
  return ProblemResponse(e, ctx.request_id, 0, extensions);
}

RouteSpec Public(RouteHandler handler) {
  RouteSpec spec;
  spec.authenticated = false;
  spec.handler = std::move(handler);
  return spec;
}

}  // namespace

void AddHealthRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  router.Add(
      "GET", "/healthz", Public([&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
        StoreProbe probe = ProbeStore(deps.store);
        if (!probe.schema_version.ok()) {
          return NotAnswering(ctx, "the store is not answering",
                              probe.schema_version.error().retry_after(),
                              {{"store", {{"ok", false}, {"latency_ms", probe.latency_ms}}}});
        }
        const int version = *probe.schema_version;
        return JsonResponse(
            200, {{"status", "ok"},
                  {"schema_version", version},
                  {"store",
                   {{"ok", true}, {"schema_version", version}, {"latency_ms", probe.latency_ms}}}});
      }));
  router.Add("GET", "/readyz",
             Public([&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
               auto not_ready = [&](std::string_view reason, std::string_view what,
                                    std::optional<std::chrono::seconds> retry_after) {
                 return NotAnswering(ctx, what, retry_after,
                                     {{"ready", false}, {"reason", std::string(reason)}});
               };
               const Readiness::Phase phase =
                   deps.readiness ? deps.readiness->phase() : Readiness::Phase::kServing;
               if (phase == Readiness::Phase::kStarting) {
                 return not_ready("starting", "this replica is starting", std::nullopt);
               }
               if (phase == Readiness::Phase::kDraining) {
                 return not_ready("draining", "this replica is shutting down", std::nullopt);
               }
               StoreProbe probe = ProbeStore(deps.store);
               if (!probe.schema_version.ok()) {
                 return not_ready("store", "the store is not answering",
                                  probe.schema_version.error().retry_after());
               }
               return JsonResponse(200, {{"ready", true}});
             }));
  router.Add("GET", "/v1/openapi.json",
             Public([](const RequestContext&) -> Result<net::HttpResponse> {
               net::HttpResponse r;
               r.headers["Content-Type"] = "application/json";
               r.body = std::string(OpenApiDocument());
               return r;
             }));
}

}  // namespace certfleet::api
