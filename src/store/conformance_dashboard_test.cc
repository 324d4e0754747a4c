// Conformance: the console dashboard's counts (StatsRepo::CountDashboard; issue #17), on a small
// known data set in two accounts.
#include <algorithm>
#include <map>
#include <tuple>

#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kAcc2 = TestId(model::kAccountPrefix, 2);
constexpr int64_t kDay = 86400;

// "now" of every query below; the expiry weeks start at it.
TimePoint Now() { return T(100 * kDay); }

// Certificate n of `account`: status, issuer, and (unless `not_after` is nullopt) a current
// version ending at Now() + not_after.
void AddCertificate(Tx& tx, const std::string& account, int n, model::CertificateStatus status,
                    const std::string& issuer, std::optional<Seconds> not_after) {
  model::Certificate c = MakeCertificate(account, n);
  c.status = status;
  c.issuer = issuer;
  if (not_after) {
    model::CertificateVersion v = MakeVersion(c.id, 1, n);
    v.not_after = Now() + *not_after;
    c.current_version_id = v.id;
    ASSERT_TRUE(IsOk(tx.certificates().Insert(c)));
    ASSERT_TRUE(IsOk(tx.versions().Insert(v)));
  } else {
    ASSERT_TRUE(IsOk(tx.certificates().Insert(c)));
  }
}

model::Agent Agent(int n, const std::string& account, model::AgentStatus status,
                   std::optional<TimePoint> seen) {
  model::Agent a;
  a.id = TestId(model::kAgentPrefix, n);
  a.account_id = account;
  a.principal_id = TestId(model::kPrincipalPrefix, account == kAcc1 ? 1 : 2);
  a.cert_serial_hex = "a" + std::to_string(n);
  a.cert_not_after = Now() + Seconds(30 * kDay);
  a.status = status;
  a.last_seen_at = seen;
  a.created_at = T(n);
  a.updated_at = T(n);
  return a;
}

model::Deployment Deployment(int n, const std::string& account, int certificate,
                             model::DeploymentState state) {
  model::Deployment d;
  d.id = TestId(model::kDeploymentPrefix, n);
  d.account_id = account;
  d.certificate_id = TestId(model::kCertificatePrefix, certificate);
  d.target_account_id = account;
  d.profile = "nginx";
  d.state = state;
  d.generation = 1;
  d.created_by = TestId(model::kPrincipalPrefix, 1);
  d.created_at = T(n);
  d.updated_at = T(n);
  return d;
}

std::map<std::string, int64_t> AsMap(const std::vector<NamedCount>& counts) {
  std::map<std::string, int64_t> out;
  for (const auto& c : counts) out[c.name] += c.count;
  return out;
}

using Week = std::tuple<int, std::string, int64_t>;
std::vector<Week> Weeks(const DashboardCounts& d) {
  std::vector<Week> out;
  for (const auto& w : d.expiry_weeks) out.emplace_back(w.week, w.issuer, w.count);
  std::sort(out.begin(), out.end());
  return out;
}

void Seed(Tx& tx) {
  using S = model::CertificateStatus;
  ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(1))));
  ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(2))));
  ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc1, 1))));
  ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc2, 2))));
  AddCertificate(tx, kAcc1, 1, S::kIssued, "internal", Seconds(-1));          // expired
  AddCertificate(tx, kAcc1, 2, S::kIssued, "internal", Seconds(3 * kDay));    // lt_7d, wk 0
  AddCertificate(tx, kAcc1, 3, S::kIssued, "acme-le", Seconds(10 * kDay));    // lt_30d, wk 1
  AddCertificate(tx, kAcc1, 4, S::kRevoked, "internal", Seconds(3 * kDay));   // not counted
  AddCertificate(tx, kAcc2, 5, S::kIssued, "internal", Seconds(60 * kDay));   // lt_90d, wk 8
  AddCertificate(tx, kAcc2, 6, S::kPending, "internal", std::nullopt);        // no version
  AddCertificate(tx, kAcc1, 7, S::kIssued, "internal", Seconds(200 * kDay));  // later
  AddCertificate(tx, kAcc1, 8, S::kExpired, "internal", Seconds(7 * kDay));   // lt_30d, wk 1
  using A = model::AgentStatus;
  ASSERT_TRUE(IsOk(tx.agents().Insert(Agent(1, kAcc1, A::kActive, Now() - Seconds(10)))));
  ASSERT_TRUE(IsOk(tx.agents().Insert(Agent(2, kAcc1, A::kActive, Now() - Seconds(1000)))));
  ASSERT_TRUE(IsOk(tx.agents().Insert(Agent(3, kAcc1, A::kRevoked, Now()))));
  ASSERT_TRUE(IsOk(tx.agents().Insert(Agent(4, kAcc2, A::kDisabled, Now()))));
  ASSERT_TRUE(IsOk(tx.agents().Insert(Agent(5, kAcc1, A::kActive, std::nullopt))));
  using D = model::DeploymentState;
  ASSERT_TRUE(IsOk(tx.deployments().Insert(Deployment(1, kAcc1, 2, D::kRunning))));
  ASSERT_TRUE(IsOk(tx.deployments().Insert(Deployment(2, kAcc1, 3, D::kFailed))));
  ASSERT_TRUE(IsOk(tx.deployments().Insert(Deployment(3, kAcc2, 5, D::kSucceeded))));
  // Failing: certificate 2 (current version, 2 failures). Not failing: certificate 3 (no
  // failure), 5 (failures for an older version), 4 (revoked).
  auto state = [](int n, int version, int failures) {
    return model::RenewalState{.certificate_id = TestId(model::kCertificatePrefix, n),
                               .version_id = TestId(model::kVersionPrefix, version),
                               .next_attempt_at = Now(),
                               .failures = failures,
                               .updated_at = Now()};
  };
  ASSERT_TRUE(IsOk(tx.renewals().Put(state(2, 2, 2))));
  ASSERT_TRUE(IsOk(tx.renewals().Put(state(3, 3, 0))));
  ASSERT_TRUE(IsOk(tx.renewals().Put(state(5, 99, 1))));
  ASSERT_TRUE(IsOk(tx.renewals().Put(state(4, 4, 3))));
}

DashboardQuery Query(std::optional<std::string> account) {
  return {.account_id = std::move(account),
          .now = Now(),
          .weeks_start = Now(),
          .weeks = 13,
          .agents_seen_since = Now() - Seconds(300)};
}

TEST_P(StoreConformanceTest, DashboardCountsEveryAccount) {
  Commit([](Tx& tx) { Seed(tx); });
  auto tx = Begin();
  auto d = tx->stats().CountDashboard(Query(std::nullopt));
  ASSERT_TRUE(IsOk(d));
  std::map<std::pair<std::string, std::string>, int64_t> certs;
  for (const auto& c : d->certificates) certs[{c.status, c.issuer}] += c.count;
  const std::map<std::pair<std::string, std::string>, int64_t> want_certs = {
      {{"issued", "internal"}, 4},
      {{"issued", "acme-le"}, 1},
      {{"revoked", "internal"}, 1},
      {{"pending", "internal"}, 1},
      {{"expired", "internal"}, 1}};
  EXPECT_EQ(certs, want_certs);
  const std::map<std::string, int64_t> want_expiry = {
      {"expired", 1}, {"lt_7d", 1}, {"lt_30d", 2}, {"lt_90d", 1}, {"later", 1}};
  EXPECT_EQ(AsMap(d->by_expiry), want_expiry);
  const std::vector<Week> want_weeks = {
      {0, "internal", 1}, {1, "acme-le", 1}, {1, "internal", 1}, {8, "internal", 1}};
  EXPECT_EQ(Weeks(*d), want_weeks);
  EXPECT_EQ(d->agents, 4);  // the revoked one is left out
  EXPECT_EQ(d->agents_online, 1);
  const std::map<std::string, int64_t> want_deployments = {
      {"failed", 1}, {"running", 1}, {"succeeded", 1}};
  EXPECT_EQ(AsMap(d->deployments_by_state), want_deployments);
  EXPECT_EQ(d->renewals_failing, 1);
}

TEST_P(StoreConformanceTest, DashboardCountsOneAccount) {
  Commit([](Tx& tx) { Seed(tx); });
  auto tx = Begin();
  auto d = tx->stats().CountDashboard(Query(kAcc2));
  ASSERT_TRUE(IsOk(d));
  std::map<std::pair<std::string, std::string>, int64_t> certs;
  for (const auto& c : d->certificates) certs[{c.status, c.issuer}] += c.count;
  const std::map<std::pair<std::string, std::string>, int64_t> want_certs = {
      {{"issued", "internal"}, 1}, {{"pending", "internal"}, 1}};
  EXPECT_EQ(certs, want_certs);
  EXPECT_EQ(AsMap(d->by_expiry), (std::map<std::string, int64_t>{{"lt_90d", 1}}));
  EXPECT_EQ(Weeks(*d), (std::vector<Week>{{8, "internal", 1}}));
  EXPECT_EQ(d->agents, 1);
  EXPECT_EQ(d->agents_online, 0);
  EXPECT_EQ(AsMap(d->deployments_by_state), (std::map<std::string, int64_t>{{"succeeded", 1}}));
  EXPECT_EQ(d->renewals_failing, 0);

  auto one = tx->stats().CountDashboard(Query(kAcc1));
  ASSERT_TRUE(IsOk(one));
  EXPECT_EQ(one->agents, 3);
  EXPECT_EQ(one->agents_online, 1);
  EXPECT_EQ(one->renewals_failing, 1);
  // An account with nothing in it: zeros, no error.
  auto none = tx->stats().CountDashboard(Query("acc_nothing"));
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->certificates.empty());
  EXPECT_TRUE(none->by_expiry.empty());
  EXPECT_EQ(none->agents, 0);
}

}  // namespace
}  // namespace certfleet::store::testing
