// Conformance: renewal states, leases and revocations (issue #5).
#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

// Account 1 with certificates 1 and 2, each issued with version 1 current.
class RenewalsFixture {
 public:
  static void Seed(Tx& tx, int cert_n, model::CertificateStatus status) {
    model::Certificate c = MakeCertificate(TestId("acc", 1), cert_n);
    model::CertificateVersion v = MakeVersion(c.id, 1, cert_n * 10 + 1);
    c.status = status;
    c.current_version_id = v.id;
    ASSERT_TRUE(IsOk(tx.certificates().Insert(c)));
    ASSERT_TRUE(IsOk(tx.versions().Insert(v)));
  }
};

TEST_P(StoreConformanceTest, RenewalStatesPlanAndDue) {
  SeedAccounts();
  Commit([](Tx& tx) {
    RenewalsFixture::Seed(tx, 1, model::CertificateStatus::kIssued);
    RenewalsFixture::Seed(tx, 2, model::CertificateStatus::kIssued);
    RenewalsFixture::Seed(tx, 3, model::CertificateStatus::kRevoked);
  });
  auto tx = Begin();
  const std::string c1 = TestId("crt", 1), c2 = TestId("crt", 2), c3 = TestId("crt", 3);
  const std::string v1 = MakeVersion(c1, 1, 11).id, v2 = MakeVersion(c2, 1, 21).id;
  EXPECT_TRUE(HasCode(tx->renewals().Get(c1), ErrorCode::kNotFound));
  auto unplanned = tx->renewals().ListUnplanned("", 10);
  ASSERT_TRUE(IsOk(unplanned));
  ASSERT_EQ(unplanned->size(), 2u);  // the revoked one is not a candidate
  EXPECT_EQ((*unplanned)[0].certificate_id, c1);
  EXPECT_EQ((*unplanned)[0].version_id, v1);
  EXPECT_EQ(tx->renewals().ListUnplanned("", 1)->size(), 1u);
  auto next = tx->renewals().ListUnplanned((*unplanned)[0].certificate_id, 10);
  ASSERT_TRUE(IsOk(next));
  ASSERT_EQ(next->size(), 1u);  // keyset pagination: only ids after the first
  EXPECT_EQ((*next)[0].certificate_id, c2);

  model::RenewalState s1{.certificate_id = c1,
                         .version_id = v1,
                         .next_attempt_at = T(100),
                         .failures = 2,
                         .last_error = "down",
                         .job_id = "job_1",
                         .updated_at = T(1)};
  ASSERT_TRUE(IsOk(tx->renewals().Put(s1)));
  ASSERT_TRUE(IsOk(tx->renewals().Put(
      {.certificate_id = c2, .version_id = v2, .next_attempt_at = T(50), .updated_at = T(1)})));
  auto got = tx->renewals().Get(c1);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->failures, 2);
  EXPECT_EQ(got->last_error, "down");
  EXPECT_EQ(got->job_id, "job_1");
  EXPECT_EQ(got->next_attempt_at, T(100));
  EXPECT_TRUE(tx->renewals().ListUnplanned("", 10)->empty());

  auto due = tx->renewals().ListDue(T(99), 10);
  ASSERT_TRUE(IsOk(due));
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].certificate_id, c2);
  due = tx->renewals().ListDue(T(100), 10);
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].certificate_id, c2);  // earliest first
  EXPECT_EQ(tx->renewals().ListDue(T(100), 1)->size(), 1u);

  // Put replaces; a state for an older version is neither due nor planned.
  s1.version_id = "crv_old";
  ASSERT_TRUE(IsOk(tx->renewals().Put(s1)));
  EXPECT_EQ(tx->renewals().ListDue(T(1000), 10)->size(), 1u);
  EXPECT_EQ(tx->renewals().ListUnplanned("", 10)->size(), 1u);
  EXPECT_TRUE(HasCode(tx->renewals().Put({.certificate_id = c3 + "x", .version_id = "v"}),
                      ErrorCode::kFailedPrecondition));
}

// Issue #14: the store keeps the set of certificates that need planning as certificates and
// states change, and hands each candidate out with what planning needs.
TEST_P(StoreConformanceTest, UnplannedSetFollowsCertificatesAndStates) {
  SeedAccounts();
  const std::string c1 = TestId("crt", 1);
  Commit([](Tx& tx) { RenewalsFixture::Seed(tx, 1, model::CertificateStatus::kPending); });
  auto tx = Begin();
  EXPECT_EQ(*tx->renewals().CountUnplanned(), 0);  // pending: nothing to plan
  model::Certificate c = *tx->certificates().Get(c1);
  c.status = model::CertificateStatus::kIssued;
  c.renew_before_seconds = 3600;
  ASSERT_TRUE(IsOk(tx->certificates().Update(c)));
  EXPECT_EQ(*tx->renewals().CountUnplanned(), 1);
  auto unplanned = tx->renewals().ListUnplanned("", 10);
  ASSERT_TRUE(IsOk(unplanned));
  ASSERT_EQ(unplanned->size(), 1u);
  const model::CertificateVersion v1 = MakeVersion(c1, 1, 11);
  const RenewalCandidate& got = (*unplanned)[0];
  EXPECT_EQ(got.certificate_id, c1);
  EXPECT_EQ(got.version_id, v1.id);
  EXPECT_EQ(got.account_id, c.account_id);
  EXPECT_EQ(got.version, 1);
  EXPECT_EQ(got.not_before, v1.not_before);
  EXPECT_EQ(got.not_after, v1.not_after);
  EXPECT_EQ(got.created_at, v1.created_at);
  EXPECT_EQ(got.renew_before_seconds, std::optional<int64_t>(3600));

  // Planned: out of the set; a state for another version puts it back.
  ASSERT_TRUE(IsOk(tx->renewals().Put(
      {.certificate_id = c1, .version_id = v1.id, .next_attempt_at = T(50), .updated_at = T(1)})));
  EXPECT_EQ(*tx->renewals().CountUnplanned(), 0);
  EXPECT_TRUE(tx->renewals().ListUnplanned("", 10)->empty());
  ASSERT_TRUE(IsOk(tx->renewals().Put({.certificate_id = c1,
                                       .version_id = "crv_other",
                                       .next_attempt_at = T(50),
                                       .updated_at = T(1)})));
  EXPECT_EQ(*tx->renewals().CountUnplanned(), 1);
  ASSERT_TRUE(IsOk(tx->renewals().Put(
      {.certificate_id = c1, .version_id = v1.id, .next_attempt_at = T(50), .updated_at = T(1)})));
  EXPECT_EQ(*tx->renewals().CountUnplanned(), 0);

  // A new current version (a renewal) needs planning; its old state is no longer due.
  const model::CertificateVersion v2 = MakeVersion(c1, 2, 12);
  ASSERT_TRUE(IsOk(tx->versions().Insert(v2)));
  c.current_version_id = v2.id;
  ASSERT_TRUE(IsOk(tx->certificates().Update(c)));
  unplanned = tx->renewals().ListUnplanned("", 10);
  ASSERT_EQ(unplanned->size(), 1u);
  EXPECT_EQ((*unplanned)[0].version_id, v2.id);
  EXPECT_EQ((*unplanned)[0].version, 2);
  EXPECT_TRUE(tx->renewals().ListDue(T(100), 10)->empty());
  ASSERT_TRUE(IsOk(tx->renewals().Put(
      {.certificate_id = c1, .version_id = v2.id, .next_attempt_at = T(60), .updated_at = T(2)})));
  EXPECT_EQ(*tx->renewals().CountUnplanned(), 0);
  EXPECT_EQ(tx->renewals().ListDue(T(100), 10)->size(), 1u);

  // Updates that change neither status nor version leave the plan alone.
  c.status_detail = "renewal failed: the CA is down";
  ASSERT_TRUE(IsOk(tx->certificates().Update(c)));
  EXPECT_EQ(*tx->renewals().CountUnplanned(), 0);
  EXPECT_EQ(tx->renewals().Get(c1)->next_attempt_at, T(60));

  // Leaving the issued status drops the state: nothing stale stays in the due range.
  c.status = model::CertificateStatus::kRevoked;
  ASSERT_TRUE(IsOk(tx->certificates().Update(c)));
  EXPECT_TRUE(HasCode(tx->renewals().Get(c1), ErrorCode::kNotFound));
  EXPECT_EQ(*tx->renewals().CountUnplanned(), 0);
  EXPECT_TRUE(tx->renewals().ListUnplanned("", 10)->empty());
  EXPECT_TRUE(tx->renewals().ListDue(T(1000), 10)->empty());
}

// The set is kept in the transaction: a rollback undoes it with the change.
TEST_P(StoreConformanceTest, UnplannedSetRollsBackWithItsChange) {
  SeedAccounts();
  {
    auto tx = Begin();
    RenewalsFixture::Seed(*tx, 1, model::CertificateStatus::kIssued);
    EXPECT_EQ(*tx->renewals().CountUnplanned(), 1);
  }  // not committed
  auto tx = Begin();
  EXPECT_EQ(*tx->renewals().CountUnplanned(), 0);
  EXPECT_TRUE(tx->renewals().ListUnplanned("", 10)->empty());
}

TEST_P(StoreConformanceTest, LeasesArePutReadAndDeletedByTheirOwner) {
  auto tx = Begin();
  auto none = tx->leases().Get("scheduler");
  ASSERT_TRUE(IsOk(none));
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(IsOk(tx->leases().Put({"scheduler", "a", T(60)})));
  ASSERT_TRUE(IsOk(tx->leases().Put({"scheduler", "b", T(120)})));
  auto got = tx->leases().Get("scheduler");
  ASSERT_TRUE(IsOk(got));
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->owner, "b");
  EXPECT_EQ((*got)->expires_at, T(120));
  ASSERT_TRUE(IsOk(tx->leases().Delete("scheduler", "a")));  // not a's: nothing happens
  EXPECT_TRUE(tx->leases().Get("scheduler")->has_value());
  ASSERT_TRUE(IsOk(tx->leases().Delete("scheduler", "b")));
  EXPECT_FALSE(tx->leases().Get("scheduler")->has_value());
}

TEST_P(StoreConformanceTest, RevocationsAreListedByCaAndCertificate) {
  auto tx = Begin();
  model::Revocation r{.serial_hex = "0b",
                      .ca_id = "ca_1",
                      .certificate_id = "crt_1",
                      .version_id = "crv_1",
                      .reason = 1,
                      .revoked_at = T(5)};
  ASSERT_TRUE(IsOk(tx->revocations().Insert(r)));
  EXPECT_TRUE(HasCode(tx->revocations().Insert(r), ErrorCode::kConflict));
  r.serial_hex = "0a";
  r.version_id = "crv_2";
  ASSERT_TRUE(IsOk(tx->revocations().Insert(r)));
  r.serial_hex = "0c";
  r.ca_id = "ca_2";
  r.certificate_id = "crt_2";
  ASSERT_TRUE(IsOk(tx->revocations().Insert(r)));
  auto by_ca = tx->revocations().ListByCa("ca_1");
  ASSERT_TRUE(IsOk(by_ca));
  ASSERT_EQ(by_ca->size(), 2u);
  EXPECT_EQ((*by_ca)[0].serial_hex, "0a");
  EXPECT_EQ((*by_ca)[1].reason, 1);
  EXPECT_EQ((*by_ca)[1].revoked_at, T(5));
  EXPECT_EQ(tx->revocations().ListByCertificate("crt_2")->size(), 1u);
  EXPECT_TRUE(tx->revocations().ListByCertificate("crt_3")->empty());
}

}  // namespace
}  // namespace certfleet::store::testing
