// The OpenAPI 3.1 document of the REST API, served at GET /v1/openapi.json without a token
// (routes_health.cc). Its source is src/api/openapi.json, compiled into the binary at build time
// (openapi_embed.cmake). openapi_test.cc checks it against the router: every route is in the
// document and every path of the document is a route, so a route added without its entry fails
// the build's tests (docs/api.md "OpenAPI" says how to add one).
#pragma once

#include <string_view>

namespace certfleet::api {

// The document's JSON text; static storage, thread-safe.
std::string_view OpenApiDocument();

}  // namespace certfleet::api
