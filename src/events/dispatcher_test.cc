// The dispatcher against a real in-process HTTPS receiver, on a fake clock: signatures,
// retries with backoff, stable ids, filtering and the private-address refusal.
#include "events/dispatcher.h"

#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/ids.h"
#include "base/time_util.h"
#include "crypto/hash.h"
#include "events/destination.h"
#include "events/events.h"
#include "net/address_policy.h"
#include "net/https_server.h"
#include "net/test_tls.h"
#include "secrets/kek.h"
#include "secrets/sealer.h"
#include "store/sqlite/sqlite_store.h"

namespace certfleet::events {
namespace {

using namespace std::chrono_literals;

constexpr char kSecret[] = "whsec-0123456789";
const std::string kAcc = "acc_00000000000000000000000001";
const std::string kAcc2 = "acc_00000000000000000000000002";

// A webhook receiver: records every request and answers with the queued statuses (then 200).
class Receiver {
 public:
  Receiver(const net::testing::TestCert& cert) {
    net::ServerOptions o;
    o.port = 0;
    o.cert_chain_pem = cert.cert_pem;
    o.key_pem = SecretBytes::FromView(cert.key_pem);
    o.worker_threads = 1;
    auto s = net::HttpsServer::Create(std::move(o), [this](const net::HttpRequest& r) {
      std::lock_guard lock(mu_);
      requests_.push_back(r);
      int status = 200;
      if (!statuses_.empty()) {
        status = statuses_.front();
        statuses_.pop_front();
      }
      return net::HttpResponse{.status = status, .body = "ok"};
    });
    CF_CHECK(s.ok());
    server_ = std::move(*s);
    CF_CHECK(server_->Start().ok());
  }
  std::string Url(const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(server_->port()) + "/hook";
  }
  void Queue(std::initializer_list<int> statuses) {
    std::lock_guard lock(mu_);
    statuses_.insert(statuses_.end(), statuses);
  }
  std::vector<net::HttpRequest> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::vector<net::HttpRequest> requests_;
  std::deque<int> statuses_;
  std::unique_ptr<net::HttpsServer> server_;
};

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest()
      : clock_(UtcDate(2026, 11, 27)),
        ca_(net::testing::MakeCa("events test CA")),
        leaf_(net::testing::MakeLeaf(ca_, "receiver", "IP:127.0.0.1,DNS:localhost", true)),
        receiver_(leaf_) {
    char tmpl[] = "/tmp/cf-events-XXXXXX";
    CF_CHECK(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    auto s = store::OpenSqliteStore({.path = dir_ + "/db"});
    CF_CHECK(s.ok());
    store_ = std::move(*s);
    auto k = secrets::FileKek::LoadOrCreate(dir_ + "/kek", SystemRandomSource());
    CF_CHECK(k.ok());
    kek_ = std::move(*k);
    sealer_ = std::make_unique<secrets::Sealer>(*kek_, std::vector<secrets::KekProvider*>{}, clock_,
                                                SystemRandomSource());
    secrets_ = std::make_unique<secrets::SecretStore>(*sealer_, clock_, SystemRandomSource());
    auto c = net::HttpsClient::Create({.trust_pem = ca_.cert_pem,
                                       .timeout = std::chrono::milliseconds(5000),
                                       .allow_plain_http = true});
    CF_CHECK(c.ok());
    client_ = std::move(*c);
    auto p = net::HttpsClient::Create({.trust_pem = ca_.cert_pem,
                                       .timeout = std::chrono::milliseconds(5000),
                                       .address_allowed = PublicAddressesOnly()});
    CF_CHECK(p.ok());
    public_client_ = std::move(*p);
    InTx([&](store::Tx& tx) {
      for (const auto& id : {kAcc, kAcc2}) {
        ASSERT_TRUE(tx.accounts().Insert({.id = id, .name = id, .created_at = clock_.Now()}).ok());
      }
    });
  }
  ~DispatcherTest() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void InTx(const std::function<void(store::Tx&)>& fn) {
    auto tx = store_->Begin();
    ASSERT_TRUE(tx.ok());
    fn(**tx);
    ASSERT_TRUE((*tx)->Commit().ok());
  }

  std::unique_ptr<Dispatcher> MakeDispatcher(DispatcherOptions o = {}) {
    auto d = Dispatcher::Create(*store_, *secrets_, *public_client_, *client_, clock_,
                                SystemRandomSource(), o);
    CF_CHECK(d.ok());
    return std::move(*d);
  }

  std::string Subscribe(std::vector<std::string> types, model::Tags tags = {},
                        bool allow_private = true, std::string url = "",
                        const std::string& account = kAcc) {
    model::WebhookSubscription w{.id = NewId(model::kWebhookPrefix, clock_, SystemRandomSource()),
                                 .account_id = account,
                                 .url = url.empty() ? receiver_.Url() : url,
                                 .types = std::move(types),
                                 .tags = std::move(tags),
                                 .allow_private_address = allow_private,
                                 .active = true,
                                 .created_by = "prn_test",
                                 .created_at = clock_.Now(),
                                 .updated_at = clock_.Now()};
    InTx([&](store::Tx& tx) {
      auto blob = secrets_->SealBlob(tx, SecretBytes::FromView(kSecret), "webhook");
      ASSERT_TRUE(blob.ok());
      w.secret_blob_id = *blob;
      ASSERT_TRUE(tx.webhooks().Insert(w).ok());
    });
    return w.id;
  }

  model::Event EmitOne(const std::string& type, model::Tags tags = {},
                       const std::string& account = kAcc) {
    model::Event ev;
    InTx([&](store::Tx& tx) {
      auto e = Emit(tx, clock_, SystemRandomSource(),
                    {.account_id = account,
                     .type = type,
                     .subject = "crt_1",
                     .data_json = R"({"serial":"0a"})",
                     .tags = std::move(tags)});
      ASSERT_TRUE(e.ok()) << e.error().ToString();
      ev = *e;
    });
    return ev;
  }

  std::vector<model::WebhookDelivery> Deliveries(const std::string& sub) {
    auto tx = store_->Begin();
    CF_CHECK(tx.ok());
    auto d = (*tx)->webhook_deliveries().ListBySubscription(sub, "", 100);
    CF_CHECK(d.ok());
    return *d;
  }

  RunStats Run(Dispatcher& d) {
    auto s = d.RunOnce();
    CF_CHECK(s.ok());
    return *s;
  }

  FakeClock clock_;
  net::testing::TestCert ca_;
  net::testing::TestCert leaf_;
  Receiver receiver_;
  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<secrets::FileKek> kek_;
  std::unique_ptr<secrets::Sealer> sealer_;
  std::unique_ptr<secrets::SecretStore> secrets_;
  std::unique_ptr<net::HttpsClient> client_;         // for allow_private_address
  std::unique_ptr<net::HttpsClient> public_client_;  // the rest
};

// Verifies a Certfleet-Signature value the way a receiver would.
bool SignatureValid(const std::string& header, const std::string& body) {
  auto comma = header.find(",v1=");
  if (!header.starts_with("t=") || comma == std::string::npos) return false;
  const std::string t = header.substr(2, comma - 2);
  const std::string expected =
      HexEncode(crypto::HmacSha256(std::string_view(kSecret), t + "." + body));
  return crypto::ConstantTimeEquals(header.substr(comma + 4), expected);
}

TEST_F(DispatcherTest, DeliversSignedCloudEvent) {
  const auto sub = Subscribe({"certificate.*"}, {{"env", "prod"}});
  const auto ev = EmitOne("certificate.renewed", {{"env", "prod"}, {"team", "web"}});
  auto d = MakeDispatcher();
  auto stats = Run(*d);
  EXPECT_EQ(stats.fanned_out, 1u);
  EXPECT_EQ(stats.delivered, 1u);

  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const auto& r = reqs[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/hook");
  EXPECT_EQ(r.header("content-type").value_or(""), "application/cloudevents+json; charset=utf-8");
  EXPECT_EQ(r.header("certfleet-event-id").value_or(""), ev.id);
  const auto sig = r.header("certfleet-signature").value_or("");
  EXPECT_TRUE(SignatureValid(sig, r.body)) << sig;
  EXPECT_TRUE(sig.starts_with("t=" + std::to_string(ToUnixSeconds(clock_.Now())) + ","));
  EXPECT_FALSE(SignatureValid(sig, r.body + " "));
  auto ce = nlohmann::json::parse(r.body);
  EXPECT_EQ(ce["specversion"], "1.0");
  EXPECT_EQ(ce["id"], ev.id);
  EXPECT_EQ(ce["type"], "io.certfleet.certificate.renewed");
  EXPECT_EQ(ce["data"]["serial"], "0a");

  auto rows = Deliveries(sub);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, model::DeliveryStatus::kDelivered);
  EXPECT_EQ(rows[0].attempt, 1);
  EXPECT_EQ(rows[0].http_status, 200);
  EXPECT_EQ(rows[0].event_id, ev.id);
  EXPECT_EQ(r.header("certfleet-delivery-id").value_or(""), rows[0].id);

  // Nothing new: the cursor moved, and a second pass does nothing.
  EXPECT_TRUE(Run(*d).idle());
  EXPECT_EQ(receiver_.requests().size(), 1u);
}

TEST_F(DispatcherTest, RetriesWithBackoffAndKeepsIdAndBody) {
  const auto sub = Subscribe({"*"});
  receiver_.Queue({500, 503});
  const auto ev = EmitOne("deployment.failed");
  auto d = MakeDispatcher({.initial_backoff = 10s, .max_backoff = 60s});

  auto first = Run(*d);
  EXPECT_EQ(first.attempted, 1u);
  EXPECT_EQ(first.delivered, 0u);
  auto row = Deliveries(sub).at(0);
  EXPECT_EQ(row.status, model::DeliveryStatus::kPending);
  EXPECT_EQ(row.attempt, 1);
  EXPECT_EQ(row.http_status, 500);
  EXPECT_EQ(row.error, "HTTP 500");
  ASSERT_TRUE(row.next_attempt_at.has_value());
  EXPECT_GE(*row.next_attempt_at, clock_.Now() + 5s);
  EXPECT_LE(*row.next_attempt_at, clock_.Now() + 10s);

  // Not due yet: no attempt.
  clock_.Advance(4s);
  EXPECT_TRUE(Run(*d).idle());
  clock_.Set(*row.next_attempt_at);
  EXPECT_EQ(Run(*d).attempted, 1u);
  row = Deliveries(sub).at(0);
  EXPECT_EQ(row.attempt, 2);
  EXPECT_EQ(row.http_status, 503);
  ASSERT_TRUE(row.next_attempt_at.has_value());
  EXPECT_GE(*row.next_attempt_at, clock_.Now() + 10s);
  EXPECT_LE(*row.next_attempt_at, clock_.Now() + 20s);

  clock_.Set(*row.next_attempt_at);
  EXPECT_EQ(Run(*d).delivered, 1u);
  row = Deliveries(sub).at(0);
  EXPECT_EQ(row.status, model::DeliveryStatus::kDelivered);
  EXPECT_EQ(row.attempt, 3);
  EXPECT_EQ(row.error, "");
  ASSERT_TRUE(row.delivered_at.has_value());

  // Every attempt carried the same event id and body, so the receiver can deduplicate.
  auto reqs = receiver_.requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.body, reqs[0].body);
    EXPECT_EQ(nlohmann::json::parse(r.body)["id"], ev.id);
    EXPECT_TRUE(SignatureValid(r.header("certfleet-signature").value_or(""), r.body));
  }
}

TEST_F(DispatcherTest, GivesUpAfterMaxAttempts) {
  const auto sub = Subscribe({"*"});
  receiver_.Queue({500, 500, 500});
  EmitOne("certificate.expired");
  auto d = MakeDispatcher({.max_attempts = 2, .initial_backoff = 1s, .max_backoff = 1s});
  Run(*d);
  clock_.Advance(1s);
  auto stats = Run(*d);
  EXPECT_EQ(stats.failed, 1u);
  auto row = Deliveries(sub).at(0);
  EXPECT_EQ(row.status, model::DeliveryStatus::kFailed);
  EXPECT_EQ(row.attempt, 2);
  EXPECT_FALSE(row.next_attempt_at.has_value());
  clock_.Advance(1h);
  EXPECT_TRUE(Run(*d).idle());
  EXPECT_EQ(receiver_.requests().size(), 2u);
}

TEST_F(DispatcherTest, BackoffGrowsAndIsCapped) {
  auto d = MakeDispatcher({.initial_backoff = 10s, .max_backoff = 100s});
  for (int i = 0; i < 50; ++i) {
    auto b1 = d->Backoff(1);
    EXPECT_GE(b1, 5s);
    EXPECT_LE(b1, 10s);
    auto b3 = d->Backoff(3);
    EXPECT_GE(b3, 20s);
    EXPECT_LE(b3, 40s);
    auto b20 = d->Backoff(20);
    EXPECT_GE(b20, 50s);
    EXPECT_LE(b20, 100s);
  }
}

TEST_F(DispatcherTest, FiltersByTypeTagsAccountAndActive) {
  Subscribe({"deployment.*"});
  Subscribe({"*"}, {{"env", "dev"}});
  Subscribe({"*"}, {}, true, "", kAcc2);
  const auto off = Subscribe({"*"});
  InTx([&](store::Tx& tx) { ASSERT_TRUE(tx.webhooks().SetActive(off, false, clock_.Now()).ok()); });
  const auto hit = Subscribe({"certificate.renewed"}, {{"env", "prod"}});
  EmitOne("certificate.renewed", {{"env", "prod"}});
  EmitOne("certificate.issued", {{"env", "prod"}});
  auto d = MakeDispatcher();
  auto stats = Run(*d);
  EXPECT_EQ(stats.fanned_out, 1u);
  EXPECT_EQ(stats.delivered, 1u);
  EXPECT_EQ(Deliveries(hit).size(), 1u);
  EXPECT_TRUE(Deliveries(off).empty());
  ASSERT_EQ(receiver_.requests().size(), 1u);
}

TEST_F(DispatcherTest, RefusesPrivateAddressesUnlessAllowed) {
  const auto by_ip = Subscribe({"*"}, {}, /*allow_private=*/false);
  const auto by_name = Subscribe({"*"}, {}, false, receiver_.Url("localhost"));
  const auto plain = Subscribe({"*"}, {}, false, "http://8.8.8.8/hook");
  EmitOne("agent.offline");
  auto d = MakeDispatcher();
  auto stats = Run(*d);
  EXPECT_EQ(stats.attempted, 3u);
  EXPECT_EQ(stats.failed, 3u);
  EXPECT_TRUE(receiver_.requests().empty());
  for (const auto& sub : {by_ip, by_name}) {
    auto row = Deliveries(sub).at(0);
    EXPECT_EQ(row.status, model::DeliveryStatus::kFailed);
    EXPECT_NE(row.error.find("rule network.private_not_allowed"), std::string::npos) << row.error;
  }
  // One generic answer: the address a name resolved to is not reported back (issue #13).
  EXPECT_EQ(Deliveries(by_name).at(0).error.find("127.0.0.1"), std::string::npos);
  EXPECT_NE(Deliveries(plain).at(0).error.find("allow_private_address"), std::string::npos);
}

// Issue #13: with certfleetd's outbound policy, a subscription with allow_private_address is
// delivered only for an account the policy allows, through a client limited to its networks.
TEST_F(DispatcherTest, OutboundPolicyDecidesPrivateDeliveriesPerAccount) {
  const auto allowed = Subscribe({"*"}, {}, /*allow_private=*/true, "", kAcc);
  const auto refused = Subscribe({"*"}, {}, /*allow_private=*/true, "", kAcc2);
  std::vector<net::Cidr> loop = {*net::Cidr::Parse("127.0.0.0/8")};
  net::OutboundPolicy policy({{.accounts = {kAcc}, .networks = loop}});
  int made = 0;
  DispatcherOptions o;
  o.outbound = &policy;
  o.make_private_client = [&](net::AddressFilter filter) {
    ++made;
    return net::HttpsClient::Create({.trust_pem = ca_.cert_pem,
                                     .timeout = std::chrono::milliseconds(5000),
                                     .allow_plain_http = true,
                                     .address_allowed = std::move(filter)});
  };
  EmitOne("agent.offline", {}, kAcc);
  EmitOne("agent.offline", {}, kAcc2);
  auto d = MakeDispatcher(o);
  auto stats = Run(*d);
  EXPECT_EQ(stats.delivered, 1u);
  EXPECT_EQ(stats.failed, 1u);
  EXPECT_EQ(receiver_.requests().size(), 1u);
  EXPECT_EQ(made, 1);  // only for the allowed account
  EXPECT_EQ(Deliveries(allowed).at(0).status, model::DeliveryStatus::kDelivered);
  auto row = Deliveries(refused).at(0);
  EXPECT_EQ(row.status, model::DeliveryStatus::kFailed);
  EXPECT_NE(row.error.find("rule network.private_not_allowed"), std::string::npos) << row.error;

  // Allowed, but only its networks: 127/8 does not cover ::1 (localhost may resolve to both, so
  // use the IPv6 literal).
  std::vector<net::Cidr> other = {*net::Cidr::Parse("10.9.0.0/16")};
  net::OutboundPolicy narrow({{.accounts = {kAcc}, .networks = other}});
  o.outbound = &narrow;
  const auto outside = Subscribe({"*"}, {}, true, "", kAcc);
  EmitOne("agent.offline", {}, kAcc);
  auto d2 = MakeDispatcher(o);
  Run(*d2);
  auto out_row = Deliveries(outside).at(0);
  EXPECT_EQ(out_row.status, model::DeliveryStatus::kFailed);
  EXPECT_NE(out_row.error.find("rule network.private_not_allowed"), std::string::npos)
      << out_row.error;
}

TEST_F(DispatcherTest, EventsBeforeAndAfterASubscriptionAndBatches) {
  for (int i = 0; i < 5; ++i) EmitOne("certificate.issued");
  const auto sub = Subscribe({"certificate.*"});
  auto d = MakeDispatcher({.batch = 2});
  // Events are matched when the dispatcher reaches them, so the earlier ones are included.
  EXPECT_EQ(Run(*d).fanned_out, 2u);
  EXPECT_EQ(Run(*d).fanned_out, 2u);
  EXPECT_EQ(Run(*d).fanned_out, 1u);
  Run(*d);
  EXPECT_EQ(Deliveries(sub).size(), 5u);
  for (const auto& row : Deliveries(sub)) EXPECT_EQ(row.status, model::DeliveryStatus::kDelivered);
  // A new dispatcher (a restart) continues from the stored cursor.
  auto again = MakeDispatcher();
  EXPECT_EQ(Run(*again).fanned_out, 0u);
  EXPECT_EQ(receiver_.requests().size(), 5u);
}

TEST_F(DispatcherTest, UnloadableDeliveryBacksOffWithoutBlockingOthers) {
  const auto good = Subscribe({"*"});
  model::WebhookSubscription broken{.id = "whk_00000000000000000000000000",
                                    .account_id = kAcc,
                                    .url = receiver_.Url(),
                                    .types = {"*"},
                                    .secret_blob_id = "blb_missing",
                                    .allow_private_address = true,
                                    .active = true,
                                    .created_by = "prn_test",
                                    .created_at = clock_.Now(),
                                    .updated_at = clock_.Now()};
  InTx([&](store::Tx& tx) { ASSERT_TRUE(tx.webhooks().Insert(broken).ok()); });
  EmitOne("certificate.issued");
  auto d = MakeDispatcher();
  auto stats = d->RunOnce();
  ASSERT_TRUE(stats.ok()) << stats.error().ToString();
  EXPECT_EQ(stats->attempted, 2u);
  EXPECT_EQ(stats->delivered, 1u);
  auto row = Deliveries(broken.id).at(0);
  EXPECT_EQ(row.status, model::DeliveryStatus::kPending);
  EXPECT_NE(row.error.find("cannot load"), std::string::npos) << row.error;
  EXPECT_TRUE(row.next_attempt_at.has_value());
  EXPECT_EQ(Deliveries(good).at(0).status, model::DeliveryStatus::kDelivered);
  EXPECT_EQ(receiver_.requests().size(), 1u);
}

}  // namespace
}  // namespace certfleet::events
