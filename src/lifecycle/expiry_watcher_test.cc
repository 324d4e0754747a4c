// ExpiryWatcher (issue #5): approaching-expiration warnings once per day, expiry once per
// version, agent.offline once per disappearance; time moves on a FakeClock.
#include "lifecycle/expiry_watcher.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakes/pki_env.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/issuers/internal_issuer.h"

namespace certfleet::lifecycle {
namespace {

using std::chrono::days;
using std::chrono::hours;

class ExpiryWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    issuers_.Register(std::make_unique<InternalIssuer>(env_.Ca()));
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
    watcher_ = MakeWatcher("replica-a");
  }

  std::unique_ptr<ExpiryWatcher> MakeWatcher(const std::string& owner) {
    return std::make_unique<ExpiryWatcher>(
        *env_.store, env_.clock, SystemRandomSource(),
        ExpiryWatcherOptions{.owner = owner,
                             .agent_offline_after = Seconds(300),
                             .certificate_sweep_interval = Seconds(0)});
  }

  CertificateView Issue(const Caller& who, const std::string& name) {
    CertificateRequest r;
    r.name = name;
    r.domains = {name + ".example.test"};
    r.validity = days(90);
    auto view = certs_->Request(who, r);
    EXPECT_TRUE(view.ok()) << view.error().ToString();
    return *view;
  }

  WatchStats Tick() {
    auto s = watcher_->RunOnce();
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    return s.ok() ? *s : WatchStats{-1, -1, -1};
  }

  // The events of `type` so far, oldest first.
  std::vector<model::Event> Events(const std::string& type) {
    auto tx = env_.store->Begin();
    CF_CHECK(tx.ok());
    auto all = (*tx)->events().ListAfter(0, 10000);
    CF_CHECK(all.ok());
    std::vector<model::Event> out;
    for (model::Event& e : *all)
      if (e.type == type) out.push_back(std::move(e));
    return out;
  }

  void SetClock(TimePoint t) { env_.clock.Advance(t - env_.clock.Now()); }

  testing::PkiEnv env_;
  IssuerRegistry issuers_;
  std::unique_ptr<CertificateService> certs_;
  std::unique_ptr<ExpiryWatcher> watcher_;
  Caller alice_{.principal_id = "prn_alice", .account_id = "acc_a"};
  Caller bob_{.principal_id = "prn_bob", .account_id = "acc_b"};
};

TEST_F(ExpiryWatcherTest, WarnsOncePerDayInsideTheWindow) {
  CertificateView c = Issue(alice_, "web");
  const TimePoint end = c.version->not_after;
  SetClock(end - days(31));
  EXPECT_EQ(Tick().approaching, 0);
  SetClock(end - days(30) + hours(1));
  EXPECT_EQ(Tick().approaching, 1);
  EXPECT_EQ(Tick().approaching, 0);  // same tick again
  SetClock(end - days(30) + hours(20));
  EXPECT_EQ(Tick().approaching, 0);  // same day
  SetClock(end - days(29) + hours(1));
  EXPECT_EQ(Tick().approaching, 1);  // the next day
  SetClock(end - days(25) + hours(1));
  EXPECT_EQ(Tick().approaching, 1);  // three days missed: one event, not a backlog
  auto events = Events("certificate.approaching_expiration");
  ASSERT_EQ(events.size(), 3u);
  auto data = nlohmann::json::parse(events.back().data_json);
  EXPECT_EQ(data["days_remaining"], 25);
  EXPECT_EQ(data["version_id"], c.version->id);
  EXPECT_EQ(events.back().subject, c.certificate.id);
  EXPECT_EQ(events.back().account_id, "acc_a");
  // A restarted watcher (new process, same store) does not repeat today's warning.
  watcher_->Stop();
  watcher_ = MakeWatcher("replica-b");
  EXPECT_EQ(Tick().approaching, 0);
}

TEST_F(ExpiryWatcherTest, TheWindowIsConfigurablePerAccount) {
  {
    auto tx = env_.store->Begin();
    ASSERT_TRUE((*tx)
                    ->policies()
                    .Put({.account_id = "acc_b",
                          .toml = "[notify]\nexpiry_warning_days = 7\n",
                          .updated_at = env_.clock.Now()})
                    .ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  CertificateView a = Issue(alice_, "web");
  CertificateView b = Issue(bob_, "web");
  SetClock(b.version->not_after - days(10));
  EXPECT_EQ(Tick().approaching, 1);  // only account a's (30 days)
  EXPECT_EQ(Events("certificate.approaching_expiration")[0].subject, a.certificate.id);
  SetClock(b.version->not_after - days(7) + hours(1));
  EXPECT_EQ(Tick().approaching, 2);  // a's next day and b's first
}

TEST_F(ExpiryWatcherTest, ExpiredOncePerVersionAndNotAfterRenewal) {
  CertificateView c = Issue(alice_, "web");
  SetClock(c.version->not_after + Seconds(1));
  EXPECT_EQ(Tick().expired, 1);
  EXPECT_EQ(Tick().expired, 0);
  SetClock(c.version->not_after + days(2));
  WatchStats s = Tick();
  EXPECT_EQ(s.expired, 0);
  EXPECT_EQ(s.approaching, 0);  // expired is not "approaching"
  ASSERT_EQ(Events("certificate.expired").size(), 1u);

  // Renewed: the new version is far from expiry; the old one expires quietly.
  CertificateView d = Issue(alice_, "api");
  SetClock(d.version->not_after - days(20));
  EXPECT_EQ(Tick().approaching, 1);
  ASSERT_TRUE(certs_->Renew(alice_, d.certificate.id).ok());
  SetClock(d.version->not_after + Seconds(1));
  s = Tick();
  EXPECT_EQ(s.expired, 0);
  EXPECT_EQ(s.approaching, 0);
}

TEST_F(ExpiryWatcherTest, AgentOfflineOnceUntilSeenAgain) {
  model::Agent a;
  {
    auto tx = env_.store->Begin();
    ASSERT_TRUE((*tx)
                    ->principals()
                    .Insert({.id = "prn_agent",
                             .account_id = "acc_a",
                             .name = "agent",
                             .kind = model::PrincipalKind::kAgent,
                             .role = model::Role::kAgent,
                             .created_at = env_.clock.Now()})
                    .ok());
    a.id = "agt_1";
    a.account_id = "acc_a";
    a.principal_id = "prn_agent";
    a.hostname = "web-1";
    a.tags = {{"env", "dev"}};
    a.cert_serial_hex = "aa";
    a.cert_not_after = env_.clock.Now() + days(30);
    a.last_seen_at = std::chrono::floor<Seconds>(env_.clock.Now());
    a.created_at = a.updated_at = env_.clock.Now();
    ASSERT_TRUE((*tx)->agents().Insert(a).ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  env_.clock.Advance(Seconds(299));
  EXPECT_EQ(Tick().offline, 0);
  env_.clock.Advance(Seconds(1));
  EXPECT_EQ(Tick().offline, 1);
  env_.clock.Advance(hours(5));
  EXPECT_EQ(Tick().offline, 0);  // still the same absence
  auto events = Events("agent.offline");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].subject, "agt_1");
  EXPECT_EQ(events[0].tags.at("env"), "dev");

  {  // seen again, then gone again
    auto tx = env_.store->Begin();
    a.last_seen_at = std::chrono::floor<Seconds>(env_.clock.Now());
    ASSERT_TRUE((*tx)->agents().Update(a).ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  EXPECT_EQ(Tick().offline, 0);
  env_.clock.Advance(Seconds(301));
  EXPECT_EQ(Tick().offline, 1);
}

TEST_F(ExpiryWatcherTest, OneReplicaWatchesAtATime) {
  CertificateView c = Issue(alice_, "web");
  auto other = MakeWatcher("replica-b");
  SetClock(c.version->not_after - days(10));
  EXPECT_EQ(Tick().approaching, 1);
  auto s = other->RunOnce();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->approaching, 0);
  SetClock(c.version->not_after - days(9));
  watcher_->Stop();
  EXPECT_EQ(other->RunOnce()->approaching, 1);  // took over; no repeat of day 10
  EXPECT_EQ(Events("certificate.approaching_expiration").size(), 2u);
}

}  // namespace
}  // namespace certfleet::lifecycle
