// Unit tests of event types, matching, the CloudEvents rendering, Emit, the signature and the
// destination check.
#include "events/events.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/time_util.h"
#include "crypto/hash.h"
#include "events/destination.h"
#include "events/dispatcher.h"
#include "store/sqlite/sqlite_store.h"

namespace certfleet::events {
namespace {

model::WebhookSubscription Sub(std::vector<std::string> types, model::Tags tags = {}) {
  return {.id = "whk_1",
          .account_id = "acc_1",
          .url = "https://hooks.example.com/x",
          .types = std::move(types),
          .tags = std::move(tags),
          .active = true};
}

model::Event Ev(std::string type, model::Tags tags = {}) {
  return {.id = "evt_1",
          .seq = 1,
          .account_id = "acc_1",
          .type = std::move(type),
          .subject = "crt_1",
          .data_json = R"({"serial":"0a","name":"web"})",
          .tags = std::move(tags),
          .time = UtcDate(2026, 11, 27) + std::chrono::seconds(5)};
}

TEST(EventsTest, TypesAndPatterns) {
  EXPECT_TRUE(IsValidEventType("certificate.renewed"));
  EXPECT_TRUE(IsValidEventType("agent.enrollment_token_reused"));
  EXPECT_FALSE(IsValidEventType("certificate"));
  EXPECT_FALSE(IsValidEventType("Certificate.renewed"));
  EXPECT_FALSE(IsValidEventType("certificate..renewed"));
  EXPECT_FALSE(IsValidEventType("certificate.renewed."));
  EXPECT_FALSE(IsValidEventType("certificate.*"));
  EXPECT_TRUE(IsValidTypePattern("*"));
  EXPECT_TRUE(IsValidTypePattern("certificate.*"));
  EXPECT_TRUE(IsValidTypePattern("certificate.renewed"));
  EXPECT_FALSE(IsValidTypePattern("certificate*"));
  EXPECT_FALSE(IsValidTypePattern(".*"));
  EXPECT_FALSE(IsValidTypePattern("*.renewed"));
  EXPECT_FALSE(IsValidTypePattern(""));

  EXPECT_TRUE(TypeMatches("*", "deployment.failed"));
  EXPECT_TRUE(TypeMatches("certificate.*", "certificate.renewed"));
  EXPECT_FALSE(TypeMatches("certificate.*", "certificates.renewed"));
  EXPECT_FALSE(TypeMatches("certificate.*", "deployment.succeeded"));
  EXPECT_TRUE(TypeMatches("certificate.renewed", "certificate.renewed"));
  EXPECT_FALSE(TypeMatches("certificate.renewed", "certificate.renewal_failed"));
}

TEST(EventsTest, MatchesByAccountTypeTagsAndActive) {
  const auto ev = Ev("certificate.renewed", {{"env", "prod"}, {"team", "web"}});
  EXPECT_TRUE(Matches(Sub({"certificate.*"}), ev));
  EXPECT_TRUE(Matches(Sub({"deployment.*", "certificate.renewed"}), ev));
  EXPECT_FALSE(Matches(Sub({"deployment.*"}), ev));
  EXPECT_TRUE(Matches(Sub({"*"}, {{"env", "prod"}}), ev));
  EXPECT_TRUE(Matches(Sub({"*"}, {{"env", "prod"}, {"team", "web"}}), ev));
  EXPECT_FALSE(Matches(Sub({"*"}, {{"env", "dev"}}), ev));
  EXPECT_FALSE(Matches(Sub({"*"}, {{"owner", "x"}}), ev));
  auto other = Sub({"*"});
  other.account_id = "acc_2";
  EXPECT_FALSE(Matches(other, ev));
  auto off = Sub({"*"});
  off.active = false;
  EXPECT_FALSE(Matches(off, ev));
}

TEST(EventsTest, RendersCloudEvent) {
  auto json = RenderCloudEvent(Ev("certificate.renewed"));
  ASSERT_TRUE(json.ok()) << json.error().ToString();
  auto ce = nlohmann::json::parse(*json);
  EXPECT_EQ(ce["specversion"], "1.0");
  EXPECT_EQ(ce["id"], "evt_1");
  EXPECT_EQ(ce["source"], "/certfleet");
  EXPECT_EQ(ce["type"], "io.certfleet.certificate.renewed");
  EXPECT_EQ(ce["subject"], "crt_1");
  EXPECT_EQ(ce["time"], "2026-11-27T00:00:05Z");
  EXPECT_EQ(ce["datacontenttype"], "application/json");
  EXPECT_EQ(ce["certfleetaccount"], "acc_1");
  EXPECT_EQ(ce["data"]["serial"], "0a");
  // Deterministic: a retry carries the same bytes.
  EXPECT_EQ(*RenderCloudEvent(Ev("certificate.renewed")), *json);
  auto bad = Ev("certificate.renewed");
  bad.data_json = "{";
  EXPECT_FALSE(RenderCloudEvent(bad).ok());
}

TEST(EventsTest, EmitAppendsToTheOutboxInTheCallersTransaction) {
  auto store = store::OpenSqliteStore({.path = ":memory:"});
  ASSERT_TRUE(store.ok());
  FakeClock clock(UtcDate(2026, 11, 27));
  NewEvent spec{.account_id = "acc_1",
                .type = "certificate.issued",
                .subject = "crt_1",
                .data_json = R"({"serial":"01"})",
                .tags = {{"env", "prod"}}};
  {
    auto tx = (*store)->Begin();
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(Emit(**tx, clock, SystemRandomSource(), spec).ok());
    // Not committed: rolled back with the Tx.
  }
  auto tx = (*store)->Begin();
  ASSERT_TRUE(tx.ok());
  auto ev = Emit(**tx, clock, SystemRandomSource(), spec);
  ASSERT_TRUE(ev.ok()) << ev.error().ToString();
  EXPECT_TRUE(ev->id.starts_with("evt_"));
  EXPECT_GT(ev->seq, 0);
  EXPECT_EQ(ev->time, UtcDate(2026, 11, 27));
  ASSERT_TRUE((*tx)->Commit().ok());
  tx = (*store)->Begin();
  auto all = (*tx)->events().ListAfter(0, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].id, ev->id);
  EXPECT_EQ((*all)[0].tags, spec.tags);
  EXPECT_EQ((*all)[0].data_json, spec.data_json);

  auto bad = spec;
  bad.type = "renewed";
  EXPECT_EQ(Emit(**tx, clock, SystemRandomSource(), bad).error().code(),
            ErrorCode::kInvalidArgument);
  bad = spec;
  bad.data_json = "[1]";
  EXPECT_EQ(Emit(**tx, clock, SystemRandomSource(), bad).error().code(),
            ErrorCode::kInvalidArgument);
  bad = spec;
  bad.account_id = "";
  EXPECT_EQ(Emit(**tx, clock, SystemRandomSource(), bad).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST(EventsTest, SignatureIsHmacOverTimestampDotBody) {
  const auto secret = SecretBytes::FromView("whsec-test");
  const std::string v = SignatureHeaderValue(secret, 1700000000, R"({"a":1})");
  EXPECT_EQ(v, "t=1700000000,v1=" + HexEncode(crypto::HmacSha256(std::string_view("whsec-test"),
                                                                 "1700000000.{\"a\":1}")));
  EXPECT_EQ(v.size(), std::string("t=1700000000,v1=").size() + 64);
}

TEST(EventsTest, NonPublicAddresses) {
  for (const char* ip : {"127.0.0.1",
                         "127.1.2.3",
                         "10.0.0.1",
                         "172.16.0.1",
                         "172.31.255.255",
                         "192.168.1.1",
                         "169.254.169.254",
                         "100.64.0.1",
                         "0.0.0.0",
                         "224.0.0.1",
                         "255.255.255.255",
                         "192.0.2.1",
                         "198.18.0.1",
                         "::",
                         "::1",
                         "fe80::1",
                         "fc00::1",
                         "fd12:3456::1",
                         "ff02::1",
                         "::ffff:127.0.0.1",
                         "::ffff:10.1.2.3",
                         "64:ff9b::a9fe:a9fe",
                         "2001:db8::1",
                         "not-an-ip"}) {
    EXPECT_TRUE(IsNonPublicAddress(ip)) << ip;
  }
  for (const char* ip : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "172.15.255.255", "100.128.0.1",
                         "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"}) {
    EXPECT_FALSE(IsNonPublicAddress(ip)) << ip;
  }
}

TEST(EventsTest, CheckDestinationRefusesLoopbackUnlessAllowed) {
  for (const char* host : {"127.0.0.1", "localhost", "::1"}) {
    auto s = CheckDestination(host, /*allow_private=*/false);
    ASSERT_FALSE(s.ok()) << host;
    EXPECT_EQ(s.error().code(), ErrorCode::kForbidden) << host;
    EXPECT_TRUE(CheckDestination(host, /*allow_private=*/true).ok()) << host;
  }
  // A public numeric address needs no lookup.
  EXPECT_TRUE(CheckDestination("8.8.8.8", false).ok());
  EXPECT_EQ(CheckDestination("no-such-host.invalid", false).error().code(),
            ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace certfleet::events
