// /v1/issuers and /v1/solvers beyond authorization (authz_matrix_test.cc): request validation,
// write-only secrets, and an issuer whose directory cannot be reached. No CA is contacted
// successfully here; the end-to-end tests against Pebble live in test/e2e.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "api/api_service.h"
#include "api/api_test_env.h"
#include "lifecycle/acme_config_service.h"

namespace certfleet::api {
namespace {

using nlohmann::json;

// A TSIG key file as `tsig-keygen` writes it; the secret must never come back.
constexpr char kTsigSecret[] = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==";
const std::string kTsigKeyFile = std::string("key \"certfleet\" {\n\talgorithm hmac-sha256;\n") +
                                 "\tsecret \"" + kTsigSecret + "\";\n};\n";
// Nothing listens on port 1: registering the ACME account must fail at once.
constexpr char kUnreachableDirectory[] = "https://127.0.0.1:1/dir";

class AcmeApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // certfleetd's configuration names the programs (issue #13): "hook" for alpha, "beta-hook"
    // for beta only.
    programs_["hook"] = {.name = "hook",
                         .program = "/bin/true",
                         .args = {"--zone", "example.test"},
                         .accounts = {"alpha"}};
    programs_["beta-hook"] = {.name = "beta-hook", .program = "/bin/true", .accounts = {"beta"}};
    acme_ = std::make_unique<lifecycle::AcmeConfigService>(
        *stack_.env.store, *stack_.env.secret_store, stack_.env.clock, SystemRandomSource(),
        lifecycle::AcmeConfigOptions{.request_timeout = std::chrono::milliseconds(5000),
                                     .exec_programs = &programs_});
    stack_.api = std::make_unique<ApiService>(ApiDeps{
        *stack_.env.store, stack_.env.clock, SystemRandomSource(), *stack_.certs, *stack_.exports,
        *stack_.governance, *stack_.secrets, *stack_.audit, *stack_.deployments, *stack_.agents,
        nullptr, stack_.webhooks.get(), MetricsOptions{}, acme_.get()});
    alpha_ = *stack_.governance->CreateAccount("alpha");
    ASSERT_TRUE(stack_.governance->CreateAccount("beta").ok());
    auto p = stack_.governance->CreatePrincipal(
        {alpha_.id, "admin", model::PrincipalKind::kUser, model::Role::kAdmin, {}});
    ASSERT_TRUE(p.ok());
    token_ = std::string(stack_.governance->CreateToken(*p, std::nullopt)->token.view());
  }

  net::HttpResponse Call(const std::string& method, const std::string& target,
                         const std::string& body = "") {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.remote_address = "127.0.0.1:1";
    if (!body.empty()) r.headers["content-type"] = "application/json";
    r.headers["authorization"] = "Bearer " + token_;
    return stack_.api->Handle(r);
  }

  // Expects a problem document with `status` whose detail contains `needle`.
  static void ExpectProblem(const net::HttpResponse& r, int status, const std::string& needle) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.headers.at("Content-Type"), "application/problem+json");
    const json p = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(p.is_object()) << r.body;
    EXPECT_NE(p.value("detail", "").find(needle), std::string::npos)
        << "detail lacks \"" << needle << "\": " << r.body;
  }

  static json Issuer() {
    return {{"name", "le"}, {"type", "acme"}, {"directory_url", kUnreachableDirectory}};
  }
  static json Rfc2136() {
    return {{"name", "dns"},
            {"type", "rfc2136"},
            {"server", "127.0.0.1:53"},
            {"tsig_key", kTsigKeyFile}};
  }
  static json Exec() { return {{"name", "hook"}, {"type", "exec"}, {"program", "hook"}}; }

  acme::ExecPrograms programs_;
  ApiStack stack_;
  std::unique_ptr<lifecycle::AcmeConfigService> acme_;
  model::Account alpha_;
  std::string token_;
};

TEST_F(AcmeApiTest, WithoutServiceAnswers503) {
  ApiStack plain;  // ApiDeps::acme left null
  auto account = plain.governance->CreateAccount("alpha");
  ASSERT_TRUE(account.ok());
  auto p = plain.governance->CreatePrincipal(
      {account->id, "admin", model::PrincipalKind::kUser, model::Role::kAdmin, {}});
  ASSERT_TRUE(p.ok());
  const std::string token(plain.governance->CreateToken(*p, std::nullopt)->token.view());
  for (const auto& [method, target] : {std::pair<std::string, std::string>{"POST", "/v1/issuers"},
                                       {"GET", "/v1/issuers"},
                                       {"GET", "/v1/issuers/le"},
                                       {"POST", "/v1/solvers"},
                                       {"GET", "/v1/solvers"},
                                       {"GET", "/v1/solvers/dns"}}) {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    r.remote_address = "127.0.0.1:1";
    if (method == "POST") {
      r.body = Exec().dump();
      r.headers["content-type"] = "application/json";
    }
    r.headers["authorization"] = "Bearer " + token;
    ExpectProblem(plain.api->Handle(r), 503, "ACME issuers are not configured");
  }
}

TEST_F(AcmeApiTest, IssuerValidation) {
  struct Case {
    const char* what;
    json body;
    std::string needle;
  };
  auto with = [](const char* key, json value) {
    json j = Issuer();
    j[key] = std::move(value);
    return j;
  };
  auto without = [](const char* key) {
    json j = Issuer();
    j.erase(key);
    return j;
  };
  const Case cases[] = {
      {"no name", without("name"), "field \"name\" is required"},
      {"no type", without("type"), "field \"type\" is required"},
      {"wrong type", with("type", "step-ca"), "field \"type\" must be \"acme\""},
      {"no directory", without("directory_url"), "field \"directory_url\" is required"},
      {"empty directory", with("directory_url", ""), "field \"directory_url\" is required"},
      {"unknown field", with("directroy", "x"), "unknown field \"directroy\""},
      {"secret field", with("account_key", "x"), "unknown field \"account_key\""},
      {"long name", with("name", std::string(65, 'a')), "field \"name\" is longer than 64"},
      {"long url", with("directory_url", "https://x/" + std::string(2048, 'a')),
       "field \"directory_url\" is longer than"},
      {"huge trust", with("trust_pem", std::string((1 << 20) + 1, 'A')),
       "field \"trust_pem\" is longer than"},
      {"contacts type", with("contacts", "ops@example.test"),
       "field \"contacts\" must be an array"},
      {"too many contacts", with("contacts", json(std::vector<std::string>(17, "a@example.test"))),
       "field \"contacts\" has more than 16"},
      {"eab kid alone", with("eab_kid", "kid-1"), "\"eab_kid\" and \"eab_hmac\" go together"},
      {"eab hmac alone", with("eab_hmac", "aGVsbG8"), "\"eab_kid\" and \"eab_hmac\" go together"},
      {"eab hmac type", with("eab_hmac", 42), "field \"eab_hmac\" must be a string"},
      {"long eab hmac", with("eab_hmac", std::string(1025, 'a')),
       "field \"eab_hmac\" is longer than 1024"},
      {"solvers type", with("solvers", "dns"), "field \"solvers\" must be an array"},
      {"bad solver rule", with("solvers", {":example.test"}), "field \"solvers\""},
      {"too many rules", with("solvers", json(std::vector<std::string>(65, "http01"))),
       "field \"solvers\" has more than 64"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ExpectProblem(Call("POST", "/v1/issuers", c.body.dump()), 400, c.needle);
  }
  ExpectProblem(Call("POST", "/v1/issuers", "[1]"), 400, "must be a JSON object");
  ExpectProblem(Call("POST", "/v1/issuers", "{\"name\":"), 400, "not valid JSON");
  // Nothing was stored.
  auto list = Call("GET", "/v1/issuers");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_TRUE(json::parse(list.body)["items"].empty());
}

TEST_F(AcmeApiTest, UnreachableDirectoryIsReportedAndNothingStored) {
  json body = Issuer();
  body["eab_kid"] = "kid-1";
  body["eab_hmac"] = "c2VjcmV0LWhtYWMta2V5LWZvci1lYWI";
  body["contacts"] = {"ops@example.test"};
  body["solvers"] = {"http01"};
  auto r = Call("POST", "/v1/issuers", body.dump());
  // Connection refused: the CA is unavailable (503), not the request invalid.
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("127.0.0.1:1"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("c2VjcmV0LWhtYWMta2V5LWZvci1lYWI"), std::string::npos);
  ExpectProblem(Call("GET", "/v1/issuers/le"), 404, "le");
  auto list = Call("GET", "/v1/issuers");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_TRUE(json::parse(list.body)["items"].empty());
}

TEST_F(AcmeApiTest, SolverRulesMustNameSolversOfTheAccount) {
  json body = Issuer();
  body["solvers"] = {"nosuch:example.test"};
  auto r = Call("POST", "/v1/issuers", body.dump());
  ExpectProblem(r, 400, "nosuch");
  // "http01" is built in; a solver of the account may be named once it exists.
  ASSERT_EQ(Call("POST", "/v1/solvers", Exec().dump()).status, 201);
  body["solvers"] = {"hook:example.test", "http01"};
  r = Call("POST", "/v1/issuers", body.dump());
  EXPECT_NE(r.status, 400) << r.body;  // it gets as far as the (unreachable) CA
  EXPECT_NE(r.body.find("127.0.0.1:1"), std::string::npos) << r.body;
}

TEST_F(AcmeApiTest, SolverValidation) {
  struct Case {
    const char* what;
    json body;
    std::string needle;
  };
  auto with = [](json j, const char* key, json value) {
    j[key] = std::move(value);
    return j;
  };
  auto without = [](json j, const char* key) {
    j.erase(key);
    return j;
  };
  const Case cases[] = {
      {"no name", without(Exec(), "name"), "field \"name\" is required"},
      {"no type", without(Exec(), "type"), "field \"type\" is required"},
      {"wrong type", with(Exec(), "type", "route53"),
       "must be \"rfc2136\", \"exec\" or \"agent-http01\""},
      {"selector on exec", with(Exec(), "selector", json{{"role", "web"}}),
       "field \"selector\" does not apply to solver type \"exec\""},
      {"agent-http01 without selector", json{{"name", "agents"}, {"type", "agent-http01"}},
       "field \"selector\" (the tags of the agents that serve the token) is required"},
      {"agent-http01 empty selector",
       json{{"name", "agents"}, {"type", "agent-http01"}, {"selector", json::object()}},
       "field \"selector\""},
      {"agent-http01 with a program",
       json{{"name", "agents"},
            {"type", "agent-http01"},
            {"selector", json{{"role", "web"}}},
            {"program", "/bin/true"}},
       "field \"program\" does not apply to solver type \"agent-http01\""},
      {"agent-http01 long timeout",
       json{{"name", "agents"},
            {"type", "agent-http01"},
            {"selector", json{{"role", "web"}}},
            {"timeout", "1h"}},
       "timeout must be between 1s and 10m"},
      {"unknown field", with(Exec(), "env", "X=1"), "unknown field \"env\""},
      {"no server", without(Rfc2136(), "server"), "field \"server\" (HOST:PORT) is required"},
      {"no key", without(Rfc2136(), "tsig_key"), "field \"tsig_key\""},
      {"key type", with(Rfc2136(), "tsig_key", json::array()), "\"tsig_key\" must be a string"},
      {"huge key", with(Rfc2136(), "tsig_key", std::string((64 << 10) + 1, 'k')),
       "field \"tsig_key\" is longer than 65536"},
      {"program on rfc2136", with(Rfc2136(), "program", "/bin/true"),
       "field \"program\" does not apply to solver type \"rfc2136\""},
      {"server on exec", with(Exec(), "server", "ns:53"),
       "field \"server\" does not apply to solver type \"exec\""},
      {"key on exec", with(Exec(), "tsig_key", kTsigKeyFile),
       "field \"tsig_key\" does not apply to solver type \"exec\""},
      {"no program", without(Exec(), "program"), "field \"program\" (the name of an exec program"},
      // Issue #13: no path and no argument ever comes from the API.
      {"relative program", with(Exec(), "program", "bin/hook"), "not a path"},
      {"absolute program", with(Exec(), "program", "/bin/sh"), "programs are named only there"},
      {"args", with(Exec(), "args", json{"-c", "touch /tmp/pwned"}),
       "programs and their arguments are named in certfleetd's configuration"},
      {"timeout on exec", with(Exec(), "timeout", "30s"),
       "timeout is set with the program in certfleetd's configuration"},
      {"bad timeout", with(Exec(), "timeout", "soon"), "field \"timeout\" must be a positive"},
      {"numeric timeout", with(Exec(), "timeout", 60), "field \"timeout\" must be a string"},
      {"too many args", with(Exec(), "args", json(std::vector<std::string>(65, "x"))),
       "field \"args\" has more than 64"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = Call("POST", "/v1/solvers", c.body.dump());
    ExpectProblem(r, 400, c.needle);
    EXPECT_EQ(r.body.find(kTsigSecret), std::string::npos);
  }
  auto list = Call("GET", "/v1/solvers");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_TRUE(json::parse(list.body)["items"].empty());
}

// Issue #13: a configured program is used only by the accounts it names; an unknown name
// answers the same (no list of configured programs leaks to other accounts).
TEST_F(AcmeApiTest, ExecProgramsOnlyForTheAccountsTheConfigurationNames) {
  auto other = Call("POST", "/v1/solvers",
                    json{{"name", "h2"}, {"type", "exec"}, {"program", "beta-hook"}}.dump());
  ExpectProblem(other, 403, "rule exec.not_allowed");
  auto unknown = Call("POST", "/v1/solvers",
                      json{{"name", "h3"}, {"type", "exec"}, {"program", "nope"}}.dump());
  ExpectProblem(unknown, 403, "rule exec.not_allowed");
  auto ok = Call("POST", "/v1/solvers", Exec().dump());
  ASSERT_EQ(ok.status, 201) << ok.body;
  const json v = json::parse(ok.body);
  EXPECT_EQ(v["config"]["program"], "hook");
  EXPECT_FALSE(v["config"].contains("args"));  // the arguments live in the configuration
}

TEST_F(AcmeApiTest, AgentHttp01SolverKeepsItsSelector) {
  auto r = Call("POST", "/v1/solvers",
                json{{"name", "agents"},
                     {"type", "agent-http01"},
                     {"selector", json{{"role", "web"}, {"site", "b"}}},
                     {"timeout", "2m"}}
                    .dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const json v = json::parse(r.body);
  EXPECT_EQ(v["type"], "agent-http01");
  EXPECT_EQ(v["config"]["selector"], (json{{"role", "web"}, {"site", "b"}}));
  EXPECT_EQ(v["config"]["timeout_seconds"], 120);
  auto shown = Call("GET", "/v1/solvers/agents");
  ASSERT_EQ(shown.status, 200) << shown.body;
  EXPECT_EQ(json::parse(shown.body)["config"]["selector"]["role"], "web");
}

TEST_F(AcmeApiTest, SolversAreCreatedListedAndShownWithoutSecrets) {
  auto dns = Call("POST", "/v1/solvers", Rfc2136().dump());
  ASSERT_EQ(dns.status, 201) << dns.body;
  EXPECT_EQ(dns.body.find(kTsigSecret), std::string::npos);
  const json d = json::parse(dns.body);
  EXPECT_EQ(d["kind"], "solver");
  EXPECT_EQ(d["name"], "dns");
  EXPECT_EQ(d["type"], "rfc2136");
  EXPECT_EQ(d["account_id"], alpha_.id);
  EXPECT_TRUE(d["config"].is_object());
  EXPECT_FALSE(d["has_eab"].get<bool>());
  for (const char* k : {"id", "created_by", "created_at", "updated_at"}) {
    EXPECT_TRUE(d.contains(k)) << k;
  }
  EXPECT_EQ(dns.headers.at("Location"), "/v1/solvers/dns");

  auto hook = Call("POST", "/v1/solvers", Exec().dump());
  ASSERT_EQ(hook.status, 201) << hook.body;
  EXPECT_EQ(json::parse(hook.body)["type"], "exec");

  // Names are unique per account and kind.
  auto again = Call("POST", "/v1/solvers", Exec().dump());
  EXPECT_EQ(again.status, 409) << again.body;

  auto list = Call("GET", "/v1/solvers");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.body.find(kTsigSecret), std::string::npos);
  const json items = json::parse(list.body)["items"];
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["name"], "dns");
  EXPECT_EQ(items[1]["name"], "hook");

  auto shown = Call("GET", "/v1/solvers/dns?account=alpha");
  ASSERT_EQ(shown.status, 200) << shown.body;
  EXPECT_EQ(json::parse(shown.body)["id"], d["id"]);
  EXPECT_EQ(shown.body.find(kTsigSecret), std::string::npos);
  ExpectProblem(Call("GET", "/v1/solvers/nope"), 404, "nope");
  // A solver is not an issuer.
  ExpectProblem(Call("GET", "/v1/issuers/dns"), 404, "dns");
  // Another account's solvers are not visible, and the account's existence is not revealed.
  ExpectProblem(Call("GET", "/v1/solvers?account=beta"), 404, "account \"beta\" not found");
}

TEST_F(AcmeApiTest, CreationIsAudited) {
  ASSERT_EQ(Call("POST", "/v1/solvers", Exec().dump()).status, 201);
  json bad = Exec();
  bad["type"] = "dns";
  ExpectProblem(Call("POST", "/v1/solvers", bad.dump()), 400, "must be");
  auto tx = stack_.env.store->Begin();
  auto records = (*tx)->audit().List({});
  ASSERT_TRUE(records.ok());
  int success = 0, failure = 0;
  for (const auto& rec : *records) {
    if (rec.action != "solver.create") continue;
    if (rec.outcome == model::AuditOutcome::kSuccess) ++success;
    if (rec.outcome == model::AuditOutcome::kFailure) ++failure;
  }
  EXPECT_EQ(success, 1);
  EXPECT_EQ(failure, 1);
}

}  // namespace
}  // namespace certfleet::api
