// The authorization matrix (issue #3): every route x every role x own, foreign and unknown
// resources, with the expected status. The routes come from the router itself, so a new route
// without an entry here fails the test.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <sstream>

#include "api/api_service.h"
#include "api/api_test_env.h"
#include "crypto/key.h"
#include "fakes/pki_env.h"
#include "lifecycle/acme_config_service.h"
#include "lifecycle/issuers/internal_issuer.h"
#include "x509/csr.h"

namespace certfleet::api {
namespace {

using nlohmann::json;

enum Variant { kOwn, kForeign, kUnknown };
const char* kVariantNames[] = {"own", "foreign", "unknown"};
// Subjects, in the column order of the expectations below. All but the last live in "alpha";
// the last is an admin of "default", i.e. a system administrator. The tenant rows run a second
// time from the other account's side (kBetaSubjects, with "own" and "foreign" swapped), so the
// matrix covers an admin, an operator and an auditor of two accounts.
const char* kSubjects[] = {"admin", "operator", "auditor", "agent", "sysadmin"};
const char* kBetaSubjects[] = {"beta-admin", "beta-operator", "beta-auditor"};

struct Call {
  std::string method, target, body;
};

// The expected statuses, defined after the fixture (kExpected).
const std::map<std::string, std::vector<std::string>>& Expected();

class AuthzMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The stack's ApiService has no ACME service; this one does.
    // Exec programs are named in certfleetd's configuration (issue #13).
    exec_programs_["hook-program"] = {
        .name = "hook-program", .program = "/bin/true", .accounts = {"*"}};
    acme_ = std::make_unique<lifecycle::AcmeConfigService>(
        *env_.store, *env_.secret_store, env_.clock, SystemRandomSource(),
        lifecycle::AcmeConfigOptions{.exec_programs = &exec_programs_});
    api_ = std::make_unique<ApiService>(
        ApiDeps{*env_.store, env_.clock, SystemRandomSource(), *stack_.certs, *stack_.exports,
                *gov_, *stack_.secrets, *audit_, *stack_.deployments, *stack_.agents, nullptr,
                stack_.webhooks.get(), MetricsOptions{}, acme_.get()});
    sys_ = *gov_->CreateAccount("default");
    alpha_ = *gov_->CreateAccount("alpha");
    beta_ = *gov_->CreateAccount("beta");
    tokens_["admin"] = Token(alpha_.id, "admin", model::Role::kAdmin, {});
    tokens_["operator"] = Token(alpha_.id, "operator", model::Role::kOperator, {});
    tokens_["auditor"] = Token(alpha_.id, "auditor", model::Role::kAuditor, {});
    tokens_["agent"] = Token(alpha_.id, "agent", model::Role::kAgent, {{"env", "dev"}});
    tokens_["sysadmin"] = Token(sys_.id, "root", model::Role::kAdmin, {});
    beta_admin_ = Token(beta_.id, "admin", model::Role::kAdmin, {});
    tokens_["beta-admin"] = beta_admin_;
    tokens_["beta-operator"] = Token(beta_.id, "operator", model::Role::kOperator, {});
    tokens_["beta-auditor"] = Token(beta_.id, "auditor", model::Role::kAuditor, {});
    // Both accounts may hold names under example.test (issue #13: domain claims).
    env_.ClaimDomain(alpha_.id, "example.test");
    env_.ClaimDomain(beta_.id, "example.test");

    own_cert_ = Post(tokens_["admin"], "/v1/certificates", CertBody("own"))["id"];
    foreign_cert_ = Post(beta_admin_, "/v1/certificates", CertBody("foreign"))["id"];
    own_secret_ = Post(tokens_["admin"], "/v1/certificates/" + own_cert_ + "/export",
                       "{}")["passphrase_secret_id"];
    foreign_secret_ = Post(beta_admin_, "/v1/certificates/" + foreign_cert_ + "/export",
                           "{}")["passphrase_secret_id"];
    own_principal_ = gov_->CreatePrincipal({alpha_.id, "target"})->id;
    foreign_principal_ = gov_->CreatePrincipal({beta_.id, "target"})->id;
    lifecycle::Caller sys{.principal_id = "prn_sys", .account_id = sys_.id};
    own_grant_ = gov_->CreateGrant(sys, beta_.id, alpha_.id)->id;
    foreign_grant_ = gov_->CreateGrant(sys, alpha_.id, beta_.id)->id;
    own_agent_ = EnrollAgent(alpha_.id);
    foreign_agent_ = EnrollAgent(beta_.id);
    own_deployment_ = Post(tokens_["admin"], "/v1/deployments", DeployBody(own_cert_))["id"];
    foreign_deployment_ = Post(beta_admin_, "/v1/deployments", DeployBody(foreign_cert_))["id"];
    own_webhook_ = Post(tokens_["admin"], "/v1/webhooks", WebhookBody("alpha"))["id"];
    foreign_webhook_ = Post(beta_admin_, "/v1/webhooks", WebhookBody("beta"))["id"];
    Post(tokens_["admin"], "/v1/solvers", SolverBody("alpha", "hook"));
    Post(beta_admin_, "/v1/solvers", SolverBody("beta", "hook"));
    // Creating an issuer registers an ACME account with a CA, which these tests do not run:
    // the existing issuers are stored directly.
    InsertIssuer(alpha_.id, "le");
    InsertIssuer(beta_.id, "le");
  }

  static std::string SolverBody(const std::string& account, const std::string& name) {
    return json{{"account", account}, {"name", name}, {"type", "exec"}, {"program", "hook-program"}}
        .dump();
  }

  // An unreachable directory: an authorized creation gets as far as contacting the CA and fails
  // there (503), which tells it apart from the denials (403, 404).
  static std::string IssuerBody(const std::string& account, const std::string& name) {
    return json{{"account", account},
                {"name", name},
                {"type", "acme"},
                {"directory_url", "https://127.0.0.1:1/dir"}}
        .dump();
  }

  void InsertIssuer(const std::string& account, const std::string& name) {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    store::AcmeConfig c{
        .id = "acm_" + account + "_" + name,
        .account_id = account,
        .kind = "issuer",
        .name = name,
        .type = "acme",
        .config_json = json{{"directory_url", "https://acme.example.test/dir"}}.dump(),
        .created_by = "prn_matrix",
        .created_at = env_.clock.Now(),
        .updated_at = env_.clock.Now()};
    ASSERT_TRUE((*tx)->acme_configs().Insert(c).ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }

  std::string EnrollAgent(const std::string& account) {
    lifecycle::Caller admin{.principal_id = "prn_a", .account_id = account};
    auto token = stack_.agents->CreateEnrollmentToken(admin, account, {{"env", "dev"}}, {});
    auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
    auto csr = x509::Csr::Build(*key, "", {"agent.example.test"});
    auto creds = stack_.agents->Enroll({std::string(token->token.view()), csr->ToPem(), "h"});
    EXPECT_TRUE(creds.ok()) << creds.error().ToString();
    return creds->agent.id;
  }

  static std::string WebhookBody(const std::string& account) {
    return json{{"account", account},
                {"url", "https://hooks.example.test/certfleet"},
                {"types", {"certificate.*"}},
                {"secret", "matrix-webhook-secret"}}
        .dump();
  }

  static std::string DeployBody(const std::string& cert) {
    return json{{"certificate", cert}, {"selector", {{"env", "dev"}}}, {"profile", "nginx"}}.dump();
  }

  std::string Token(const std::string& account, const std::string& name, model::Role role,
                    model::Tags tags) {
    auto p = gov_->CreatePrincipal({account, name, model::PrincipalKind::kUser, role, tags});
    EXPECT_TRUE(p.ok()) << p.error().ToString();
    auto t = gov_->CreateToken(*p, std::nullopt);
    return std::string(t->token.view());
  }

  static std::string CertBody(const std::string& name) {
    return json{{"name", name},
                {"domains", {name + ".example.test"}},
                {"exportable", true},
                {"tags", {{"env", "dev"}}}}
        .dump();
  }

  net::HttpResponse Do(const std::string& token, const Call& c) {
    net::HttpRequest r;
    r.method = c.method;
    r.target = c.target;
    r.body = c.body;
    r.remote_address = "127.0.0.1:9";
    if (!c.body.empty()) r.headers["content-type"] = "application/json";
    r.headers["authorization"] = "Bearer " + token;
    return api_->Handle(r);
  }

  json Post(const std::string& token, const std::string& target, const std::string& body) {
    auto r = Do(token, {"POST", target, body});
    EXPECT_LT(r.status, 300) << target << ": " << r.body;
    return json::parse(r.body);
  }

  std::string Unique(const std::string& base) { return base + std::to_string(++counter_); }

  // Looks at the matrix from beta's side: beta's resources become "own", alpha's "foreign".
  void SwapSides() {
    swapped_ = !swapped_;
    std::swap(own_cert_, foreign_cert_);
    std::swap(own_secret_, foreign_secret_);
    std::swap(own_principal_, foreign_principal_);
    std::swap(own_grant_, foreign_grant_);
    std::swap(own_agent_, foreign_agent_);
    std::swap(own_deployment_, foreign_deployment_);
    std::swap(own_webhook_, foreign_webhook_);
  }
  std::string OwnAdmin() { return swapped_ ? beta_admin_ : tokens_["admin"]; }
  const model::Account& OwnAccount() const { return swapped_ ? beta_ : alpha_; }
  const model::Account& ForeignAccount() const { return swapped_ ? alpha_ : beta_; }

  // Runs every route for `subjects`, whose expectations are the columns `columns` of kExpected.
  // Each answer that names a resource (a path parameter or ?account=) and gets as far as
  // finding it or not (2xx, 404) must have gone through the one ownership check
  // (store/owned.h): a route that answered 404 by hand, or served a resource without the check,
  // fails here.
  int RunMatrix(const std::vector<std::string>& subjects, const std::vector<int>& columns) {
    auto builders = Builders();
    builders["GET /healthz"] = [](Variant) { return Call{"GET", "/healthz", ""}; };
    builders["GET /readyz"] = [](Variant) { return Call{"GET", "/readyz", ""}; };
    builders["GET /v1/openapi.json"] = [](Variant) { return Call{"GET", "/v1/openapi.json", ""}; };
    int checked = 0;
    for (const auto& route : api_->router().routes()) {
      const std::string key = route.method + " " + route.pattern;
      auto expected = Expected().find(key);
      auto builder = builders.find(key);
      if (expected == Expected().end() || builder == builders.end()) {
        ADD_FAILURE() << "route " << key << " has no entry in the authorization matrix";
        continue;
      }
      for (size_t s = 0; s < subjects.size(); ++s) {
        std::istringstream want(expected->second[columns[s]]);
        for (int v = 0; v < 3; ++v) {
          int status = 0;
          want >> status;
          Call call = builder->second(static_cast<Variant>(v));
          const uint64_t checks_before = store::OwnershipChecks();
          auto r = Do(tokens_[subjects[s]], call);
          EXPECT_EQ(r.status, status) << key << " as " << subjects[s] << " on " << kVariantNames[v]
                                      << " resource: " << r.body;
          if (r.status == 403 || r.status == 404) {
            // Denials are problem documents; foreign and unknown look the same.
            EXPECT_EQ(r.headers.at("Content-Type"), "application/problem+json");
          }
          const bool names_resource = route.pattern.find('{') != std::string::npos ||
                                      call.target.find("?account=") != std::string::npos;
          const bool found_or_not = (r.status >= 200 && r.status < 300) || r.status == 404;
          if (names_resource && found_or_not && route.pattern.rfind("/v1/agent/", 0) != 0 &&
              route.pattern != "/crl/intermediate.crl") {
            EXPECT_GT(store::OwnershipChecks(), checks_before)
                << key << " as " << subjects[s] << " on " << kVariantNames[v]
                << " resource answered " << r.status << " without the ownership check";
          }
          ++checked;
        }
      }
    }
    return checked;
  }

  // One request per route and variant.
  std::map<std::string, std::function<Call(Variant)>> Builders() {
    auto pick = [](Variant v, std::string own, std::string foreign, std::string unknown) {
      return v == kOwn ? own : v == kForeign ? foreign : unknown;
    };
    const std::string own = swapped_ ? "beta" : "alpha";
    const std::string foreign = swapped_ ? "alpha" : "beta";
    const std::string acct_q[] = {"?account=" + own, "?account=" + foreign, "?account=nope"};
    const std::string acct[] = {own, foreign, "nope"};
    const std::string unknown_crt = "crt_00000000000000000000000000";
    const std::string unknown_sec = "sec_00000000000000000000000000";
    std::map<std::string, std::function<Call(Variant)>> b;
    b["POST /v1/certificates"] = [&](Variant) {
      return Call{"POST", "/v1/certificates", CertBody(Unique("c"))};
    };
    b["GET /v1/certificates"] = [](Variant) { return Call{"GET", "/v1/certificates", ""}; };
    b["GET /v1/certificates/{id}"] = [=, this](Variant v) {
      return Call{"GET", "/v1/certificates/" + pick(v, own_cert_, foreign_cert_, unknown_crt), ""};
    };
    b["GET /v1/certificates/{id}/versions"] = [=, this](Variant v) {
      return Call{
          "GET", "/v1/certificates/" + pick(v, own_cert_, foreign_cert_, unknown_crt) + "/versions",
          ""};
    };
    b["POST /v1/certificates/{id}/export"] = [=, this](Variant v) {
      return Call{"POST",
                  "/v1/certificates/" + pick(v, own_cert_, foreign_cert_, unknown_crt) + "/export",
                  json{{"passphrase", "matrix passphrase"}}.dump()};
    };
    b["POST /v1/certificates/{id}/renew"] = [=, this](Variant v) {
      return Call{"POST",
                  "/v1/certificates/" + pick(v, own_cert_, foreign_cert_, unknown_crt) + "/renew",
                  "{}"};
    };
    b["POST /v1/certificates/{id}/revoke"] = [=, this](Variant v) {
      // A fresh certificate per call, so a revocation allowed once does not turn into 409.
      std::string own = v == kOwn
                            ? Post(OwnAdmin(), "/v1/certificates", CertBody(Unique("rv")))["id"]
                                  .get<std::string>()
                            : "";
      return Call{"POST",
                  "/v1/certificates/" + pick(v, own, foreign_cert_, unknown_crt) + "/revoke",
                  json{{"reason", "superseded"}}.dump()};
    };
    b["GET /crl/intermediate.crl"] = [](Variant) {
      return Call{"GET", "/crl/intermediate.crl", ""};
    };
    b["GET /v1/accounts"] = [](Variant) { return Call{"GET", "/v1/accounts", ""}; };
    b["POST /v1/accounts"] = [&](Variant) {
      return Call{"POST", "/v1/accounts", json{{"name", Unique("acct")}}.dump()};
    };
    b["GET /v1/principals"] = [=](Variant v) {
      return Call{"GET", "/v1/principals" + acct_q[v], ""};
    };
    b["POST /v1/principals"] = [=, this](Variant v) {
      return Call{"POST", "/v1/principals",
                  json{{"account", acct[v]}, {"name", Unique("p")}, {"role", "operator"}}.dump()};
    };
    b["PATCH /v1/principals/{id}"] = [=, this](Variant v) {
      return Call{
          "PATCH",
          "/v1/principals/" +
              pick(v, own_principal_, foreign_principal_, "prn_00000000000000000000000000") +
              (v == kForeign ? acct_q[kForeign] : acct_q[kOwn]),
          json{{"tags", {{"env", "dev"}}}}.dump()};
    };
    b["POST /v1/tokens"] = [=, this](Variant v) {
      return Call{"POST", "/v1/tokens",
                  json{{"principal", pick(v, own_principal_, foreign_principal_, "nobody")},
                       {"account", v == kForeign ? foreign : own}}
                      .dump()};
    };
    b["GET /v1/grants"] = [=](Variant v) { return Call{"GET", "/v1/grants" + acct_q[v], ""}; };
    b["POST /v1/grants"] = [=, this](Variant v) {
      std::string from = gov_->CreateAccount(Unique("from"))->id;
      return Call{"POST", "/v1/grants", json{{"from", from}, {"to", acct[v]}}.dump()};
    };
    b["POST /v1/grants/{id}/revoke"] = [=, this](Variant v) {
      return Call{"POST",
                  "/v1/grants/" +
                      pick(v, own_grant_, foreign_grant_, "grt_00000000000000000000000000") +
                      "/revoke",
                  ""};
    };
    b["GET /v1/policies/{account}"] = [=](Variant v) {
      return Call{"GET", "/v1/policies/" + acct[v], ""};
    };
    b["PUT /v1/policies/{account}"] = [=](Variant v) {
      return Call{"PUT", "/v1/policies/" + acct[v],
                  json{{"toml", "[request]\nallow_wildcards = true\n"}}.dump()};
    };
    b["GET /v1/reports/exports"] = [=](Variant v) {
      return Call{"GET", "/v1/reports/exports" + acct_q[v], ""};
    };
    b["GET /v1/secrets"] = [](Variant) { return Call{"GET", "/v1/secrets", ""}; };
    b["GET /v1/secrets/{id}"] = [=, this](Variant v) {
      return Call{"GET", "/v1/secrets/" + pick(v, own_secret_, foreign_secret_, unknown_sec), ""};
    };
    b["GET /v1/secrets/{id}/value"] = [=, this](Variant v) {
      return Call{"GET",
                  "/v1/secrets/" + pick(v, own_secret_, foreign_secret_, unknown_sec) + "/value",
                  ""};
    };
    b["GET /v1/audit"] = [=](Variant v) { return Call{"GET", "/v1/audit" + acct_q[v], ""}; };
    b["GET /v1/audit/verify"] = [](Variant) { return Call{"GET", "/v1/audit/verify", ""}; };
    const std::string unknown_agt = "agt_00000000000000000000000000";
    const std::string unknown_dep = "dep_00000000000000000000000000";
    b["POST /v1/agents/enrollment-tokens"] = [=](Variant v) {
      return Call{"POST", "/v1/agents/enrollment-tokens",
                  json{{"account", acct[v]}, {"tags", {{"env", "dev"}}}}.dump()};
    };
    b["GET /v1/agents/enrollment-tokens"] = [=](Variant v) {
      return Call{"GET", "/v1/agents/enrollment-tokens" + acct_q[v], ""};
    };
    b["GET /v1/agents"] = [=](Variant v) { return Call{"GET", "/v1/agents" + acct_q[v], ""}; };
    b["GET /v1/agents/{id}"] = [=, this](Variant v) {
      return Call{"GET", "/v1/agents/" + pick(v, own_agent_, foreign_agent_, unknown_agt), ""};
    };
    // Revocation (issue #13). Fresh resources per call, so that what one call revokes does not
    // change what the next one sees.
    b["POST /v1/agents/{id}/revoke"] = [=, this](Variant v) {
      std::string id = v == kOwn       ? EnrollAgent(OwnAccount().id)
                       : v == kForeign ? EnrollAgent(ForeignAccount().id)
                                       : unknown_agt;
      return Call{"POST", "/v1/agents/" + id + "/revoke", "{}"};
    };
    b["POST /v1/agents/enrollment-tokens/{id}/revoke"] = [=, this](Variant v) {
      auto fresh = [&](const std::string& account) {
        lifecycle::Caller admin{.principal_id = "prn_a", .account_id = account};
        return stack_.agents->CreateEnrollmentToken(admin, account, {{"env", "dev"}}, {})
            ->record.id;
      };
      std::string id = v == kOwn       ? fresh(OwnAccount().id)
                       : v == kForeign ? fresh(ForeignAccount().id)
                                       : "enr_00000000000000000000000000";
      return Call{"POST", "/v1/agents/enrollment-tokens/" + id + "/revoke", "{}"};
    };
    for (const char* verb : {"disable", "enable"}) {
      b[std::string("POST /v1/principals/{id}/") + verb] = [=, this](Variant v) {
        return Call{
            "POST",
            "/v1/principals/" +
                pick(v, own_principal_, foreign_principal_, "prn_00000000000000000000000000") +
                "/" + verb + (v == kForeign ? acct_q[kForeign] : acct_q[kOwn]),
            "{}"};
      };
    }
    b["GET /v1/tokens"] = [=](Variant v) { return Call{"GET", "/v1/tokens" + acct_q[v], ""}; };
    b["POST /v1/tokens/{id}/revoke"] = [=, this](Variant v) {
      auto fresh = [&](const std::string& principal) {
        return gov_->CreateToken(*gov_->GetPrincipal(principal), std::nullopt)->record.id;
      };
      std::string id = v == kOwn       ? fresh(own_principal_)
                       : v == kForeign ? fresh(foreign_principal_)
                                       : "tok_00000000000000000000000000";
      return Call{"POST", "/v1/tokens/" + id + "/revoke", "{}"};
    };
    b["POST /v1/deployments"] = [=, this](Variant v) {
      return Call{"POST", "/v1/deployments",
                  DeployBody(pick(v, own_cert_, foreign_cert_, unknown_crt))};
    };
    b["GET /v1/deployments"] = [=](Variant v) {
      return Call{"GET", "/v1/deployments" + acct_q[v], ""};
    };
    b["GET /v1/deployments/{id}"] = [=, this](Variant v) {
      return Call{"GET",
                  "/v1/deployments/" + pick(v, own_deployment_, foreign_deployment_, unknown_dep),
                  ""};
    };
    b["POST /v1/deployments/{id}/redeploy"] = [=, this](Variant v) {
      return Call{"POST",
                  "/v1/deployments/" + pick(v, own_deployment_, foreign_deployment_, unknown_dep) +
                      "/redeploy",
                  "{}"};
    };
    b["GET /v1/inventory"] = [=, this](Variant v) {
      return Call{
          "GET", "/v1/inventory?certificate=" + pick(v, own_cert_, foreign_cert_, unknown_crt), ""};
    };
    // The agent protocol: bearer tokens are never enough (mutual TLS or an enrollment token).
    b["POST /v1/agent/enroll"] = [](Variant) {
      return Call{
          "POST", "/v1/agent/enroll",
          json{{"token", "cfe_" + std::string(43, 'A')}, {"csr", "x"}, {"hostname", "h"}}.dump()};
    };
    b["GET /v1/agent/jobs"] = [](Variant) { return Call{"GET", "/v1/agent/jobs?wait=0", ""}; };
    b["GET /v1/agent/jobs/{id}/bundle"] = [](Variant) {
      return Call{"GET", "/v1/agent/jobs/dtg_00000000000000000000000000/bundle", ""};
    };
    b["POST /v1/agent/jobs/{id}/report"] = [](Variant) {
      return Call{"POST", "/v1/agent/jobs/dtg_00000000000000000000000000/report",
                  json{{"seq", 1}, {"state", "verified"}}.dump()};
    };
    b["GET /v1/agent/secrets/{id}"] = [=, this](Variant v) {
      return Call{"GET", "/v1/agent/secrets/" + pick(v, own_secret_, foreign_secret_, unknown_sec),
                  ""};
    };
    b["POST /v1/agent/challenges/{token}"] = [](Variant) {
      return Call{"POST", "/v1/agent/challenges/tok1", json{{"state", "presented"}}.dump()};
    };
    b["POST /v1/agent/renew"] = [](Variant) {
      return Call{"POST", "/v1/agent/renew", json{{"csr", "x"}}.dump()};
    };
    const std::string unknown_whk = "whk_00000000000000000000000000";
    b["POST /v1/webhooks"] = [=](Variant v) {
      return Call{"POST", "/v1/webhooks", WebhookBody(acct[v])};
    };
    b["GET /v1/webhooks"] = [=](Variant v) { return Call{"GET", "/v1/webhooks" + acct_q[v], ""}; };
    b["GET /v1/webhooks/{id}"] = [=, this](Variant v) {
      return Call{"GET", "/v1/webhooks/" + pick(v, own_webhook_, foreign_webhook_, unknown_whk),
                  ""};
    };
    b["POST /v1/webhooks/{id}/disable"] = [=, this](Variant v) {
      return Call{
          "POST",
          "/v1/webhooks/" + pick(v, own_webhook_, foreign_webhook_, unknown_whk) + "/disable", ""};
    };
    b["GET /v1/webhooks/{id}/deliveries"] = [=, this](Variant v) {
      return Call{
          "GET",
          "/v1/webhooks/" + pick(v, own_webhook_, foreign_webhook_, unknown_whk) + "/deliveries",
          ""};
    };
    b["GET /metrics"] = [](Variant) { return Call{"GET", "/metrics", ""}; };
    // Domain claims (issue #13): a fresh name per call, and a fresh claim per release.
    b["POST /v1/domains"] = [=, this](Variant v) {
      return Call{"POST", "/v1/domains",
                  json{{"account", acct[v]},
                       {"domain", Unique("d") + ".claims.test"},
                       {"include_subdomains", true}}
                      .dump()};
    };
    b["GET /v1/domains"] = [=](Variant v) { return Call{"GET", "/v1/domains" + acct_q[v], ""}; };
    b["POST /v1/domains/{id}/release"] = [=, this](Variant v) {
      std::string id = "dcl_00000000000000000000000000";
      if (v != kUnknown) {
        lifecycle::Caller root{.principal_id = "prn_root",
                               .account_id = sys_.id,
                               .role = model::Role::kAdmin,
                               .system_admin = true};
        auto claim = gov_->ClaimDomain(root, {.account_id = v == kOwn ? alpha_.id : beta_.id,
                                              .domain = Unique("r") + ".release.test"});
        EXPECT_TRUE(claim.ok()) << claim.error().ToString();
        id = claim->id;
      }
      return Call{"POST", "/v1/domains/" + id + "/release", ""};
    };
    b["POST /v1/acme/eab"] = [=](Variant v) {
      return Call{"POST", "/v1/acme/eab", json{{"account", acct[v]}}.dump()};
    };
    // Console sessions and counts (issue #17). Logging in takes the token from the body, so an
    // unknown one is refused whoever sends it; reading or ending a session needs the session's
    // cookie, which no bearer caller has (console_api_test.cc covers the cookie side).
    b["POST /v1/session"] = [](Variant) {
      return Call{"POST", "/v1/session", json{{"token", "cft_" + std::string(43, 'x')}}.dump()};
    };
    b["GET /v1/session"] = [](Variant) { return Call{"GET", "/v1/session", ""}; };
    b["DELETE /v1/session"] = [](Variant) { return Call{"DELETE", "/v1/session", ""}; };
    b["GET /v1/counts"] = [=](Variant v) { return Call{"GET", "/v1/counts" + acct_q[v], ""}; };
    // ACME issuers and solvers (issue #6): "le" and "hook" exist in alpha and beta.
    for (const std::string kind : {"issuers", "solvers"}) {
      const std::string existing = kind == "issuers" ? "le" : "hook";
      b["POST /v1/" + kind] = [=, this](Variant v) {
        const std::string name = Unique("n");
        return Call{"POST", "/v1/" + kind,
                    kind == "issuers" ? IssuerBody(acct[v], name) : SolverBody(acct[v], name)};
      };
      b["GET /v1/" + kind] = [=](Variant v) { return Call{"GET", "/v1/" + kind + acct_q[v], ""}; };
      b["GET /v1/" + kind + "/{name}"] = [=](Variant v) {
        return Call{"GET",
                    "/v1/" + kind + "/" + pick(v, existing, existing, "nosuch") +
                        (v == kForeign ? acct_q[kForeign] : acct_q[kOwn]),
                    ""};
      };
    }
    return b;
  }

  ApiStack stack_;
  testing::PkiEnv& env_ = stack_.env;
  std::unique_ptr<lifecycle::GovernanceService>& gov_ = stack_.governance;
  std::unique_ptr<audit::AuditLog>& audit_ = stack_.audit;
  std::unique_ptr<ApiService>& api_ = stack_.api;
  model::Account sys_, alpha_, beta_;
  std::map<std::string, std::string> tokens_;
  std::string beta_admin_;
  std::string own_cert_, foreign_cert_, own_secret_, foreign_secret_;
  std::string own_principal_, foreign_principal_, own_grant_, foreign_grant_;
  std::string own_agent_, foreign_agent_, own_deployment_, foreign_deployment_;
  std::string own_webhook_, foreign_webhook_;
  acme::ExecPrograms exec_programs_;  // outlives acme_
  std::unique_ptr<lifecycle::AcmeConfigService> acme_;
  int counter_ = 0;
  bool swapped_ = false;
};

// Expected statuses: for each subject (admin, operator, auditor, agent of "alpha", then a system
// admin), "own foreign unknown".
const std::map<std::string, std::vector<std::string>> kExpected = {
    {"GET /healthz", {"200 200 200", "200 200 200", "200 200 200", "200 200 200", "200 200 200"}},
    {"GET /readyz", {"200 200 200", "200 200 200", "200 200 200", "200 200 200", "200 200 200"}},
    {"GET /v1/openapi.json",
     {"200 200 200", "200 200 200", "200 200 200", "200 200 200", "200 200 200"}},
    {"POST /v1/certificates",
     {"201 201 201", "201 201 201", "403 403 403", "403 403 403", "201 201 201"}},
    {"GET /v1/certificates",
     {"200 200 200", "200 200 200", "200 200 200", "200 200 200", "200 200 200"}},
    {"GET /v1/certificates/{id}",
     {"200 404 404", "200 404 404", "200 404 404", "200 404 404", "404 404 404"}},
    {"GET /v1/certificates/{id}/versions",
     {"200 404 404", "200 404 404", "200 404 404", "200 404 404", "404 404 404"}},
    {"POST /v1/certificates/{id}/export",
     {"200 404 404", "200 404 404", "403 403 403", "403 403 403", "404 404 404"}},
    {"POST /v1/certificates/{id}/renew",
     {"200 404 404", "200 404 404", "403 403 403", "403 403 403", "404 404 404"}},
    {"POST /v1/certificates/{id}/revoke",
     {"200 404 404", "200 404 404", "403 403 403", "403 403 403", "404 404 404"}},
    {"GET /crl/intermediate.crl",
     {"200 200 200", "200 200 200", "200 200 200", "200 200 200", "200 200 200"}},
    {"GET /v1/accounts",
     {"200 200 200", "200 200 200", "200 200 200", "403 403 403", "200 200 200"}},
    {"POST /v1/accounts",
     {"403 403 403", "403 403 403", "403 403 403", "403 403 403", "201 201 201"}},
    {"GET /v1/principals",
     {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    {"POST /v1/principals",
     {"201 404 404", "403 403 403", "403 403 403", "403 403 403", "201 201 404"}},
    {"PATCH /v1/principals/{id}",
     {"200 404 404", "403 403 403", "403 403 403", "403 403 403", "200 200 404"}},
    {"POST /v1/tokens",
     {"201 404 404", "403 403 403", "403 403 403", "403 403 403", "201 201 404"}},
    {"GET /v1/grants", {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    {"POST /v1/grants",
     {"201 404 404", "403 403 403", "403 403 403", "403 403 403", "201 201 404"}},
    {"POST /v1/grants/{id}/revoke",
     {"200 404 404", "403 403 403", "403 403 403", "403 403 403", "200 200 404"}},
    {"GET /v1/policies/{account}",
     {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    {"PUT /v1/policies/{account}",
     {"200 404 404", "403 403 403", "403 403 403", "403 403 403", "200 200 404"}},
    {"GET /v1/reports/exports",
     {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    {"GET /v1/secrets",
     {"200 200 200", "200 200 200", "200 200 200", "403 403 403", "200 200 200"}},
    {"GET /v1/secrets/{id}",
     {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "404 404 404"}},
    // Values are tag-gated: the operator carries no tags, the agent carries env=dev like the
    // secret, the auditor may never read values.
    {"GET /v1/secrets/{id}/value",
     {"200 404 404", "403 404 404", "403 404 404", "200 404 404", "404 404 404"}},
    {"GET /v1/audit", {"200 404 404", "403 403 403", "200 404 404", "403 403 403", "200 200 404"}},
    {"GET /v1/audit/verify",
     {"200 200 200", "403 403 403", "200 200 200", "403 403 403", "200 200 200"}},
    {"POST /v1/agents/enrollment-tokens",
     {"201 404 404", "403 403 403", "403 403 403", "403 403 403", "201 201 404"}},
    {"GET /v1/agents/enrollment-tokens",
     {"200 404 404", "200 404 404", "200 404 404", "200 404 404", "200 200 404"}},
    {"GET /v1/agents", {"200 404 404", "200 404 404", "200 404 404", "200 404 404", "200 200 404"}},
    {"GET /v1/agents/{id}",
     {"200 404 404", "200 404 404", "200 404 404", "200 404 404", "404 404 404"}},
    // Revocation (issue #13): admins of the resource's account and system admins; another
    // account's resource answers like an unknown one.
    {"POST /v1/agents/{id}/revoke",
     {"200 404 404", "403 403 403", "403 403 403", "403 403 403", "200 200 404"}},
    {"POST /v1/agents/enrollment-tokens/{id}/revoke",
     {"200 404 404", "403 403 403", "403 403 403", "403 403 403", "200 200 404"}},
    {"POST /v1/principals/{id}/disable",
     {"200 404 404", "403 403 403", "403 403 403", "403 403 403", "200 200 404"}},
    {"POST /v1/principals/{id}/enable",
     {"200 404 404", "403 403 403", "403 403 403", "403 403 403", "200 200 404"}},
    {"GET /v1/tokens", {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    {"POST /v1/tokens/{id}/revoke",
     {"200 404 404", "403 403 403", "403 403 403", "403 403 403", "200 200 404"}},
    // Deployments act on the caller's own certificates; a system admin owns none in "alpha".
    {"POST /v1/deployments",
     {"201 404 404", "201 404 404", "403 403 403", "403 403 403", "404 404 404"}},
    {"GET /v1/deployments",
     {"200 404 404", "200 404 404", "200 404 404", "200 404 404", "200 200 404"}},
    {"GET /v1/deployments/{id}",
     {"200 404 404", "200 404 404", "200 404 404", "200 404 404", "404 404 404"}},
    {"POST /v1/deployments/{id}/redeploy",
     {"202 404 404", "202 404 404", "403 403 403", "403 403 403", "404 404 404"}},
    {"GET /v1/inventory",
     {"200 404 404", "200 404 404", "200 404 404", "200 404 404", "404 404 404"}},
    {"POST /v1/agent/enroll",
     {"401 401 401", "401 401 401", "401 401 401", "401 401 401", "401 401 401"}},
    {"GET /v1/agent/jobs",
     {"401 401 401", "401 401 401", "401 401 401", "401 401 401", "401 401 401"}},
    {"GET /v1/agent/jobs/{id}/bundle",
     {"401 401 401", "401 401 401", "401 401 401", "401 401 401", "401 401 401"}},
    {"POST /v1/agent/jobs/{id}/report",
     {"401 401 401", "401 401 401", "401 401 401", "401 401 401", "401 401 401"}},
    {"GET /v1/agent/secrets/{id}",
     {"401 401 401", "401 401 401", "401 401 401", "401 401 401", "401 401 401"}},
    {"POST /v1/agent/challenges/{token}",
     {"401 401 401", "401 401 401", "401 401 401", "401 401 401", "401 401 401"}},
    {"POST /v1/agent/renew",
     {"401 401 401", "401 401 401", "401 401 401", "401 401 401", "401 401 401"}},
    // Webhooks (issue #5): admins write, admins, operators and auditors read.
    {"POST /v1/webhooks",
     {"201 404 404", "403 403 403", "403 403 403", "403 403 403", "201 201 404"}},
    {"GET /v1/webhooks",
     {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    {"GET /v1/webhooks/{id}",
     {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    {"POST /v1/webhooks/{id}/disable",
     {"200 404 404", "403 403 403", "403 403 403", "403 403 403", "200 200 404"}},
    {"GET /v1/webhooks/{id}/deliveries",
     {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    // Metrics (issue #5) cover every account: principals of the system account only.
    {"GET /metrics", {"403 403 403", "403 403 403", "403 403 403", "403 403 403", "200 200 200"}},
    // Domain claims (issue #13): only system admins claim and release; an account's admins,
    // operators and auditors list their own account's claims.
    {"POST /v1/domains",
     {"403 403 403", "403 403 403", "403 403 403", "403 403 403", "201 201 404"}},
    {"GET /v1/domains",
     {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    {"POST /v1/domains/{id}/release",
     {"403 403 403", "403 403 403", "403 403 403", "403 403 403", "200 200 404"}},
    // ACME issuers and solvers (issue #6): admins write, admins, operators and auditors read.
    // Creating an issuer reaches the (unreachable) CA only once authorized: 503.
    {"POST /v1/issuers",
     {"503 404 404", "403 403 403", "403 403 403", "403 403 403", "503 503 404"}},
    {"GET /v1/issuers",
     {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    {"GET /v1/issuers/{name}",
     {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    {"POST /v1/solvers",
     {"201 404 404", "403 403 403", "403 403 403", "403 403 403", "201 201 404"}},
    {"GET /v1/solvers",
     {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    {"GET /v1/solvers/{name}",
     {"200 404 404", "200 404 404", "200 404 404", "403 403 403", "200 200 404"}},
    // ACME server EAB keys (issue #16): like issuers, admins only; without an ACME server in this
    // stack, an authorized request answers 503.
    {"POST /v1/acme/eab",
     {"503 404 404", "403 403 403", "403 403 403", "403 403 403", "503 503 404"}},
    // Console sessions and dashboard counts (issue #17).
    {"POST /v1/session",
     {"401 401 401", "401 401 401", "401 401 401", "401 401 401", "401 401 401"}},
    {"GET /v1/session",
     {"401 401 401", "401 401 401", "401 401 401", "401 401 401", "401 401 401"}},
    {"DELETE /v1/session",
     {"401 401 401", "401 401 401", "401 401 401", "401 401 401", "401 401 401"}},
    {"GET /v1/counts", {"200 404 404", "200 404 404", "200 404 404", "200 404 404", "200 200 404"}},
};

const std::map<std::string, std::vector<std::string>>& Expected() { return kExpected; }

TEST_F(AuthzMatrixTest, EveryRouteRoleAndResource) {
  int checked = RunMatrix({std::begin(kSubjects), std::end(kSubjects)}, {0, 1, 2, 3, 4});
  EXPECT_EQ(checked, int(kExpected.size()) * 15);
}

// The same routes from the other tenant's side: beta's admin, operator and auditor get exactly
// what alpha's got, on beta's resources.
TEST_F(AuthzMatrixTest, EveryRouteFromTheOtherAccount) {
  SwapSides();
  int checked = RunMatrix({std::begin(kBetaSubjects), std::end(kBetaSubjects)}, {0, 1, 2});
  EXPECT_EQ(checked, int(kExpected.size()) * 9);
}

// Grants do not probe account names either: a tenant names the other account by its id; a
// system admin may use names.
TEST_F(AuthzMatrixTest, GrantsFromTenantsNameAccountsById) {
  auto c = gov_->CreateAccount("delta");
  ASSERT_TRUE(c.ok());
  auto by_name =
      Do(tokens_["admin"], {"POST", "/v1/grants", json{{"from", "delta"}, {"to", "alpha"}}.dump()});
  EXPECT_EQ(by_name.status, 400) << by_name.body;
  auto unknown_name = Do(tokens_["admin"],
                         {"POST", "/v1/grants", json{{"from", "nosuch"}, {"to", "alpha"}}.dump()});
  EXPECT_EQ(unknown_name.status, 400) << unknown_name.body;
  EXPECT_EQ(json::parse(by_name.body)["detail"], json::parse(unknown_name.body)["detail"]);
  auto by_id =
      Do(tokens_["admin"], {"POST", "/v1/grants", json{{"from", c->id}, {"to", "alpha"}}.dump()});
  EXPECT_EQ(by_id.status, 201) << by_id.body;
  auto sys = Do(tokens_["sysadmin"],
                {"POST", "/v1/grants", json{{"from", "delta"}, {"to", "beta"}}.dump()});
  EXPECT_EQ(sys.status, 201) << sys.body;
}

// Deployment routes do not tell whether another account exists: a target account without a grant
// and one that does not exist are refused with the same words.
TEST_F(AuthzMatrixTest, DeploymentTargetsDoNotRevealAccounts) {
  auto body = [&](const std::string& target) {
    return json{{"certificate", own_cert_},
                {"target_account", target},
                {"selector", {{"env", "dev"}}},
                {"profile", "nginx"}}
        .dump();
  };
  auto c = gov_->CreateAccount("gamma");
  ASSERT_TRUE(c.ok());
  auto existing = Do(tokens_["admin"], {"POST", "/v1/deployments", body("gamma")});
  auto missing = Do(tokens_["admin"], {"POST", "/v1/deployments", body("no-such-account")});
  ASSERT_EQ(existing.status, 403) << existing.body;
  ASSERT_EQ(missing.status, 403) << missing.body;
  auto detail = [](const std::string& b) { return json::parse(b)["detail"].get<std::string>(); };
  EXPECT_EQ(detail(existing.body), detail(missing.body));
  EXPECT_NE(detail(existing.body).find("grant.missing"), std::string::npos);
}

TEST_F(AuthzMatrixTest, ForeignAndUnknownAreIndistinguishable) {
  auto foreign = Do(tokens_["admin"], {"GET", "/v1/certificates/" + foreign_cert_, ""});
  auto unknown =
      Do(tokens_["admin"], {"GET", "/v1/certificates/crt_00000000000000000000000000", ""});
  ASSERT_EQ(foreign.status, 404);
  ASSERT_EQ(unknown.status, 404);
  auto strip = [](const std::string& body, const std::string& id) {
    json j = json::parse(body);
    j.erase("request_id");
    std::string d = j["detail"];
    d.replace(d.find(id), id.size(), "ID");
    j["detail"] = d;
    return j;
  };
  EXPECT_EQ(strip(foreign.body, foreign_cert_),
            strip(unknown.body, "crt_00000000000000000000000000"));
}

TEST_F(AuthzMatrixTest, DenialsAndFailedAuthenticationAreAudited) {
  auto r = Do(tokens_["operator"], {"GET", "/v1/secrets/" + own_secret_ + "/value", ""});
  ASSERT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("tags.mismatch"), std::string::npos);
  auto bad = Do("cft_" + std::string(43, 'x'), {"GET", "/v1/certificates", ""});
  ASSERT_EQ(bad.status, 401);
  auto tx = env_.store->Begin();
  auto records = (*tx)->audit().List({.resource = own_secret_});
  ASSERT_TRUE(records.ok());
  bool denied = false, read = false;
  for (const auto& rec : *records) {
    if (rec.action == "secret.read_value" && rec.outcome == model::AuditOutcome::kDenied)
      denied = true;
    if (rec.action == "secret.read_value" && rec.outcome == model::AuditOutcome::kSuccess)
      read = true;
  }
  EXPECT_TRUE(denied);
  EXPECT_FALSE(read);
  auto all = (*tx)->audit().List({});
  bool auth_failed = false;
  for (const auto& rec : *all) auth_failed |= rec.action == "auth.failed" && rec.status == 401;
  EXPECT_TRUE(auth_failed);
  tx->reset();
  auto verify = audit_->Verify();
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok) << verify->reason;
}

}  // namespace
}  // namespace certfleet::api
