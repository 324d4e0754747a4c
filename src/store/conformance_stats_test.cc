// Conformance: notices and the aggregates behind GET /metrics and the expiry watchers
// (NoticeRepo, StatsRepo; issue #5).
#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);

TEST_P(StoreConformanceTest, NoticesArePutReplacedAndReadByKindAndSubject) {
  auto tx = Begin();
  auto none = tx->notices().Get("certificate.expired", "crt_1");
  ASSERT_TRUE(IsOk(none));
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(IsOk(tx->notices().Put({"certificate.expired", "crt_1", "crv_1", T(5)})));
  ASSERT_TRUE(IsOk(tx->notices().Put({"agent.offline", "crt_1", "other", T(6)})));
  ASSERT_TRUE(IsOk(tx->notices().Put({"certificate.expired", "crt_1", "crv_2", T(7)})));
  auto got = tx->notices().Get("certificate.expired", "crt_1");
  ASSERT_TRUE(IsOk(got));
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->marker, "crv_2");
  EXPECT_EQ((*got)->updated_at, T(7));
  EXPECT_EQ((*tx->notices().Get("agent.offline", "crt_1"))->marker, "other");
}

TEST_P(StoreConformanceTest, CertificateExpiryListsIssuedCurrentVersionsByIdWithABound) {
  SeedAccounts();
  Commit([](Tx& tx) {
    for (int n = 1; n <= 3; ++n) {
      model::Certificate c = MakeCertificate(kAcc1, n);
      // Version n*10 + 1 is current; it ends at T(n*10 + 1 + 90 days).
      model::CertificateVersion old = MakeVersion(c.id, 1, n * 10);
      model::CertificateVersion v = MakeVersion(c.id, 2, n * 10 + 1);
      c.status = n == 3 ? model::CertificateStatus::kRevoked : model::CertificateStatus::kIssued;
      c.current_version_id = v.id;
      c.tags = {{"env", "prod"}};
      ASSERT_TRUE(IsOk(tx.certificates().Insert(c)));
      ASSERT_TRUE(IsOk(tx.versions().Insert(old)));
      ASSERT_TRUE(IsOk(tx.versions().Insert(v)));
    }
  });
  auto tx = Begin();
  auto all = tx->stats().ListCertificateExpiry(std::nullopt, "", 10);
  ASSERT_TRUE(IsOk(all));
  ASSERT_EQ(all->size(), 2u);  // the revoked one is left out
  EXPECT_EQ((*all)[0].certificate_id, TestId(model::kCertificatePrefix, 1));
  EXPECT_EQ((*all)[0].version_id, TestId(model::kVersionPrefix, 11));
  EXPECT_EQ((*all)[0].not_after, T(11 + 90 * 86400));
  EXPECT_EQ((*all)[0].account_id, kAcc1);
  EXPECT_EQ((*all)[0].tags.at("env"), "prod");
  EXPECT_FALSE((*all)[0].name.empty());
  auto page = tx->stats().ListCertificateExpiry(std::nullopt, (*all)[0].certificate_id, 10);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].certificate_id, TestId(model::kCertificatePrefix, 2));
  EXPECT_EQ(tx->stats().ListCertificateExpiry(std::nullopt, "", 1)->size(), 1u);
  // The bound is exclusive and applies to the current version only.
  EXPECT_EQ(tx->stats().ListCertificateExpiry(T(21 + 90 * 86400), "", 10)->size(), 1u);
  EXPECT_EQ(tx->stats().ListCertificateExpiry(T(22 + 90 * 86400), "", 10)->size(), 2u);
  EXPECT_TRUE(tx->stats().ListCertificateExpiry(T(11 + 90 * 86400), "", 10)->empty());

  auto by_status = tx->stats().CountCertificatesByStatus();
  ASSERT_TRUE(IsOk(by_status));
  ASSERT_EQ(by_status->size(), 2u);
  EXPECT_EQ((*by_status)[0].name, "issued");
  EXPECT_EQ((*by_status)[0].count, 2);
  EXPECT_EQ((*by_status)[1].name, "revoked");
  EXPECT_EQ((*by_status)[1].count, 1);
}

TEST_P(StoreConformanceTest, JobQueueCountsDueWaitingAndRunningJobs) {
  SeedAccounts();
  auto tx = Begin();
  auto empty = tx->stats().JobQueue(T(100));
  ASSERT_TRUE(IsOk(empty));
  EXPECT_EQ(empty->due + empty->waiting + empty->running, 0);
  EXPECT_FALSE(empty->oldest_due.has_value());
  const std::pair<model::JobState, int64_t> jobs[] = {{model::JobState::kPending, 10},
                                                      {model::JobState::kPending, 50},
                                                      {model::JobState::kPending, 200},
                                                      {model::JobState::kRunning, 5},
                                                      {model::JobState::kSucceeded, 1}};
  int n = 0;
  for (const auto& [state, run_after] : jobs) {
    model::Job j;
    j.id = TestId(model::kJobPrefix, ++n);
    j.account_id = kAcc1;
    j.type = "t";
    j.step = "start";
    j.state = state;
    j.max_attempts = 1;
    j.run_after = T(run_after);
    j.created_at = T(0);
    j.updated_at = T(0);
    ASSERT_TRUE(IsOk(tx->jobs().Insert(j)));
  }
  auto q = tx->stats().JobQueue(T(100));
  ASSERT_TRUE(IsOk(q));
  EXPECT_EQ(q->due, 2);
  EXPECT_EQ(q->waiting, 1);
  EXPECT_EQ(q->running, 1);
  ASSERT_TRUE(q->oldest_due.has_value());
  EXPECT_EQ(*q->oldest_due, T(10));
}

TEST_P(StoreConformanceTest, EventAndAgentCounts) {
  SeedAccounts();
  auto tx = Begin();
  for (int n = 1; n <= 3; ++n) {
    model::Event e{.id = TestId(model::kEventPrefix, n),
                   .account_id = kAcc1,
                   .type = n == 3 ? "certificate.renewal_failed" : "certificate.renewed",
                   .subject = "crt_x",
                   .data_json = "{}",
                   .time = T(n)};
    ASSERT_TRUE(IsOk(tx->events().Append(e)));
  }
  auto types = tx->stats().CountEventsByType();
  ASSERT_TRUE(IsOk(types));
  ASSERT_EQ(types->size(), 2u);
  EXPECT_EQ((*types)[0].name, "certificate.renewal_failed");
  EXPECT_EQ((*types)[0].count, 1);
  EXPECT_EQ((*types)[1].count, 2);
  EXPECT_EQ(*tx->stats().CountFailedDeliveryAttempts(), 0);
  EXPECT_TRUE(tx->stats().CountDeploymentsByState()->empty());
  EXPECT_TRUE(tx->stats().CountTargetsByState()->empty());
  EXPECT_TRUE(tx->stats().CountDeliveriesByStatus()->empty());

  ASSERT_TRUE(IsOk(tx->principals().Insert(MakePrincipal(kAcc1, 1))));
  for (int n = 1; n <= 3; ++n) {
    model::Agent a;
    a.id = TestId(model::kAgentPrefix, n);
    a.account_id = kAcc1;
    a.principal_id = TestId(model::kPrincipalPrefix, 1);
    a.hostname = "h";
    a.cert_serial_hex = "a" + std::to_string(n);
    a.cert_not_after = T(1000);
    a.status = n == 3 ? model::AgentStatus::kDisabled : model::AgentStatus::kActive;
    a.last_seen_at = T(n * 100);
    a.created_at = T(0);
    a.updated_at = T(0);
    ASSERT_TRUE(IsOk(tx->agents().Insert(a)));
  }
  EXPECT_EQ(*tx->stats().CountAgents(), 3);
  EXPECT_EQ(*tx->stats().CountAgentsSeenSince(T(100)), 2);
  EXPECT_EQ(*tx->stats().CountAgentsSeenSince(T(150)), 1);  // the disabled one never counts
}

}  // namespace
}  // namespace certfleet::store::testing
