#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/api_service.h"
#include "api/api_test_env.h"
#include "api/auth.h"
#include "fakes/pki_env.h"
#include "lifecycle/issuers/internal_issuer.h"

namespace certfleet::api {
namespace {

using nlohmann::json;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_a_ = AddPrincipal("acc_a");
    token_b_ = AddPrincipal("acc_b");
  }

  std::string AddPrincipal(const std::string& account) {
    std::string token = AddAdminWithToken(env_, account);
    // Non-system accounts hold only names they claim (issue #13).
    env_.ClaimDomain(account, "example.test");
    env_.ClaimDomain(account, "a.test");
    return token;
  }

  net::HttpResponse Call(const std::string& method, const std::string& target,
                         const std::string& body = "", const std::string& token = "*") {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.remote_address = "127.0.0.1:1";
    if (!body.empty()) r.headers["content-type"] = "application/json";
    const std::string& t = token == "*" ? token_a_ : token;
    if (!t.empty()) r.headers["authorization"] = "Bearer " + t;
    return api_->Handle(r);
  }

  static json Body(const net::HttpResponse& r) { return json::parse(r.body); }

  static void ExpectProblem(const net::HttpResponse& r, int status, const std::string& needle) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.headers.at("Content-Type"), "application/problem+json");
    json p = Body(r);
    EXPECT_EQ(p["status"], status);
    EXPECT_TRUE(p["type"].get<std::string>().rfind("urn:certfleet:problem:", 0) == 0);
    EXPECT_NE(p["detail"].get<std::string>().find(needle), std::string::npos) << p.dump();
  }

  std::string Create(const std::string& name, bool exportable = true) {
    auto r = Call(
        "POST", "/v1/certificates",
        json{{"name", name}, {"domains", {"app.example.test"}}, {"exportable", exportable}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return Body(r)["id"];
  }

  ApiStack stack_;
  testing::PkiEnv& env_ = stack_.env;
  std::unique_ptr<ApiService>& api_ = stack_.api;
  std::string token_a_, token_b_;
};

TEST_F(ApiTest, HealthNeedsNoToken) {
  auto r = Call("GET", "/healthz", "", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["status"], "ok");
}

TEST_F(ApiTest, MissingOrWrongTokenIs401) {
  ExpectProblem(Call("GET", "/v1/certificates", "", ""), 401, "missing bearer token");
  auto wrong = Call("GET", "/v1/certificates", "", "cft_" + std::string(43, 'A'));
  ExpectProblem(wrong, 401, "invalid bearer token");
  EXPECT_EQ(wrong.headers.at("WWW-Authenticate"), "Bearer");
  ExpectProblem(Call("GET", "/v1/certificates", "", "garbage"), 401, "invalid");
}

TEST_F(ApiTest, CreateGetListExport) {
  auto r = Call("POST", "/v1/certificates",
                json{{"name", "web"},
                     {"domains", {"app.example.test", "*.example.test"}},
                     {"key_type", "p384"},
                     {"profile", "tls-server"},
                     {"exportable", true},
                     {"tags", {{"env", "dev"}}}}
                    .dump());
  ASSERT_EQ(r.status, 201) << r.body;
  json c = Body(r);
  EXPECT_EQ(c["status"], "issued");
  EXPECT_EQ(c["exportable"], true);
  EXPECT_EQ(c["key_type"], "p384");
  EXPECT_TRUE(c["serial"].is_string());
  EXPECT_EQ(c["fingerprint"].get<std::string>().size(), 64u);
  EXPECT_EQ(r.headers.at("Location"), "/v1/certificates/" + c["id"].get<std::string>());

  auto got = Call("GET", "/v1/certificates/" + c["id"].get<std::string>());
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(Body(got)["serial"], c["serial"]);
  auto list = Call("GET", "/v1/certificates");
  EXPECT_EQ(Body(list)["items"].size(), 1u);

  auto ex = Call("POST", "/v1/certificates/" + c["id"].get<std::string>() + "/export",
                 json{{"passphrase", "correct horse battery"}}.dump());
  ASSERT_EQ(ex.status, 200) << ex.body;
  json e = Body(ex);
  EXPECT_TRUE(e["passphrase_secret_id"].is_null());
  EXPECT_NE(e["private_key_pem"].get<std::string>().find("BEGIN ENCRYPTED PRIVATE KEY"),
            std::string::npos);
  EXPECT_EQ(e["fullchain_pem"],
            e["certificate_pem"].get<std::string>() + e["chain_pem"].get<std::string>());
  EXPECT_EQ(ex.body.find("correct horse"), std::string::npos);

  auto gen = Call("POST", "/v1/certificates/" + c["id"].get<std::string>() + "/export", "{}");
  ASSERT_EQ(gen.status, 200);
  EXPECT_EQ(Body(gen)["passphrase_secret_id"].get<std::string>().rfind("sec_", 0), 0u);
}

TEST_F(ApiTest, BadInputGetsProblemDocuments) {
  ExpectProblem(Call("POST", "/v1/certificates", "{not json"), 400, "not valid JSON");
  ExpectProblem(Call("POST", "/v1/certificates", "[1,2]"), 400, "JSON object");
  ExpectProblem(Call("POST", "/v1/certificates", json{{"name", "x"}, {"domains", {"a..b"}}}.dump()),
                400, "empty label");
  ExpectProblem(Call("POST", "/v1/certificates",
                     json{{"name", "x"}, {"domains", {"a.test"}}, {"key_type", "dsa"}}.dump()),
                400, "key type");
  ExpectProblem(Call("POST", "/v1/certificates",
                     json{{"name", "x"}, {"domains", {"a.test"}}, {"exportabel", true}}.dump()),
                400, "unknown field \"exportabel\"");
  ExpectProblem(Call("POST", "/v1/certificates", json{{"name", "x"}}.dump()), 400, "domains");
  ExpectProblem(Call("POST", "/v1/certificates", json{{"name", "x"}, {"domains", "a.test"}}.dump()),
                400, "array");
  ExpectProblem(
      Call("POST", "/v1/certificates", json{{"name", "$(id)"}, {"domains", {"a.test"}}}.dump()),
      400, "name");
  ExpectProblem(Call("DELETE", "/v1/certificates"), 405, "not allowed");
  ExpectProblem(Call("GET", "/v1/nothing"), 404, "no such route");
  net::HttpRequest plain;
  plain.method = "POST";
  plain.target = "/v1/certificates";
  plain.body = "name=x";
  plain.headers["authorization"] = "Bearer " + token_a_;
  plain.headers["content-type"] = "application/x-www-form-urlencoded";
  ExpectProblem(api_->Handle(plain), 400, "application/json");
}

TEST_F(ApiTest, NonExportableIs409AndForeignIs404) {
  std::string locked = Create("locked", false);
  ExpectProblem(Call("POST", "/v1/certificates/" + locked + "/export", "{}"), 409,
                "not exportable");
  ExpectProblem(Call("GET", "/v1/certificates/" + locked, "", token_b_), 404, "not found");
  ExpectProblem(Call("GET", "/v1/certificates/crt_00000000000000000000000000", "", token_b_), 404,
                "not found");
  ExpectProblem(Call("POST", "/v1/certificates/" + locked + "/export", "{}", token_b_), 404,
                "not found");
  ExpectProblem(Call("POST", "/v1/certificates/" + Create("open") + "/export",
                     json{{"passphrase", "has$dollar"}}.dump()),
                400, "passphrase");
}

// Issue #13: domain claims over the REST API. Only a system admin claims and releases; a name
// outside the requesting account's claims is 403 domain.unclaimed; overlapping claims of two
// accounts are 409 unless both are shared.
TEST_F(ApiTest, DomainClaims) {
  const std::string root = AddPrincipal("default");  // an admin of the system account
  auto claim = [&](const std::string& account, const std::string& domain, bool subdomains,
                   bool shared, const std::string& token) {
    return Call("POST", "/v1/domains",
                json{{"account", account},
                     {"domain", domain},
                     {"include_subdomains", subdomains},
                     {"shared", shared}}
                    .dump(),
                token);
  };
  auto created = claim("acc_a", "Claimed.Example.ORG.", true, false, root);
  ASSERT_EQ(created.status, 201) << created.body;
  json c = Body(created);
  EXPECT_EQ(c["domain"], "claimed.example.org");
  EXPECT_EQ(c["account"], "acc_a");
  EXPECT_EQ(c["include_subdomains"], true);
  EXPECT_EQ(c["shared"], false);
  const std::string id = c["id"];
  EXPECT_EQ(id.rfind("dcl_", 0), 0u);

  // Only a system admin claims; an account admin is refused even for its own account.
  ExpectProblem(claim("acc_a", "mine.example.org", false, false, token_a_), 403,
                "role.insufficient");
  // Bad names are 400 naming the field.
  for (const char* bad : {"*.x.example.org", "10.0.0.1/8", "org", "a_b.example.org"}) {
    ExpectProblem(claim("acc_a", bad, false, false, root), 400, "domain");
  }
  ExpectProblem(claim("nope", "x.example.org", false, false, root), 404, "not found");

  // Issuance: B is refused A's names (any depth, wildcard too), A gets them.
  auto request = [&](const std::string& name, const std::string& domain, const std::string& token) {
    return Call("POST", "/v1/certificates",
                json{{"name", name}, {"domains", {domain}}, {"exportable", true}}.dump(), token);
  };
  ExpectProblem(request("b1", "www.claimed.example.org", token_b_), 403, "(rule domain.unclaimed)");
  ExpectProblem(request("b2", "*.claimed.example.org", token_b_), 403, "\"*.claimed.example.org\"");
  auto issued = request("a1", "www.claimed.example.org", token_a_);
  ASSERT_EQ(issued.status, 201) << issued.body;

  // Overlaps: 409 naming the other claim, unless both are shared.
  ExpectProblem(claim("acc_b", "deep.www.claimed.example.org", false, true, root), 409, "shared");
  ExpectProblem(claim("acc_b", "example.org", true, true, root), 409, id);
  auto both_shared = claim("acc_b", "x.a.test", false, true, root);  // a.test is shared by both
  EXPECT_EQ(both_shared.status, 201) << both_shared.body;
  ExpectProblem(claim("acc_b", "y.a.test", false, false, root), 409, "shared");

  // Lists: an account sees its own claims, a system admin all of them.
  auto own = Body(Call("GET", "/v1/domains", "", token_a_))["items"];
  for (const auto& item : own) EXPECT_EQ(item["account"], "acc_a") << item.dump();
  EXPECT_EQ(own.size(), 3u);  // example.test and a.test (fixture) and claimed.example.org
  ExpectProblem(Call("GET", "/v1/domains?account=acc_b", "", token_a_), 404, "not found");
  EXPECT_GT(Body(Call("GET", "/v1/domains", "", root))["items"].size(), own.size());

  // Release: the account's certificate for the name no longer renews.
  ExpectProblem(Call("POST", "/v1/domains/" + id + "/release", "", token_a_), 403,
                "role.insufficient");
  auto released = Call("POST", "/v1/domains/" + id + "/release", "", root);
  ASSERT_EQ(released.status, 200) << released.body;
  EXPECT_EQ(Body(released)["id"], id);
  ExpectProblem(Call("POST", "/v1/domains/" + id + "/release", "", root), 404, "not found");
  ExpectProblem(Call("POST", "/v1/certificates/" + Body(issued)["id"].get<std::string>() + "/renew",
                     "{}", token_a_),
                403, "domain.unclaimed");
}

// A principal named by its id needs no account: the principal's own account is checked. A system
// admin reaches any account's principal that way; a tenant admin still finds another account's
// principal missing, exactly like an unknown id.
TEST_F(ApiTest, APrincipalIdNeedsNoAccount) {
  const std::string system_token = AddPrincipal(kSystemAccountName);
  auto created =
      Call("POST", "/v1/principals",
           json{{"account", "acc_b"}, {"name", "ops"}, {"role", "operator"}}.dump(), system_token);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string ops = Body(created)["id"];
  auto token = Call("POST", "/v1/tokens", json{{"principal", ops}}.dump(), system_token);
  ASSERT_EQ(token.status, 201) << token.body;
  EXPECT_EQ(Body(token)["account"], "acc_b");
  const std::string ops_token = Body(token)["token"];
  EXPECT_EQ(Call("GET", "/v1/certificates", "", ops_token).status, 200);

  auto tagged =
      Call("PATCH", "/v1/principals/" + ops, json{{"tags", {{"team", "b"}}}}.dump(), system_token);
  ASSERT_EQ(tagged.status, 200) << tagged.body;
  EXPECT_EQ(Body(tagged)["tags"]["team"], "b");
  auto listed = Call("GET", "/v1/tokens?principal=" + ops, "", system_token);
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(Body(listed)["items"].size(), 1u);

  // A name still needs the account it lives in: "ops" alone is looked up in the caller's own.
  ExpectProblem(Call("POST", "/v1/tokens", json{{"principal", "ops"}}.dump(), system_token), 404,
                "not found");
  auto by_name = Call("POST", "/v1/tokens", json{{"principal", "ops"}, {"account", "acc_b"}}.dump(),
                      system_token);
  EXPECT_EQ(by_name.status, 201) << by_name.body;

  // Tenant A: B's principal by id is as missing as an unknown id, and nothing changes.
  ExpectProblem(Call("POST", "/v1/tokens", json{{"principal", ops}}.dump()), 404, "not found");
  ExpectProblem(Call("POST", "/v1/principals/" + ops + "/disable", "{}"), 404, "not found");
  EXPECT_EQ(Body(Call("GET", "/v1/tokens?principal=" + ops, "", system_token))["items"].size(), 2u);
  EXPECT_EQ(Call("GET", "/v1/certificates", "", ops_token).status, 200);
  auto disabled = Call("POST", "/v1/principals/" + ops + "/disable", "{}", system_token);
  ASSERT_EQ(disabled.status, 200) << disabled.body;
  EXPECT_EQ(Call("GET", "/v1/certificates", "", ops_token).status, 401);
}

// GET /v1/certificates/{id}/versions: every version, oldest first, with the current one and
// revocations marked, paged like every list, and no PEM or key in it.
TEST_F(ApiTest, CertificateVersionsArePagedOldestFirst) {
  const std::string id = Create("versions");
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Call("POST", "/v1/certificates/" + id + "/renew", "{}").status, 200);
  }
  auto page = Call("GET", "/v1/certificates/" + id + "/versions?limit=2");
  ASSERT_EQ(page.status, 200) << page.body;
  json first = Body(page);
  ASSERT_EQ(first["items"].size(), 2u);
  EXPECT_EQ(first["items"][0]["version"], 1);
  EXPECT_EQ(first["items"][1]["version"], 2);
  EXPECT_EQ(first["items"][0]["current"], false);
  ASSERT_TRUE(first["next_cursor"].is_string());
  auto last = Call("GET", "/v1/certificates/" + id + "/versions?limit=2&cursor=" +
                              first["next_cursor"].get<std::string>());
  json rest = Body(last);
  ASSERT_EQ(rest["items"].size(), 1u);
  EXPECT_TRUE(rest["next_cursor"].is_null());
  const json v3 = rest["items"][0];
  EXPECT_EQ(v3["version"], 3);
  EXPECT_EQ(v3["current"], true);
  EXPECT_TRUE(v3["revoked"].is_null());
  EXPECT_EQ(Body(Call("GET", "/v1/certificates/" + id))["serial"], v3["serial"]);
  EXPECT_EQ(last.body.find("BEGIN"), std::string::npos) << "no PEM in the list";

  ASSERT_EQ(Call("POST", "/v1/certificates/" + id + "/revoke", "{}").status, 200);
  json all = Body(Call("GET", "/v1/certificates/" + id + "/versions"));
  ASSERT_EQ(all["items"].size(), 3u);
  for (const json& v : all["items"]) {
    EXPECT_TRUE(v["revoked"].is_object()) << v.dump();
  }
  ExpectProblem(Call("GET", "/v1/certificates/" + id + "/versions?limit=0"), 400, "limit");
  ExpectProblem(Call("GET", "/v1/certificates/" + id + "/versions?sort=x"), 400, "sort");
  ExpectProblem(Call("GET", "/v1/certificates/" + id + "/versions", "", token_b_), 404,
                "not found");
}

}  // namespace
}  // namespace certfleet::api
