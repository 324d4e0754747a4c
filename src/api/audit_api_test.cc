// The audit trail through the API (issue #13): records committed with the change they record,
// tenant and system views of /v1/audit and /v1/audit/verify, and the sampling of 401s.
#include <sqlite3.h>

#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/api_service.h"
#include "api/api_test_env.h"
#include "lifecycle/tokens.h"

namespace certfleet::api {
namespace {

using nlohmann::json;

class AuditApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AddAccount("acc_sys", "default");
    AddAccount("acc_a", "team-a");
    AddAccount("acc_b", "team-b");
    env_.ClaimDomain("acc_a", "example.test");
    env_.ClaimDomain("acc_b", "example.test");
    sys_admin_ = AddPrincipal("acc_sys", model::Role::kAdmin, "admin");
    sys_auditor_ = AddPrincipal("acc_sys", model::Role::kAuditor, "auditor");
    admin_a_ = AddPrincipal("acc_a", model::Role::kAdmin, "admin");
    auditor_a_ = AddPrincipal("acc_a", model::Role::kAuditor, "auditor");
    admin_b_ = AddPrincipal("acc_b", model::Role::kAdmin, "admin");
  }
  void AddAccount(const std::string& id, const std::string& name) {
    auto tx = env_.store->Begin();
    ASSERT_TRUE((*tx)->accounts().Insert({id, name, env_.clock.Now()}).ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  std::string AddPrincipal(const std::string& account, model::Role role, const std::string& name) {
    auto tx = env_.store->Begin();
    model::Principal p;
    p.id = "prn_" + account + "_" + name;
    p.account_id = account;
    p.name = name;
    p.role = role;
    p.created_at = env_.clock.Now();
    EXPECT_TRUE((*tx)->principals().Insert(p).ok());
    lifecycle::NewToken t = lifecycle::GenerateApiToken(SystemRandomSource());
    EXPECT_TRUE((*tx)
                    ->tokens()
                    .Insert({.id = "tok_" + account + "_" + name,
                             .principal_id = p.id,
                             .hash_hex = t.hash_hex,
                             .created_at = env_.clock.Now()})
                    .ok());
    EXPECT_TRUE((*tx)->Commit().ok());
    return std::string(t.token.view());
  }
  net::HttpResponse Call(const std::string& method, const std::string& target,
                         const std::string& token, const std::string& body = "",
                         const std::string& remote = "127.0.0.1:1") {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.remote_address = remote;
    if (!body.empty()) r.headers["content-type"] = "application/json";
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    return stack_.api->Handle(r);
  }
  std::string Create(const std::string& token, const std::string& name) {
    auto r = Call(
        "POST", "/v1/certificates", token,
        json{{"name", name}, {"domains", {name + ".example.test"}}, {"exportable", true}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body)["id"];
  }
  std::vector<model::AuditRecord> Records(const std::string& action) {
    auto tx = env_.store->Begin();
    auto all = (*tx)->audit().List({.limit = 100000});
    EXPECT_TRUE(all.ok());
    std::vector<model::AuditRecord> out;
    for (auto& r : *all) {
      if (r.action == action) out.push_back(r);
    }
    return out;
  }
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(env_.dir.file("certfleet.db").c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }

  ApiStack stack_;
  testing::PkiEnv& env_ = stack_.env;
  std::string sys_admin_, sys_auditor_, admin_a_, auditor_a_, admin_b_;
};

TEST_F(AuditApiTest, ExportAndSecretReadAreRecordedOnceInTheirTransaction) {
  const std::string id = Create(admin_a_, "app");
  auto r = Call("POST", "/v1/certificates/" + id + "/export", admin_a_, "{}");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string secret = json::parse(r.body)["passphrase_secret_id"];
  auto exports = Records("certificate.export");
  ASSERT_EQ(exports.size(), 1u);  // written in the export's transaction, not again afterwards
  EXPECT_EQ(exports[0].account_id, "acc_a");
  EXPECT_EQ(exports[0].resource, id);
  EXPECT_EQ(exports[0].outcome, model::AuditOutcome::kSuccess);
  EXPECT_EQ(exports[0].status, 200);
  EXPECT_EQ(exports[0].scheme, audit::kSchemeKeyed);
  // The certificate request's record carries the new certificate's id (appended by the service).
  auto requests = Records("certificate.request");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].resource, id);
  EXPECT_EQ(requests[0].status, 201);

  ASSERT_EQ(Call("GET", "/v1/secrets/" + secret + "/value", admin_a_).status, 200);
  auto reads = Records("secret.read_value");
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].resource, secret);
  // A denied read: recorded by the API after the handler (nothing changed, nothing released).
  ASSERT_EQ(Call("GET", "/v1/secrets/" + secret + "/value", auditor_a_).status, 403);
  reads = Records("secret.read_value");
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_EQ(reads[1].outcome, model::AuditOutcome::kDenied);
  // A refused export: one record, committed with the refusal's export record.
  const std::string locked = [&] {
    auto c = Call("POST", "/v1/certificates", admin_a_,
                  json{{"name", "locked"}, {"domains", {"locked.example.test"}}}.dump());
    return json::parse(c.body)["id"].get<std::string>();
  }();
  ASSERT_EQ(Call("POST", "/v1/certificates/" + locked + "/export", admin_a_, "{}").status, 409);
  exports = Records("certificate.export");
  ASSERT_EQ(exports.size(), 2u);
  EXPECT_EQ(exports[1].outcome, model::AuditOutcome::kFailure);
  EXPECT_EQ(exports[1].status, 409);
}

TEST_F(AuditApiTest, TenantAuditorSeesAndVerifiesOnlyItsAccount) {
  Create(admin_a_, "a1");
  Create(admin_b_, "b1");
  Create(admin_a_, "a2");
  Create(admin_b_, "b2");

  auto list = Call("GET", "/v1/audit", auditor_a_);
  ASSERT_EQ(list.status, 200) << list.body;
  auto items = json::parse(list.body)["items"];
  ASSERT_FALSE(items.empty());
  for (const auto& r : items) EXPECT_EQ(r["account"], "acc_a") << r.dump();
  EXPECT_EQ(Call("GET", "/v1/audit?account=acc_b", auditor_a_).status, 404);
  EXPECT_EQ(Call("GET", "/v1/audit/verify?account=team-b", auditor_a_).status, 404);

  // The system auditor sees every account.
  auto all = json::parse(Call("GET", "/v1/audit", sys_auditor_).body)["items"];
  std::set<std::string> accounts;
  for (const auto& r : all) accounts.insert(r["account"]);
  EXPECT_TRUE(accounts.count("acc_a") && accounts.count("acc_b"));
  auto only_b = json::parse(Call("GET", "/v1/audit?account=team-b", sys_auditor_).body)["items"];
  ASSERT_FALSE(only_b.empty());
  for (const auto& r : only_b) EXPECT_EQ(r["account"], "acc_b");

  auto v = json::parse(Call("GET", "/v1/audit/verify", auditor_a_).body);
  EXPECT_EQ(v["ok"], true) << v.dump();
  EXPECT_EQ(v["scope"], "acc_a");
  EXPECT_EQ(v["checked"], 2);
  v = json::parse(Call("GET", "/v1/audit/verify", sys_auditor_).body);
  EXPECT_EQ(v["ok"], true) << v.dump();
  EXPECT_EQ(v["scope"], "all");

  // Tamper with one of b's records: a's verification neither fails nor sees it; b's admin and
  // the system view name it.
  const int64_t b_seq =
      json::parse(Call("GET", "/v1/audit?account=team-b", sys_admin_).body)["items"][0]["seq"];
  Sql("UPDATE audit_records SET detail = 'x' WHERE seq = " + std::to_string(b_seq));
  v = json::parse(Call("GET", "/v1/audit/verify", auditor_a_).body);
  EXPECT_EQ(v["ok"], true) << v.dump();
  v = json::parse(Call("GET", "/v1/audit/verify", admin_b_).body);
  EXPECT_EQ(v["ok"], false);
  EXPECT_EQ(v["first_bad_seq"], b_seq);
  v = json::parse(Call("GET", "/v1/audit/verify", sys_auditor_).body);
  EXPECT_EQ(v["ok"], false);
  EXPECT_EQ(v["first_bad_seq"], b_seq);
}

TEST_F(AuditApiTest, FailedAuthenticationIsCountedAndSampled) {
  const std::string bad = "cf_" + std::string(40, 'x');
  for (int i = 0; i < 5; ++i) {
    // Another source port each time: the window is per address.
    EXPECT_EQ(
        Call("GET", "/v1/certificates", bad, "", "10.0.0.7:" + std::to_string(4000 + i)).status,
        401);
  }
  EXPECT_EQ(Call("GET", "/v1/certificates", "").status, 401);  // no token at all
  auto failed = Records("auth.failed");
  ASSERT_EQ(failed.size(), 2u);  // one per source address, not one per request
  EXPECT_EQ(failed[0].source, "10.0.0.7:4000");
  EXPECT_EQ(failed[0].account_id, "");  // the system chain

  // A minute later the next failure is recorded, with the count of those that were not.
  env_.clock.Advance(std::chrono::seconds(61));
  EXPECT_EQ(Call("GET", "/v1/certificates", bad, "", "10.0.0.7:5000").status, 401);
  failed = Records("auth.failed");
  ASSERT_EQ(failed.size(), 3u);
  EXPECT_NE(failed[2].detail.find("suppressed=4"), std::string::npos) << failed[2].detail;

  auto m = Call("GET", "/metrics", sys_admin_);
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_NE(m.body.find("certfleet_auth_failures_total{reason=\"invalid\"} 6"), std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("certfleet_auth_failures_total{reason=\"missing\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("certfleet_auth_failures_total{reason=\"revoked\"} 0"), std::string::npos);
  // And the system chain verifies.
  auto v = json::parse(Call("GET", "/v1/audit/verify", sys_auditor_).body);
  EXPECT_EQ(v["ok"], true) << v.dump();
}

}  // namespace
}  // namespace certfleet::api
