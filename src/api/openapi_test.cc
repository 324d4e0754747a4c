// The OpenAPI document (openapi.h) against the router: every route is documented and every
// documented operation is a route, with its path parameters, its security as the route is
// actually authenticated, and the problem document for errors. A route added without its entry in
// src/api/openapi.json fails here, naming the method and path to add.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <regex>
#include <set>

#include "api/api_service.h"
#include "api/api_test_env.h"
#include "api/openapi.h"
#include "lifecycle/tokens.h"

namespace certfleet::api {
namespace {

using nlohmann::json;

constexpr const char* kMethods[] = {"get", "put", "post", "delete", "patch", "head", "options"};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// The {names} of a path pattern, in order.
std::vector<std::string> PathParams(const std::string& path) {
  std::vector<std::string> out;
  static const std::regex kParam(R"(\{([^}]+)\})");
  for (std::sregex_iterator it(path.begin(), path.end(), kParam), end; it != end; ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

class OpenApiTest : public ::testing::Test {
 protected:
  OpenApiTest()
      : doc_(json::parse(std::string(OpenApiDocument()), nullptr, /*allow_exceptions=*/false)) {}

  // Follows a local "$ref" ("#/components/parameters/id"); anything else is returned as is.
  const json& Resolve(const json& node) const {
    if (!node.is_object() || !node.contains("$ref")) return node;
    const std::string ref = node["$ref"];
    EXPECT_EQ(ref.rfind("#/", 0), 0u) << "only local references: " << ref;
    const json& target = doc_.at(json::json_pointer(ref.substr(1)));
    return Resolve(target);
  }

  // Every documented operation as "GET /v1/x" -> its object.
  std::map<std::string, const json*> Operations() const {
    std::map<std::string, const json*> out;
    for (const auto& [path, item] : doc_["paths"].items()) {
      for (const char* m : kMethods) {
        if (item.contains(m)) out[Upper(m) + " " + path] = &item[m];
      }
    }
    return out;
  }

  std::string AdminToken() {
    auto tx = stack_.env.store->Begin();
    EXPECT_TRUE(tx.ok());
    EXPECT_TRUE((*tx)->accounts().Insert({"acc_doc", "doc", stack_.env.clock.Now()}).ok());
    model::Principal p;
    p.id = "prn_doc";
    p.account_id = "acc_doc";
    p.name = "admin";
    p.role = model::Role::kAdmin;
    p.created_at = stack_.env.clock.Now();
    EXPECT_TRUE((*tx)->principals().Insert(p).ok());
    lifecycle::NewToken t = lifecycle::GenerateApiToken(SystemRandomSource());
    EXPECT_TRUE((*tx)
                    ->tokens()
                    .Insert({.id = "tok_doc",
                             .principal_id = p.id,
                             .hash_hex = t.hash_hex,
                             .created_at = stack_.env.clock.Now()})
                    .ok());
    EXPECT_TRUE((*tx)->Commit().ok());
    return std::string(t.token.view());
  }

  json doc_;
  ApiStack stack_;
};

TEST_F(OpenApiTest, IsAnOpenApi3DocumentWithBearerAndProblemDocuments) {
  ASSERT_TRUE(doc_.is_object()) << "src/api/openapi.json is not valid JSON";
  ASSERT_TRUE(doc_["openapi"].is_string());
  EXPECT_EQ(doc_["openapi"].get<std::string>().rfind("3.", 0), 0u) << doc_["openapi"];
  EXPECT_TRUE(doc_["info"]["title"].is_string());
  EXPECT_TRUE(doc_["info"]["version"].is_string());
  EXPECT_NE(doc_["info"]["description"].get<std::string>().find("RFC 8555"), std::string::npos)
      << "the description says why /acme/ is not in the document";
  const json& bearer = doc_["components"]["securitySchemes"]["bearerAuth"];
  EXPECT_EQ(bearer["type"], "http");
  EXPECT_EQ(bearer["scheme"], "bearer");
  EXPECT_EQ(doc_["security"], json::array({{{"bearerAuth", json::array()}}}));
  const json& problem = doc_["components"]["schemas"]["Problem"];
  for (const char* member : {"type", "title", "status", "detail"}) {
    EXPECT_TRUE(problem["properties"].contains(member)) << member;
  }
  // The problem type enumeration is the decoder's vocabulary: one per error code.
  EXPECT_EQ(problem["properties"]["type"]["enum"].size(), 12u);
}

TEST_F(OpenApiTest, EveryRouteIsDocumentedAndEveryOperationIsARoute) {
  ASSERT_TRUE(doc_.is_object());
  auto documented = Operations();
  std::set<std::string> routed;
  for (const auto& route : stack_.api->router().routes()) {
    const std::string key = route.method + " " + route.pattern;
    routed.insert(key);
    EXPECT_TRUE(documented.count(key))
        << key << " is a route but not in src/api/openapi.json: add \"" << Lower(route.method)
        << "\" under \"paths\": \"" << route.pattern << "\" (docs/api.md \"OpenAPI\")";
  }
  for (const auto& [key, op] : documented) {
    EXPECT_TRUE(routed.count(key)) << key << " is in src/api/openapi.json but the router has no "
                                   << "such route: remove it, or fix its method or path";
  }
  // /acme/ is the RFC 8555 server's, outside the router and outside the document.
  for (const auto& [path, item] : doc_["paths"].items()) EXPECT_NE(path.rfind("/acme/", 0), 0u);
}

TEST_F(OpenApiTest, SecurityIsWhatTheRouteChecks) {
  ASSERT_TRUE(doc_.is_object());
  auto documented = Operations();
  for (const auto& route : stack_.api->router().routes()) {
    const std::string key = route.method + " " + route.pattern;
    if (!documented.count(key)) continue;  // reported above
    const json& op = *documented[key];
    if (route.handler.agent_auth) {
      EXPECT_EQ(op.value("security", json()), json::array({{{"agentCertificate", json::array()}}}))
          << key << ": authenticated by the agent's client certificate";
    } else if (!route.handler.authenticated || route.handler.token_in_body) {
      // A login (POST /v1/session) carries its token in the body, not in a header.
      EXPECT_EQ(op.value("security", json()), json::array()) << key << ": needs no token header";
    } else {
      EXPECT_FALSE(op.contains("security")) << key << ": bearer token (the document's default)";
    }
  }
}

TEST_F(OpenApiTest, EveryOperationIsComplete) {
  ASSERT_TRUE(doc_.is_object());
  std::set<std::string> ids;
  for (const auto& [key, op_ptr] : Operations()) {
    const json& op = *op_ptr;
    const std::string path = key.substr(key.find(' ') + 1);
    ASSERT_TRUE(op.is_object()) << key;
    const std::string id = op.value("operationId", "");
    EXPECT_FALSE(id.empty()) << key << ": operationId";
    EXPECT_TRUE(ids.insert(id).second) << key << ": operationId " << id << " is used twice";
    EXPECT_FALSE(op.value("summary", "").empty()) << key << ": summary";

    // Path parameters: exactly those of the path, each required.
    std::set<std::string> declared;
    for (const json& p : op.value("parameters", json::array())) {
      const json& param = Resolve(p);
      EXPECT_TRUE(param.contains("name") && param.contains("in") && param.contains("schema"))
          << key << ": " << param.dump();
      if (param.value("in", "") == "path") {
        EXPECT_EQ(param.value("required", false), true) << key << ": " << param["name"];
        declared.insert(param.value("name", ""));
      }
    }
    const auto in_path = PathParams(path);
    EXPECT_EQ(declared, std::set<std::string>(in_path.begin(), in_path.end()))
        << key << ": the path parameters declared differ from the path's";

    // A body, when there is one, is a JSON object with its fields.
    if (op.contains("requestBody")) {
      const json& schema = Resolve(op["requestBody"]["content"]["application/json"]["schema"]);
      EXPECT_EQ(schema.value("type", ""), "object") << key;
      EXPECT_TRUE(schema["properties"].is_object()) << key;
    }
    EXPECT_TRUE(op.contains("requestBody") ||
                (key.rfind("PUT ", 0) != 0 && key.rfind("PATCH ", 0) != 0))
        << key << ": PUT and PATCH take a body";

    // One success answer, and problem documents for everything else.
    const json& responses = op["responses"];
    int successes = 0;
    for (const auto& [status, r] : responses.items()) {
      if (status.size() == 3 && status[0] == '2') ++successes;
    }
    EXPECT_EQ(successes, 1) << key;
    ASSERT_TRUE(responses.contains("default")) << key;
    EXPECT_TRUE(Resolve(responses["default"])["content"].contains("application/problem+json"))
        << key;
  }
}

TEST_F(OpenApiTest, ListEndpointsKnowEveryDocumentedQueryParameter) {
  ASSERT_TRUE(doc_.is_object());
  const std::string token = AdminToken();
  int checked = 0;
  for (const auto& [key, op_ptr] : Operations()) {
    if (key.rfind("GET ", 0) != 0 || key.find('{') != std::string::npos) continue;
    for (const json& p : op_ptr->value("parameters", json::array())) {
      const json& param = Resolve(p);
      if (param.value("in", "") != "query") continue;
      const std::string name = param["name"];
      const json& schema = param["schema"];
      // A value of the documented kind; whether the server likes it does not matter here, only
      // that the parameter is not refused as unknown (ListQuery::Parse).
      std::string value = "x";
      if (schema.contains("enum")) value = schema["enum"][0];
      if (schema.value("type", "") == "integer") value = "1";
      if (schema.value("format", "") == "date-time") value = "2026-01-01T00:00:00Z";
      if (name == "account") value = "acc_doc";
      net::HttpRequest r;
      r.method = "GET";
      r.target = key.substr(4) + "?" + name + "=" + value;
      r.headers["authorization"] = "Bearer " + token;
      r.remote_address = "127.0.0.1:1";
      net::HttpResponse answer = stack_.api->Handle(r);
      EXPECT_EQ(answer.body.find("unknown query parameter"), std::string::npos)
          << key << " documents ?" << name << " but refuses it: " << answer.body;
      ++checked;
    }
  }
  EXPECT_GT(checked, 10);
}

TEST_F(OpenApiTest, IsServedWithoutAToken) {
  net::HttpRequest r;
  r.method = "GET";
  r.target = "/v1/openapi.json";
  r.remote_address = "127.0.0.1:1";
  net::HttpResponse answer = stack_.api->Handle(r);
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.headers["Content-Type"], "application/json");
  EXPECT_EQ(json::parse(answer.body), doc_);
}

}  // namespace
}  // namespace certfleet::api
