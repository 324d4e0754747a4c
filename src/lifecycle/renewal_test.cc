// Renewal (issue #5): CertificateService::Renew and the renewal scheduler.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/time_util.h"
#include "crypto/key.h"
#include "fakes/pki_env.h"
#include "jobs/engine.h"
#include "lifecycle/agent_service.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/deployment_service.h"
#include "lifecycle/issuers/internal_issuer.h"
#include "lifecycle/redeploy_on_renewal.h"
#include "lifecycle/renewal_scheduler.h"
#include "x509/certificate.h"
#include "x509/csr.h"

namespace certfleet::lifecycle {
namespace {

// The internal issuer, failing on demand.
class FlakyIssuer final : public Issuer, public CrlPublisher {
 public:
  explicit FlakyIssuer(ca::CertificateAuthority& ca) : inner_(ca) {}
  const std::string& name() const override { return inner_.name(); }
  Result<IssueOutcome> Issue(const IssueInput& input, const std::string& key) override {
    last_key = key;
    if (fail) return Unavailable("the CA is down");
    return inner_.Issue(input, key);
  }
  Result<std::string> CurrentCrl() override { return inner_.CurrentCrl(); }
  std::atomic<bool> fail{false};
  std::string last_key;

 private:
  InternalIssuer inner_;
};

class RenewalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto issuer = std::make_unique<FlakyIssuer>(env_.Ca());
    issuer_ = issuer.get();
    issuers_.Register(std::move(issuer));
    certs_ = std::make_unique<CertificateService>(*env_.store, *env_.secret_store, issuers_,
                                                  env_.clock, SystemRandomSource());
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    for (const char* id : {"acc_a", "acc_b"}) {
      ASSERT_TRUE((*tx)->accounts().Insert({id, id, env_.clock.Now()}).ok());
    }
    ASSERT_TRUE((*tx)->Commit().ok());
    // Non-system accounts hold only names they claim (issue #13).
    for (const char* id : {"acc_a", "acc_b"}) env_.ClaimDomain(id, "example.test");
  }

  CertificateView Issue(const std::string& name, std::optional<Seconds> validity = std::nullopt,
                        std::optional<Seconds> renew_before = std::nullopt) {
    CertificateRequest r;
    r.name = name;
    r.domains = {name + ".example.test"};
    r.exportable = true;
    r.validity = validity;
    r.renew_before = renew_before;
    auto view = certs_->Request(alice_, r);
    EXPECT_TRUE(view.ok()) << view.error().ToString();
    return *view;
  }

  testing::PkiEnv env_;
  IssuerRegistry issuers_;
  FlakyIssuer* issuer_ = nullptr;
  std::unique_ptr<CertificateService> certs_;
  Caller alice_{.principal_id = "prn_alice", .account_id = "acc_a"};
  Caller bob_{.principal_id = "prn_bob", .account_id = "acc_b"};
};

std::string PublicKeyOf(const model::CertificateVersion& v) {
  auto leaf = x509::Certificate::FromPem(v.leaf_pem);
  CF_CHECK(leaf.ok());
  auto key = leaf->public_key();
  CF_CHECK(key.ok());
  return key->ToPem();
}

TEST_F(RenewalTest, RenewMakesANewCurrentVersionWithANewKeyAndKeepsTheOld) {
  CertificateView first = Issue("web");
  env_.clock.Advance(std::chrono::hours(1));
  auto renewed = certs_->Renew(alice_, first.certificate.id);
  ASSERT_TRUE(renewed.ok()) << renewed.error().ToString();
  EXPECT_EQ(renewed->version->version, 2);
  EXPECT_NE(renewed->version->serial_hex, first.version->serial_hex);
  EXPECT_NE(renewed->version->key_blob_id, first.version->key_blob_id);
  EXPECT_NE(PublicKeyOf(*renewed->version), PublicKeyOf(*first.version));
  EXPECT_EQ(issuer_->last_key, first.certificate.id + "/2");
  auto got = certs_->Get(alice_, first.certificate.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version->id, renewed->version->id);
  auto tx = env_.store->Begin();
  ASSERT_TRUE(tx.ok());
  auto versions = (*tx)->versions().ListByCertificate(first.certificate.id);
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].serial_hex, first.version->serial_hex);
}

TEST_F(RenewalTest, RenewCanReuseTheKey) {
  CertificateView first = Issue("web");
  auto renewed = certs_->Renew(alice_, first.certificate.id, {.reuse_key = true});
  ASSERT_TRUE(renewed.ok()) << renewed.error().ToString();
  EXPECT_EQ(renewed->version->key_blob_id, first.version->key_blob_id);
  EXPECT_EQ(PublicKeyOf(*renewed->version), PublicKeyOf(*first.version));
  EXPECT_NE(renewed->version->serial_hex, first.version->serial_hex);
}

TEST_F(RenewalTest, RenewOfAForeignOrUnknownCertificateIsNotFound) {
  CertificateView first = Issue("web");
  EXPECT_EQ(certs_->Renew(bob_, first.certificate.id).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(certs_->Renew(alice_, "crt_00000000000000000000000000").error().code(),
            ErrorCode::kNotFound);
}

TEST_F(RenewalTest, FailedRenewalRecordsTheReasonAndKeepsTheCurrentVersion) {
  CertificateView first = Issue("web");
  issuer_->fail = true;
  auto renewed = certs_->Renew(alice_, first.certificate.id);
  ASSERT_FALSE(renewed.ok());
  EXPECT_EQ(renewed.error().code(), ErrorCode::kUnavailable);
  auto got = certs_->Get(alice_, first.certificate.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->certificate.status, model::CertificateStatus::kIssued);
  EXPECT_EQ(got->version->id, first.version->id);
  EXPECT_NE(got->certificate.status_detail.find("renewal failed"), std::string::npos);
  EXPECT_NE(got->certificate.status_detail.find("the CA is down"), std::string::npos);
  issuer_->fail = false;
  auto again = certs_->Renew(alice_, first.certificate.id);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(again->version->version, 2);
}

std::vector<std::string> EventTypes(store::Store& store, const std::string& subject) {
  auto tx = store.Begin();
  CF_CHECK(tx.ok());
  auto events = (*tx)->events().ListAfter(0, 1000);
  CF_CHECK(events.ok());
  std::vector<std::string> out;
  for (const model::Event& e : *events)
    if (e.subject == subject) out.push_back(e.type);
  return out;
}

TEST_F(RenewalTest, IssueRenewAndFailureEmitEvents) {
  CertificateView first = Issue("web");
  ASSERT_TRUE(certs_->Renew(alice_, first.certificate.id).ok());
  issuer_->fail = true;
  ASSERT_FALSE(certs_->Renew(alice_, first.certificate.id).ok());
  EXPECT_EQ(EventTypes(*env_.store, first.certificate.id),
            (std::vector<std::string>{"certificate.issued", "certificate.renewed",
                                      "certificate.renewal_failed"}));
}

TEST_F(RenewalTest, RevokeListsEveryUnexpiredVersionInTheCrl) {
  CertificateView first = Issue("web");
  auto second = certs_->Renew(alice_, first.certificate.id);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(certs_->Revoke(bob_, first.certificate.id, x509::RevocationReason::kKeyCompromise)
                .error()
                .code(),
            ErrorCode::kNotFound);
  auto revoked =
      certs_->Revoke(alice_, first.certificate.id, x509::RevocationReason::kKeyCompromise);
  ASSERT_TRUE(revoked.ok()) << revoked.error().ToString();
  EXPECT_EQ(revoked->view.certificate.status, model::CertificateStatus::kRevoked);
  ASSERT_EQ(revoked->revoked.size(), 2u);
  EXPECT_EQ(revoked->revoked[0].reason, 1);
  EXPECT_EQ(revoked->revoked[0].ca_id, env_.Ca().intermediate_id());
  EXPECT_EQ(certs_->Revoke(alice_, first.certificate.id, x509::RevocationReason::kSuperseded)
                .error()
                .code(),
            ErrorCode::kConflict);
  EXPECT_EQ(certs_->Renew(alice_, first.certificate.id).error().code(),
            ErrorCode::kFailedPrecondition);
  auto crl = certs_->CurrentCrl("internal");
  ASSERT_TRUE(crl.ok()) << crl.error().ToString();
  for (const auto& r : revoked->revoked) {
    EXPECT_NE(crl->find(HexDecode(r.serial_hex).value()), std::string::npos) << r.serial_hex;
  }
  EXPECT_EQ(certs_->CurrentCrl("acme").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(EventTypes(*env_.store, first.certificate.id).back(), "certificate.revoked");
}

// Uniform() draws (8-byte fills) answer 0, so jitter is none and backoff its full value; other
// draws come from the system source.
class ZeroJitter final : public Random {
 public:
  void Fill(void* out, size_t n) override {
    if (n == sizeof(uint64_t)) {
      std::memset(out, 0, n);
    } else {
      SystemRandomSource().Fill(out, n);
    }
  }
};

class SchedulerTest : public RenewalTest {
 protected:
  void SetUp() override {
    RenewalTest::SetUp();
    engine_ = std::make_unique<jobs::JobEngine>(*env_.store, env_.clock, SystemRandomSource(),
                                                jobs::EngineOptions{.owner = "worker"});
    scheduler_ = MakeScheduler("replica-a", zero_);
    scheduler_->RegisterJobs();
  }

  std::unique_ptr<RenewalScheduler> MakeScheduler(const std::string& owner, Random& random) {
    return std::make_unique<RenewalScheduler>(
        *env_.store, *engine_, *certs_, env_.clock, random,
        RenewalSchedulerOptions{
            .owner = owner, .lease = Seconds(120), .base_backoff = Seconds(60)});
  }

  // Runs the job engine until it has nothing due.
  void Drain() {
    for (int i = 0; i < 10; ++i) {
      auto n = engine_->RunOnce();
      ASSERT_TRUE(n.ok()) << n.error().ToString();
      if (*n == 0) return;
    }
  }

  int Tick() {
    auto n = scheduler_->RunOnce();
    EXPECT_TRUE(n.ok()) << n.error().ToString();
    return n.ok() ? *n : -1;
  }

  int CurrentVersion(const std::string& id) {
    auto got = certs_->Get(alice_, id);
    EXPECT_TRUE(got.ok());
    return got.ok() && got->version ? got->version->version : -1;
  }

  model::RenewalState State(const std::string& id) {
    auto tx = env_.store->Begin();
    CF_CHECK(tx.ok());
    auto s = (*tx)->renewals().Get(id);
    CF_CHECK(s.ok());
    return *s;
  }

  void SetClock(TimePoint t) { env_.clock.Advance(t - env_.clock.Now()); }

  ZeroJitter zero_;
  std::unique_ptr<jobs::JobEngine> engine_;
  std::unique_ptr<RenewalScheduler> scheduler_;
};

TEST(RenewalWindowTest, DefaultThirdHalfForShortLivedAndOverride) {
  model::Certificate c;
  model::CertificateVersion v;
  v.not_before = UtcDate(2026, 1, 1);
  v.not_after = v.not_before + std::chrono::days(90) - std::chrono::seconds(1);
  EXPECT_EQ(RenewalWindowStart(c, v), v.not_after - std::chrono::days(30));
  v.not_after = v.not_before + std::chrono::days(10) - std::chrono::seconds(1);
  EXPECT_EQ(RenewalWindowStart(c, v), v.not_after - std::chrono::days(5));
  v.not_after = v.not_before + std::chrono::minutes(5) - std::chrono::seconds(1);
  EXPECT_EQ(RenewalWindowStart(c, v), v.not_after - std::chrono::seconds(150));
  c.renew_before_seconds = 3600;
  v.not_after = v.not_before + std::chrono::days(90) - std::chrono::seconds(1);
  EXPECT_EQ(RenewalWindowStart(c, v), v.not_after - std::chrono::hours(1));
  c.renew_before_seconds = 100 * 86400;  // longer than the lifetime: due at once
  EXPECT_EQ(RenewalWindowStart(c, v), v.not_before);
  EXPECT_EQ(MaxRenewalJitter(v.not_before, v.not_before + std::chrono::hours(1), Seconds(3600)),
            Seconds(360));
  EXPECT_EQ(MaxRenewalJitter(v.not_before, v.not_before + std::chrono::days(30), Seconds(3600)),
            Seconds(3600));
  EXPECT_EQ(MaxRenewalJitter(v.not_after, v.not_before, Seconds(3600)), Seconds(0));
}

TEST_F(SchedulerTest, NotDueBeforeTheWindowDueInsideAndRenewed) {
  CertificateView c = Issue("web", std::chrono::days(90));
  const TimePoint start = c.version->not_after - std::chrono::days(30);
  SetClock(start - std::chrono::minutes(1));
  EXPECT_EQ(Tick(), 0);
  Drain();
  EXPECT_EQ(CurrentVersion(c.certificate.id), 1);
  EXPECT_EQ(State(c.certificate.id).next_attempt_at, start);  // zero jitter
  SetClock(start);
  EXPECT_EQ(Tick(), 1);
  EXPECT_EQ(Tick(), 0);  // in flight: not enqueued twice
  Drain();
  EXPECT_EQ(CurrentVersion(c.certificate.id), 2);
  // The new version is planned at its own window on the next tick.
  EXPECT_EQ(Tick(), 0);
  auto renewed = certs_->Get(alice_, c.certificate.id);
  EXPECT_EQ(State(c.certificate.id).version_id, renewed->version->id);
  EXPECT_EQ(State(c.certificate.id).next_attempt_at,
            renewed->version->not_after - std::chrono::days(30));
}

TEST_F(SchedulerTest, RenewBeforeOverridesTheDefault) {
  CertificateView c = Issue("web", std::chrono::days(90), std::chrono::days(10));
  SetClock(c.version->not_after - std::chrono::days(11));
  EXPECT_EQ(Tick(), 0);
  SetClock(c.version->not_after - std::chrono::days(10));
  EXPECT_EQ(Tick(), 1);
  Drain();
  EXPECT_EQ(CurrentVersion(c.certificate.id), 2);
}

TEST_F(SchedulerTest, ShortLivedCertificatesRenewAtHalfTheirLifetime) {
  CertificateView c = Issue("short", std::chrono::hours(48));
  const Seconds lifetime =
      std::chrono::duration_cast<Seconds>(c.version->not_after - c.version->not_before) +
      std::chrono::seconds(1);
  const TimePoint start = c.version->not_after - lifetime / 2;
  SetClock(start - std::chrono::seconds(1));
  EXPECT_EQ(Tick(), 0);
  SetClock(start);
  EXPECT_EQ(Tick(), 1);
  Drain();
  EXPECT_EQ(CurrentVersion(c.certificate.id), 2);
}

// ARI (RFC 9773): the window the CA suggested for a version (recorded by the ACME issuer in
// store::AcmeOrder) moves the renewal earlier, to a random time inside it; a suggested window
// later than the configured one does not delay the renewal.
TEST_F(SchedulerTest, AriWindowFromTheCaMovesTheRenewalEarlier) {
  CertificateView early = Issue("ari-early", std::chrono::days(90));
  CertificateView late = Issue("ari-late", std::chrono::days(90));
  const TimePoint issued = early.version->not_before;
  const TimePoint early_start = issued + std::chrono::days(3);
  const TimePoint early_end = early_start + std::chrono::hours(6);
  {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)
                    ->acme_orders()
                    .Put({.order_key = early.certificate.id + "/1",
                          .certificate_id = early.certificate.id,
                          .order_url = "https://ca.test/order/1",
                          .ari_start = early_start,
                          .ari_end = early_end,
                          .updated_at = issued})
                    .ok());
    ASSERT_TRUE((*tx)
                    ->acme_orders()
                    .Put({.order_key = late.certificate.id + "/1",
                          .certificate_id = late.certificate.id,
                          .order_url = "https://ca.test/order/2",
                          .ari_start = late.version->not_after,
                          .ari_end = late.version->not_after + std::chrono::days(1),
                          .updated_at = issued})
                    .ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  scheduler_ = MakeScheduler("replica-a", SystemRandomSource());
  scheduler_->RegisterJobs();  // the engine must not call the replaced scheduler
  EXPECT_EQ(Tick(), 0);
  const TimePoint at = State(early.certificate.id).next_attempt_at;
  EXPECT_GE(at, early_start);
  EXPECT_LT(at, early_end);
  const TimePoint late_at = State(late.certificate.id).next_attempt_at;
  EXPECT_GE(late_at, late.version->not_after - std::chrono::days(30));
  EXPECT_LE(late_at, late.version->not_after - std::chrono::days(30) + std::chrono::hours(1));
  SetClock(early_end);
  EXPECT_EQ(Tick(), 1);
  Drain();
  EXPECT_EQ(CurrentVersion(early.certificate.id), 2);
  EXPECT_EQ(CurrentVersion(late.certificate.id), 1);
}

TEST_F(SchedulerTest, JitterStaysInsideItsBound) {
  scheduler_ = MakeScheduler("replica-a", SystemRandomSource());
  std::vector<CertificateView> certs;
  for (int i = 0; i < 8; ++i)
    certs.push_back(Issue("c" + std::to_string(i), std::chrono::days(90)));
  EXPECT_EQ(Tick(), 0);
  bool any_jitter = false;
  for (const CertificateView& c : certs) {
    const TimePoint start = c.version->not_after - std::chrono::days(30);
    const TimePoint next = State(c.certificate.id).next_attempt_at;
    EXPECT_GE(next, start);
    EXPECT_LE(next, start + std::chrono::hours(1));  // min(30 d / 10, max_jitter 1 h)
    any_jitter = any_jitter || next != start;
  }
  EXPECT_TRUE(any_jitter);  // 8 draws of 3601 values all zero: practically impossible
}

TEST_F(SchedulerTest, FailureBacksOffExponentiallyAndRecovers) {
  CertificateView c = Issue("web", std::chrono::days(90));
  const TimePoint start = c.version->not_after - std::chrono::days(30);
  SetClock(start);
  issuer_->fail = true;
  EXPECT_EQ(Tick(), 1);
  Drain();
  model::RenewalState s = State(c.certificate.id);
  EXPECT_EQ(s.failures, 1);
  EXPECT_NE(s.last_error.find("the CA is down"), std::string::npos);
  EXPECT_EQ(s.next_attempt_at, start + Seconds(60));  // base backoff, no jitter drawn
  EXPECT_NE(certs_->Get(alice_, c.certificate.id)->certificate.status_detail.find("renewal failed"),
            std::string::npos);
  EXPECT_EQ(Tick(), 0);  // backing off
  SetClock(start + Seconds(60));
  EXPECT_EQ(Tick(), 1);  // a new attempt (new idempotency key)
  Drain();
  s = State(c.certificate.id);
  EXPECT_EQ(s.failures, 2);
  EXPECT_EQ(s.next_attempt_at, start + Seconds(60) + Seconds(120));  // doubled
  issuer_->fail = false;
  SetClock(s.next_attempt_at);
  EXPECT_EQ(Tick(), 1);
  Drain();
  EXPECT_EQ(CurrentVersion(c.certificate.id), 2);
}

TEST_F(SchedulerTest, OnlyOneSchedulerHoldsTheLock) {
  StoreLeaseLock a(*env_.store, env_.clock, "renewal-scheduler", "a", Seconds(120));
  StoreLeaseLock b(*env_.store, env_.clock, "renewal-scheduler", "b", Seconds(120));
  EXPECT_TRUE(*a.TryAcquire());
  EXPECT_FALSE(*b.TryAcquire());
  EXPECT_TRUE(*a.TryAcquire());  // the holder extends
  env_.clock.Advance(std::chrono::seconds(119));
  EXPECT_FALSE(*b.TryAcquire());
  env_.clock.Advance(std::chrono::seconds(2));  // a stopped ticking: its lease ran out
  EXPECT_TRUE(*b.TryAcquire());
  EXPECT_FALSE(*a.TryAcquire());
  b.Release();
  EXPECT_TRUE(*a.TryAcquire());

  // Two schedulers: the second does nothing while the first leads.
  CertificateView c = Issue("web", std::chrono::days(90));
  a.Release();
  auto other = MakeScheduler("replica-b", zero_);
  SetClock(c.version->not_after - std::chrono::days(30));
  EXPECT_EQ(Tick(), 1);
  EXPECT_EQ(*other->RunOnce(), 0);
  scheduler_->Stop();
  Drain();
  SetClock(c.version->not_after);  // version 2 is not due yet; b leads now and plans it
  EXPECT_EQ(*other->RunOnce(), 0);
  EXPECT_EQ(State(c.certificate.id).version_id, certs_->Get(alice_, c.certificate.id)->version->id);
}

// The data of every certificate.renewal_anomaly event about `subject`, in order.
std::vector<nlohmann::json> Anomalies(store::Store& store, const std::string& subject) {
  auto tx = store.Begin();
  CF_CHECK(tx.ok());
  auto events = (*tx)->events().ListAfter(0, 1000);
  CF_CHECK(events.ok());
  std::vector<nlohmann::json> out;
  for (const model::Event& e : *events) {
    if (e.subject == subject && e.type == kRenewalAnomalyEvent) {
      out.push_back(nlohmann::json::parse(e.data_json));
    }
  }
  return out;
}

TimePoint WholeSeconds(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }

// Issue #14: certfleetd's clock 21 days ahead of the CA's (the ACME e2e's situation). The new
// version is inside its window by notBefore the moment it is stored; the scheduler plans it by
// its own clock instead, reports the skew once, and renews it once, when that time comes.
TEST_F(SchedulerTest, AVersionFromACaClockFarBehindIsDeferredAndReportedOnce) {
  CertificateView c = Issue("skew", std::chrono::days(90));
  const std::string id = c.certificate.id;
  EXPECT_EQ(Tick(), 0);
  EXPECT_TRUE(Anomalies(*env_.store, id).empty());  // a normal version is no anomaly

  // Version 2 as a CA 21 days behind would issue it: 30 days, notBefore 21 days before "now".
  const TimePoint now = WholeSeconds(env_.clock.Now());
  model::CertificateVersion v2 = *c.version;
  v2.id = "crv_skewed";
  v2.version = 2;
  v2.serial_hex = "5e3e";
  v2.not_before = now - std::chrono::days(21);
  v2.not_after = v2.not_before + std::chrono::days(30) - std::chrono::seconds(1);
  v2.created_at = now;
  {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)->versions().Insert(v2).ok());
    model::Certificate cert = *(*tx)->certificates().Get(id);
    cert.current_version_id = v2.id;
    ASSERT_TRUE((*tx)->certificates().Update(cert).ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  EXPECT_EQ(Tick(), 0);  // its window opened (by notBefore) a day ago, yet it is not due
  const TimePoint start = v2.not_after - std::chrono::days(10);  // the last third of 30 days
  EXPECT_EQ(State(id).version_id, v2.id);
  EXPECT_EQ(State(id).next_attempt_at, start + std::chrono::days(21));
  std::vector<nlohmann::json> anomalies = Anomalies(*env_.store, id);
  ASSERT_EQ(anomalies.size(), 1u);
  EXPECT_EQ(anomalies[0]["version_id"], v2.id);
  EXPECT_EQ(anomalies[0]["certificate_id"], id);
  EXPECT_EQ(anomalies[0]["reason"], "clock_skew");
  EXPECT_EQ(anomalies[0]["clock_skew_seconds"], 21 * 86400);
  EXPECT_EQ(anomalies[0]["not_before"], FormatRfc3339(v2.not_before));
  EXPECT_EQ(anomalies[0]["observed_at"], FormatRfc3339(now));
  EXPECT_EQ(anomalies[0]["planned_at"], FormatRfc3339(start + std::chrono::days(21)));

  // A day of ticks: nothing is renewed and the anomaly is not reported again.
  for (int i = 0; i < 24; ++i) {
    env_.clock.Advance(std::chrono::hours(1));
    EXPECT_EQ(Tick(), 0);
  }
  EXPECT_EQ(CurrentVersion(id), 2);
  EXPECT_EQ(Anomalies(*env_.store, id).size(), 1u);

  // When its time comes it is renewed once; version 3 (this CA's clock agrees) is normal.
  SetClock(State(id).next_attempt_at);
  EXPECT_EQ(Tick(), 1);
  Drain();
  EXPECT_EQ(CurrentVersion(id), 3);
  EXPECT_EQ(Tick(), 0);
  EXPECT_EQ(Anomalies(*env_.store, id).size(), 1u);
}

// Issue #14: the storm guard. A renew_before almost as long as the lifetime would make every new
// version due a day after it is issued; the scheduler waits a third of the lifetime (by its own
// clock) instead, reports it once per version, and a user can still renew at once.
TEST_F(SchedulerTest, NoVersionIsRenewedBeforeAThirdOfItsLifetime) {
  CertificateView c = Issue("storm", std::chrono::days(30), std::chrono::days(29));
  const std::string id = c.certificate.id;
  auto guard = [](const model::CertificateVersion& v) {
    const Seconds lifetime =
        std::chrono::duration_cast<Seconds>(v.not_after - v.not_before) + Seconds(1);
    return v.created_at + lifetime / 3;
  };
  EXPECT_EQ(Tick(), 0);
  EXPECT_EQ(State(id).next_attempt_at, guard(*c.version));
  std::vector<nlohmann::json> anomalies = Anomalies(*env_.store, id);
  ASSERT_EQ(anomalies.size(), 1u);
  EXPECT_EQ(anomalies[0]["reason"], "min_age");
  for (int i = 0; i < 5; ++i) {
    env_.clock.Advance(std::chrono::days(1));  // past the configured window's start
    EXPECT_EQ(Tick(), 0);
  }
  EXPECT_EQ(CurrentVersion(id), 1);
  SetClock(guard(*c.version));
  EXPECT_EQ(Tick(), 1);
  Drain();
  EXPECT_EQ(CurrentVersion(id), 2);
  EXPECT_EQ(Tick(), 0);
  auto renewed = certs_->Get(alice_, id);
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(State(id).next_attempt_at, guard(*renewed->version));
  EXPECT_EQ(Anomalies(*env_.store, id).size(), 2u);  // once per version
  EXPECT_EQ(EventTypes(*env_.store, id),
            (std::vector<std::string>{"certificate.issued", "certificate.renewal_anomaly",
                                      "certificate.renewed", "certificate.renewal_anomaly"}));
  ASSERT_TRUE(certs_->Renew(alice_, id).ok());  // on demand: never held back
  EXPECT_EQ(CurrentVersion(id), 3);
}

// A version planned in its commit transaction (PlanRenewal, as issuance does) is not planned
// again by the scheduler.
TEST_F(SchedulerTest, AVersionPlannedAtItsCommitIsNotPlannedAgain) {
  CertificateView c = Issue("inline", std::chrono::days(90));
  {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    EXPECT_EQ(*(*tx)->renewals().CountUnplanned(), 1);
    Status planned = PlanRenewal(**tx, c.certificate, *c.version, env_.clock, zero_);
    ASSERT_TRUE(planned.ok()) << planned.error().ToString();
    EXPECT_EQ(*(*tx)->renewals().CountUnplanned(), 0);
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  model::RenewalState planned = State(c.certificate.id);
  EXPECT_EQ(planned.next_attempt_at, c.version->not_after - std::chrono::days(30));
  env_.clock.Advance(std::chrono::minutes(5));
  EXPECT_EQ(Tick(), 0);
  EXPECT_EQ(State(c.certificate.id).updated_at, planned.updated_at);  // untouched by the tick
}

TEST_F(SchedulerTest, IssuanceCanPlanTheRenewalInItsOwnTransaction) {
  certs_->PlanRenewalsAtCommit({.max_jitter = Seconds(0)});
  CertificateView c = Issue("at-commit", std::chrono::days(90));
  {
    auto tx = env_.store->BeginRead();
    ASSERT_TRUE(tx.ok());
    EXPECT_EQ(*(*tx)->renewals().CountUnplanned(), 0);
  }
  model::RenewalState planned = State(c.certificate.id);
  EXPECT_EQ(planned.next_attempt_at, c.version->not_after - std::chrono::days(30));
  EXPECT_EQ(Tick(), 0);
  EXPECT_EQ(State(c.certificate.id).updated_at, planned.updated_at);  // nothing left to plan
  SetClock(planned.next_attempt_at);
  EXPECT_EQ(Tick(), 1);  // and it is renewed when its window opens
}

// Deployments of one certificate on an enrolled dev agent, with the subscriber that redeploys
// them after a renewal.
class RedeployTest : public SchedulerTest {
 protected:
  void SetUp() override {
    SchedulerTest::SetUp();
    deployments_ = std::make_unique<DeploymentService>(
        *env_.store, *env_.secret_store, *engine_, nullptr, env_.clock, SystemRandomSource(),
        DeploymentOptions{.pkcs8 = {.pbkdf2_iterations = 10000}});
    deployments_->RegisterJobs();
    agents_ = std::make_unique<AgentService>(*env_.store, env_.Ca(), deployments_.get(), nullptr,
                                             env_.clock, SystemRandomSource());
    subscriber_ = std::make_unique<RedeployOnRenewal>(*env_.store, *engine_, *deployments_);
    subscriber_->RegisterJobs();
    auto token = agents_->CreateEnrollmentToken(admin_, "acc_a", {{"env", "dev"}}, std::nullopt);
    ASSERT_TRUE(token.ok()) << token.error().ToString();
    auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
    auto csr = x509::Csr::Build(*key, "", {"ignored.example.test"});
    ASSERT_TRUE(agents_->Enroll({std::string(token->token.view()), csr->ToPem(), "host"}).ok());
  }

  std::vector<std::string> Deploy(const CertificateView& c) {
    std::vector<std::string> ids;
    for (const char* profile : {"nginx", "haproxy"}) {
      auto dep = deployments_->Create(
          admin_,
          {.certificate_id = c.certificate.id, .selector = {{"env", "dev"}}, .profile = profile});
      EXPECT_TRUE(dep.ok()) << dep.error().ToString();
      if (dep.ok()) ids.push_back(dep->id);
    }
    return ids;
  }

  model::Deployment Dep(const std::string& id) {
    auto view = deployments_->Get(admin_, id);
    CF_CHECK(view.ok());
    return view->deployment;
  }

  int RedeployJobs() {
    auto tx = env_.store->Begin();
    CF_CHECK(tx.ok());
    auto jobs = (*tx)->jobs().List({.type = std::string(kRedeployJobType)});
    CF_CHECK(jobs.ok());
    return static_cast<int>(jobs->size());
  }

  Caller admin_{.principal_id = "prn_admin", .account_id = "acc_a", .role = model::Role::kAdmin};
  std::unique_ptr<DeploymentService> deployments_;
  std::unique_ptr<AgentService> agents_;
  std::unique_ptr<RedeployOnRenewal> subscriber_;
};

// After a scheduled renewal, the certificate.renewed subscriber starts a new generation of every
// deployment of the certificate, exporting the new version.
TEST_F(RedeployTest, ScheduledRenewalRedeploysEveryDeploymentOfTheCertificate) {
  CertificateView c = Issue("web", std::chrono::days(90));
  std::vector<std::string> ids = Deploy(c);
  Drain();
  ASSERT_TRUE(subscriber_->RunOnce().ok());  // certificate.issued: nothing to redeploy
  EXPECT_EQ(RedeployJobs(), 0);

  SetClock(c.version->not_after - std::chrono::days(30));
  EXPECT_EQ(scheduler_->RunOnce().value(), 1);
  Drain();
  auto renewed = certs_->Get(alice_, c.certificate.id);
  ASSERT_EQ(renewed->version->version, 2);
  for (const std::string& id : ids) EXPECT_EQ(Dep(id).generation, 1) << "not before the event";
  EXPECT_GE(subscriber_->RunOnce().value(), 1u);
  EXPECT_EQ(RedeployJobs(), 1);
  Drain();
  for (const std::string& id : ids) {
    EXPECT_EQ(Dep(id).generation, 2) << id;
    EXPECT_EQ(Dep(id).version_id, renewed->version->id) << id;
  }
}

// The subscriber acts once per event: reading the outbox again (a cursor moved back, as after a
// crash before the cursor's commit, or a second replica) finds the job it enqueued before.
TEST_F(RedeployTest, AnEventReadTwiceRedeploysOnce) {
  CertificateView c = Issue("web", std::chrono::days(90));
  std::vector<std::string> ids = Deploy(c);
  Drain();
  ASSERT_TRUE(certs_->Renew(alice_, c.certificate.id).ok());  // on demand
  ASSERT_TRUE(subscriber_->RunOnce().ok());
  Drain();
  {
    auto tx = env_.store->Begin();
    ASSERT_TRUE((*tx)->settings().Put(std::string(kRedeployCursorSetting), "0").ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  EXPECT_GE(subscriber_->RunOnce().value(), 1u);
  Drain();
  EXPECT_EQ(RedeployJobs(), 1);
  for (const std::string& id : ids) EXPECT_EQ(Dep(id).generation, 2) << id;
  EXPECT_EQ(subscriber_->RunOnce().value(), 0u);  // the cursor is past everything
}

// Two renewals before the subscriber runs: the deployments get the newest version, once.
TEST_F(RedeployTest, TwoRenewalsInARowDeployOnlyTheNewestVersion) {
  CertificateView c = Issue("web", std::chrono::days(90));
  std::vector<std::string> ids = Deploy(c);
  Drain();
  ASSERT_TRUE(certs_->Renew(alice_, c.certificate.id).ok());
  auto third = certs_->Renew(alice_, c.certificate.id);
  ASSERT_TRUE(third.ok());
  ASSERT_TRUE(subscriber_->RunOnce().ok());
  Drain();
  EXPECT_EQ(RedeployJobs(), 2);
  for (const std::string& id : ids) {
    EXPECT_EQ(Dep(id).generation, 2) << id;
    EXPECT_EQ(Dep(id).version_id, third->version->id) << id;
  }
}

// A revoked certificate is not redeployed.
TEST_F(RedeployTest, ARevokedCertificateIsNotRedeployed) {
  CertificateView c = Issue("web", std::chrono::days(90));
  std::vector<std::string> ids = Deploy(c);
  Drain();
  ASSERT_TRUE(certs_->Renew(alice_, c.certificate.id).ok());
  ASSERT_TRUE(certs_->Revoke(alice_, c.certificate.id, x509::RevocationReason::kSuperseded).ok());
  ASSERT_TRUE(subscriber_->RunOnce().ok());
  Drain();
  EXPECT_EQ(RedeployJobs(), 1);
  for (const std::string& id : ids) EXPECT_EQ(Dep(id).generation, 1) << id;
}

}  // namespace
}  // namespace certfleet::lifecycle
