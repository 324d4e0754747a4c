// Conformance: the filtered, keyset-paged lists behind GET /v1/agents, /v1/secrets,
// /v1/deployments, /v1/audit and /v1/reports/exports (issue #17, docs/api.md "Pagination").
// Every filter runs in SQL before the page is cut, so a page never comes back short while
// matching rows remain, and pages resume exactly where the last one ended.
#include <optional>
#include <string>
#include <vector>

#include "base/time_util.h"
#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kAcc2 = TestId(model::kAccountPrefix, 2);
const std::string kPrn1 = TestId(model::kPrincipalPrefix, 1);
const std::string kPrn2 = TestId(model::kPrincipalPrefix, 2);
const std::string kCrt1 = TestId(model::kCertificatePrefix, 1);
const std::string kCrt2 = TestId(model::kCertificatePrefix, 2);

using Strings = std::vector<std::string>;

template <typename T>
Strings Ids(const std::vector<T>& rows) {
  Strings out;
  for (const T& r : rows) out.push_back(r.id);
  return out;
}

std::string Agt(int n) { return TestId(model::kAgentPrefix, n); }
std::string Sec(int n) { return TestId(model::kSecretPrefix, n); }
std::string Dep(int n) { return TestId(model::kDeploymentPrefix, n); }
std::string Exp(int n) { return TestId(model::kExportPrefix, n); }

// Accounts 1 and 2, principal 1 in account 1 and 2 in account 2, certificate 1 of account 1
// and 2 of account 2.
void InsertOwners(Tx& tx) {
  ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(1))));
  ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(2))));
  ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc1, 1))));
  ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc2, 2))));
  ASSERT_TRUE(IsOk(tx.certificates().Insert(MakeCertificate(kAcc1, 1))));
  ASSERT_TRUE(IsOk(tx.certificates().Insert(MakeCertificate(kAcc2, 2))));
}

model::Agent ListAgent(int n, const std::string& account_id, const std::string& hostname,
                       model::Tags tags, std::optional<TimePoint> last_seen) {
  model::Agent a;
  a.id = Agt(n);
  a.account_id = account_id;
  a.principal_id = account_id == kAcc1 ? kPrn1 : kPrn2;
  a.hostname = hostname;
  a.tags = std::move(tags);
  a.cert_serial_hex = "b" + std::to_string(n);
  a.cert_not_after = T(86400);
  a.enrollment_token_id = TestId(model::kEnrollmentTokenPrefix, n);
  a.last_seen_at = last_seen;
  a.created_at = T(n);
  a.updated_at = T(n);
  return a;
}

TEST_P(StoreConformanceTest, AgentListFiltersInSqlAndPages) {
  // n  account  hostname        tags                  last seen  status
  // 1  acc1     web-1.example   env=prod role=web     T(1000)    active
  // 2  acc1     DB-1.example    env=prod role=db      T(100)     active
  // 3  acc2     web-2.example   env=prod role=web     T(1000)    active
  // 4  acc1     web-3.example   env=dev  role=web     never      active
  // 5  acc1     web-4.example   env=prod role=web     T(1000)    revoked
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.agents().Insert(
        ListAgent(1, kAcc1, "web-1.example", {{"env", "prod"}, {"role", "web"}}, T(1000)))));
    ASSERT_TRUE(IsOk(tx.agents().Insert(
        ListAgent(2, kAcc1, "DB-1.example", {{"env", "prod"}, {"role", "db"}}, T(100)))));
    ASSERT_TRUE(IsOk(tx.agents().Insert(
        ListAgent(3, kAcc2, "web-2.example", {{"env", "prod"}, {"role", "web"}}, T(1000)))));
    ASSERT_TRUE(IsOk(tx.agents().Insert(
        ListAgent(4, kAcc1, "web-3.example", {{"env", "dev"}, {"role", "web"}}, std::nullopt))));
    auto revoked =
        ListAgent(5, kAcc1, "web-4.example", {{"env", "prod"}, {"role", "web"}}, T(1000));
    revoked.status = model::AgentStatus::kRevoked;
    ASSERT_TRUE(IsOk(tx.agents().Insert(revoked)));
  });
  auto tx = Begin();
  auto list = [&](const AgentFilter& f) {
    auto r = tx->agents().List(f);
    EXPECT_TRUE(IsOk(r));
    return r.ok() ? Ids(*r) : Strings{"error"};
  };
  EXPECT_EQ(list({}), (Strings{Agt(1), Agt(2), Agt(3), Agt(4), Agt(5)}));
  EXPECT_EQ(list({.account_id = kAcc2}), Strings{Agt(3)});
  EXPECT_EQ(list({.account_id = kAcc1, .tags = {{"role", "web"}, {"env", "prod"}}}),
            (Strings{Agt(1), Agt(5)}));
  // A tag matches whole keys and values only.
  EXPECT_TRUE(list({.tags = {{"env", "pro"}}}).empty());
  EXPECT_TRUE(list({.tags = {{"nv", "prod"}}}).empty());
  EXPECT_EQ(list({.account_id = kAcc1, .status = model::AgentStatus::kActive}),
            (Strings{Agt(1), Agt(2), Agt(4)}));
  EXPECT_EQ(list({.hostname_contains = "db-1"}), Strings{Agt(2)});  // case-insensitive
  EXPECT_EQ(list({.account_id = kAcc1, .seen_since = T(500)}), (Strings{Agt(1), Agt(5)}));
  // Offline: seen before the bound, or never.
  EXPECT_EQ(list({.account_id = kAcc1, .unseen_since = T(500)}), (Strings{Agt(2), Agt(4)}));
  EXPECT_TRUE(
      HasCode(tx->agents().List({.hostname_contains = "x\"y"}), ErrorCode::kInvalidArgument));
  // Pages: a filter applied before the cut, so each page is full until the last.
  AgentFilter web{.account_id = kAcc1, .tags = {{"role", "web"}}, .limit = 2};
  EXPECT_EQ(list(web), (Strings{Agt(1), Agt(4)}));
  web.after_id = Agt(4);
  EXPECT_EQ(list(web), Strings{Agt(5)});
  web.after_id = Agt(5);
  EXPECT_TRUE(list(web).empty());
}

TEST_P(StoreConformanceTest, SecretListFiltersInSqlAndPages) {
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    for (int n = 1; n <= 5; ++n) {
      auto s = MakeSecret(n == 3 ? kAcc2 : kAcc1, n);
      if (n == 2) s.tags = {{"env", "dev"}};
      if (n == 4) s.kind = model::SecretKind::kGeneric;
      if (n == 5) s.name = "Deploy-Web";
      ASSERT_TRUE(IsOk(tx.secrets().Insert(s)));
    }
  });
  auto tx = Begin();
  auto list = [&](const SecretFilter& f) {
    auto r = tx->secrets().List(f);
    EXPECT_TRUE(IsOk(r));
    return r.ok() ? Ids(*r) : Strings{"error"};
  };
  EXPECT_EQ(list({.account_id = kAcc1}), (Strings{Sec(1), Sec(2), Sec(4), Sec(5)}));
  EXPECT_EQ(list({.account_id = kAcc1, .tags = {{"env", "prod"}}}),
            (Strings{Sec(1), Sec(4), Sec(5)}));
  EXPECT_EQ(list({.account_id = kAcc1, .kind = model::SecretKind::kGeneric}), Strings{Sec(4)});
  EXPECT_EQ(list({.name_contains = "deploy"}), Strings{Sec(5)});
  EXPECT_EQ(list({.account_id = kAcc2}), Strings{Sec(3)});
  EXPECT_EQ(list({.account_id = kAcc1, .limit = 2, .after_id = Sec(1)}), (Strings{Sec(2), Sec(4)}));
}

TEST_P(StoreConformanceTest, DeploymentListEitherSideAndState) {
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    // 1: acc1's certificate onto acc2; 2: acc2's onto acc2; 3: acc1's onto acc1 (failed).
    model::Deployment d{.id = Dep(1),
                        .account_id = kAcc1,
                        .certificate_id = kCrt1,
                        .target_account_id = kAcc2,
                        .profile = "nginx",
                        .created_by = kPrn1,
                        .created_at = T(1),
                        .updated_at = T(1)};
    ASSERT_TRUE(IsOk(tx.deployments().Insert(d)));
    d.id = Dep(2);
    d.account_id = kAcc2;
    d.certificate_id = kCrt2;
    ASSERT_TRUE(IsOk(tx.deployments().Insert(d)));
    d.id = Dep(3);
    d.account_id = kAcc1;
    d.certificate_id = kCrt1;
    d.target_account_id = kAcc1;
    d.state = model::DeploymentState::kFailed;
    ASSERT_TRUE(IsOk(tx.deployments().Insert(d)));
  });
  auto tx = Begin();
  auto list = [&](const DeploymentFilter& f) {
    auto r = tx->deployments().List(f);
    EXPECT_TRUE(IsOk(r));
    return r.ok() ? Ids(*r) : Strings{"error"};
  };
  EXPECT_EQ(list({.party_account_id = kAcc1}), (Strings{Dep(1), Dep(3)}));
  EXPECT_EQ(list({.party_account_id = kAcc2}), (Strings{Dep(1), Dep(2)}));
  EXPECT_EQ(list({.party_account_id = kAcc1, .state = model::DeploymentState::kFailed}),
            Strings{Dep(3)});
  EXPECT_EQ(list({.party_account_id = kAcc2, .state = model::DeploymentState::kRunning}),
            (Strings{Dep(1), Dep(2)}));
  EXPECT_EQ(
      list({.certificate_id = kCrt1, .limit = 1, .after_id = Dep(1), .party_account_id = kAcc1}),
      Strings{Dep(3)});
}

TEST_P(StoreConformanceTest, AuditListByActionResourceTypeAndOutcome) {
  Commit([](Tx& tx) {
    for (int n = 1; n <= 6; ++n) {
      auto r = MakeAudit(n, kAcc1, kPrn1, T(n));
      if (n % 2 == 0) r.action = "secret.read_value";
      if (n == 4) r.resource = TestId(model::kSecretPrefix, 4);
      if (n == 5) r.resource = "";
      if (n == 6) r.outcome = model::AuditOutcome::kDenied;
      ASSERT_TRUE(IsOk(tx.audit().Insert(r)));
    }
  });
  auto tx = Begin();
  auto list = [&](const AuditFilter& f) {
    auto r = tx->audit().List(f);
    EXPECT_TRUE(IsOk(r));
    std::vector<int64_t> seqs;
    for (const auto& rec : r.ok() ? *r : std::vector<model::AuditRecord>{}) {
      seqs.push_back(rec.seq);
    }
    return seqs;
  };
  using V = std::vector<int64_t>;
  EXPECT_EQ(list({.action = "secret.read_value"}), (V{2, 4, 6}));
  EXPECT_EQ(list({.resource_type = "crt"}), (V{1, 2, 3, 6}));
  EXPECT_EQ(list({.resource_type = "sec"}), V{4});
  EXPECT_EQ(list({.resource_type = "cr"}), V{});  // a whole prefix, not part of one
  EXPECT_EQ(list({.outcome = model::AuditOutcome::kDenied}), V{6});
  EXPECT_EQ(list({.after_seq = 2, .limit = 1, .action = "secret.read_value"}), V{4});
}

TEST_P(StoreConformanceTest, ExportListPagesByTimeAndSummarizesPerCertificate) {
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    // Exports 1-4 of certificate 1 (account 1) at T(10), T(10), T(20), T(30); 5 of certificate
    // 2 (account 2) at T(20) by principal 2; 6 refused.
    const int64_t at[] = {0, 10, 10, 20, 30, 20, 40};
    for (int n = 1; n <= 6; ++n) {
      auto e = MakeExport(n == 5 ? kAcc2 : kAcc1, n == 5 ? kCrt2 : kCrt1, n, T(at[n]));
      if (n == 5) e.principal_id = kPrn2;
      if (n == 6) e.allowed = false;
      ASSERT_TRUE(IsOk(tx.exports().Insert(e)));
    }
  });
  auto tx = Begin();
  auto list = [&](const ExportFilter& f) {
    auto r = tx->exports().List(f);
    EXPECT_TRUE(IsOk(r));
    return r.ok() ? Ids(*r) : Strings{"error"};
  };
  EXPECT_EQ(list({.account_id = kAcc1, .limit = 2}), (Strings{Exp(1), Exp(2)}));
  // Resumes after (T(10), export 2): the tie on time is broken by id.
  EXPECT_EQ(
      list(
          {.account_id = kAcc1, .limit = 2, .after_id = Exp(2), .after_key = ToUnixSeconds(T(10))}),
      (Strings{Exp(3), Exp(4)}));
  EXPECT_EQ(list({.principal_id = kPrn2}), Strings{Exp(5)});
  EXPECT_EQ(list({.since = T(20), .until = T(30)}), (Strings{Exp(3), Exp(5)}));

  auto summary = tx->exports().Summarize({});
  ASSERT_TRUE(IsOk(summary));
  ASSERT_EQ(summary->size(), 2u);
  EXPECT_EQ((*summary)[0].certificate_id, kCrt1);
  EXPECT_EQ((*summary)[0].account_id, kAcc1);
  EXPECT_EQ((*summary)[0].exports, 4);  // the refused one is not counted
  EXPECT_EQ((*summary)[0].fqdns, 12);
  EXPECT_EQ((*summary)[0].wildcards, 4);
  EXPECT_EQ((*summary)[1].certificate_id, kCrt2);
  auto since = tx->exports().Summarize({.since = T(20), .limit = 1});
  ASSERT_TRUE(IsOk(since));
  ASSERT_EQ(since->size(), 1u);
  EXPECT_EQ((*since)[0].exports, 2);
  auto next = tx->exports().Summarize({.since = T(20), .after_id = kCrt1});
  ASSERT_TRUE(IsOk(next));
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].certificate_id, kCrt2);
  auto of_acc2 = tx->exports().Summarize({.account_id = kAcc2});
  ASSERT_TRUE(IsOk(of_acc2));
  EXPECT_EQ(of_acc2->size(), 1u);
}

}  // namespace
}  // namespace certfleet::store::testing
