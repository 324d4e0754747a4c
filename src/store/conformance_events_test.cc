// Conformance: the event outbox, webhook subscriptions and webhook deliveries (issue #5).
#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kAcc2 = TestId(model::kAccountPrefix, 2);

std::string Evt(int n) { return TestId(model::kEventPrefix, n); }
std::string Whk(int n) { return TestId(model::kWebhookPrefix, n); }
std::string Dlv(int n) { return TestId(model::kDeliveryPrefix, n); }

model::Event MakeEvent(int n, const std::string& account_id) {
  return {.id = Evt(n),
          .seq = 999,  // ignored: the store assigns it
          .account_id = account_id,
          .type = "certificate.renewed",
          .subject = TestId(model::kCertificatePrefix, n),
          .data_json = R"({"serial":"0a"})",
          .tags = {{"env", "prod"}},
          .time = T(n)};
}

model::WebhookSubscription MakeWebhook(int n, const std::string& account_id) {
  return {.id = Whk(n),
          .account_id = account_id,
          .url = "https://hooks.example.test/" + std::to_string(n),
          .types = {"certificate.*", "deployment.failed"},
          .tags = {{"team", "web"}},
          .secret_blob_id = TestId(model::kBlobPrefix, n),
          .allow_private_address = false,
          .active = true,
          .created_by = TestId(model::kPrincipalPrefix, 1),
          .created_at = T(n),
          .updated_at = T(n)};
}

model::WebhookDelivery MakeDelivery(int n, const std::string& subscription_id,
                                    const std::string& event_id, TimePoint due) {
  return {.id = Dlv(n),
          .subscription_id = subscription_id,
          .event_id = event_id,
          .attempt = 0,
          .status = model::DeliveryStatus::kPending,
          .http_status = 0,
          .error = "",
          .next_attempt_at = due,
          .delivered_at = std::nullopt,
          .created_at = T(n),
          .updated_at = T(n)};
}

std::vector<std::string> EventIds(const std::vector<model::Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.id);
  return out;
}

template <typename T>
std::vector<std::string> Ids(const std::vector<T>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.id);
  return out;
}

TEST_P(StoreConformanceTest, EventAppendAssignsIncreasingSeqAndRoundTrips) {
  int64_t first = 0;
  int64_t second = 0;
  Commit([&](Tx& tx) {
    auto a = tx.events().Append(MakeEvent(2, kAcc1));  // ids need not follow seq order
    ASSERT_TRUE(IsOk(a));
    auto b = tx.events().Append(MakeEvent(1, kAcc2));
    ASSERT_TRUE(IsOk(b));
    first = *a;
    second = *b;
  });
  EXPECT_GT(first, 0);
  EXPECT_GT(second, first);

  auto tx = Begin();
  auto got = tx->events().Get(Evt(2));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->seq, first);
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->type, "certificate.renewed");
  EXPECT_EQ(got->subject, TestId(model::kCertificatePrefix, 2));
  EXPECT_EQ(got->data_json, R"({"serial":"0a"})");
  EXPECT_EQ(got->tags, (model::Tags{{"env", "prod"}}));
  EXPECT_EQ(got->time, T(2));
  EXPECT_TRUE(HasCode(tx->events().Get(Evt(9)), ErrorCode::kNotFound));
  EXPECT_TRUE(HasCode(tx->events().Append(MakeEvent(2, kAcc1)), ErrorCode::kConflict));
}

TEST_P(StoreConformanceTest, EventListAfterPagesInSeqOrder) {
  std::vector<int64_t> seqs;
  Commit([&](Tx& tx) {
    for (int n : {5, 3, 4, 1}) {
      auto seq = tx.events().Append(MakeEvent(n, kAcc1));
      ASSERT_TRUE(IsOk(seq));
      seqs.push_back(*seq);
    }
  });
  auto tx = Begin();
  auto all = tx->events().ListAfter(0, 100);
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(EventIds(*all), (std::vector<std::string>{Evt(5), Evt(3), Evt(4), Evt(1)}));
  auto page = tx->events().ListAfter(seqs[0], 2);
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(EventIds(*page), (std::vector<std::string>{Evt(3), Evt(4)}));
  auto rest = tx->events().ListAfter((*page)[1].seq, 2);
  ASSERT_TRUE(IsOk(rest));
  EXPECT_EQ(EventIds(*rest), (std::vector<std::string>{Evt(1)}));
  auto none = tx->events().ListAfter(seqs.back(), 10);
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreConformanceTest, EventRolledBackWithItsTransaction) {
  {
    auto tx = Begin();
    ASSERT_TRUE(IsOk(tx->events().Append(MakeEvent(1, kAcc1))));
    // Dropped without Commit: the outbox entry goes with the change it reports.
  }
  int64_t seq = 0;
  Commit([&](Tx& tx) {
    auto s = tx.events().Append(MakeEvent(2, kAcc1));
    ASSERT_TRUE(IsOk(s));
    seq = *s;
  });
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->events().Get(Evt(1)), ErrorCode::kNotFound));
  auto all = tx->events().ListAfter(0, 10);
  ASSERT_TRUE(IsOk(all));
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].seq, seq);
}

TEST_P(StoreConformanceTest, WebhookRoundTripListAndSetActive) {
  SeedAccounts();
  auto w1 = MakeWebhook(1, kAcc1);
  auto w2 = MakeWebhook(2, kAcc2);
  w2.allow_private_address = true;
  w2.tags = {};
  w2.types = {"*"};
  auto w3 = MakeWebhook(3, kAcc1);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.webhooks().Insert(w3)));
    ASSERT_TRUE(IsOk(tx.webhooks().Insert(w1)));
    ASSERT_TRUE(IsOk(tx.webhooks().Insert(w2)));
  });
  auto tx = Begin();
  auto got = tx->webhooks().Get(Whk(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->url, w1.url);
  EXPECT_EQ(got->types, w1.types);
  EXPECT_EQ(got->tags, w1.tags);
  EXPECT_EQ(got->secret_blob_id, w1.secret_blob_id);
  EXPECT_FALSE(got->allow_private_address);
  EXPECT_TRUE(got->active);
  EXPECT_EQ(got->created_by, w1.created_by);
  EXPECT_EQ(got->created_at, T(1));
  EXPECT_EQ(got->updated_at, T(1));
  auto other = tx->webhooks().Get(Whk(2));
  ASSERT_TRUE(IsOk(other));
  EXPECT_TRUE(other->allow_private_address);
  EXPECT_TRUE(other->tags.empty());
  EXPECT_EQ(other->types, (std::vector<std::string>{"*"}));
  EXPECT_TRUE(HasCode(tx->webhooks().Get(Whk(9)), ErrorCode::kNotFound));
  EXPECT_TRUE(HasCode(tx->webhooks().Insert(w1), ErrorCode::kConflict));

  auto acc1 = tx->webhooks().ListByAccount(kAcc1);
  ASSERT_TRUE(IsOk(acc1));
  EXPECT_EQ(Ids(*acc1), (std::vector<std::string>{Whk(1), Whk(3)}));

  ASSERT_TRUE(IsOk(tx->webhooks().SetActive(Whk(3), false, T(50))));
  EXPECT_TRUE(HasCode(tx->webhooks().SetActive(Whk(9), false, T(50)), ErrorCode::kNotFound));
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  auto active = tx->webhooks().ListActive();
  ASSERT_TRUE(IsOk(active));
  EXPECT_EQ(Ids(*active), (std::vector<std::string>{Whk(1), Whk(2)}));
  auto off = tx->webhooks().Get(Whk(3));
  ASSERT_TRUE(IsOk(off));
  EXPECT_FALSE(off->active);
  EXPECT_EQ(off->updated_at, T(50));
  EXPECT_EQ(off->created_at, T(3));
}

TEST_P(StoreConformanceTest, WebhookNeedsAnExistingAccount) {
  auto tx = Begin();
  EXPECT_TRUE(
      HasCode(tx->webhooks().Insert(MakeWebhook(1, kAcc1)), ErrorCode::kFailedPrecondition));
}

TEST_P(StoreConformanceTest, DeliveryRoundTripDueAndLog) {
  SeedAccounts();
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.webhooks().Insert(MakeWebhook(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.webhooks().Insert(MakeWebhook(2, kAcc1))));
    for (int n = 1; n <= 3; ++n) ASSERT_TRUE(IsOk(tx.events().Append(MakeEvent(n, kAcc1))));
    ASSERT_TRUE(IsOk(tx.webhook_deliveries().Insert(MakeDelivery(1, Whk(1), Evt(1), T(100)))));
    ASSERT_TRUE(IsOk(tx.webhook_deliveries().Insert(MakeDelivery(2, Whk(1), Evt(2), T(50)))));
    ASSERT_TRUE(IsOk(tx.webhook_deliveries().Insert(MakeDelivery(3, Whk(2), Evt(1), T(200)))));
    ASSERT_TRUE(IsOk(tx.webhook_deliveries().Insert(MakeDelivery(4, Whk(1), Evt(3), T(10)))));
  });
  auto tx = Begin();
  auto got = tx->webhook_deliveries().Get(Dlv(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->subscription_id, Whk(1));
  EXPECT_EQ(got->event_id, Evt(1));
  EXPECT_EQ(got->attempt, 0);
  EXPECT_EQ(got->status, model::DeliveryStatus::kPending);
  EXPECT_EQ(got->next_attempt_at, T(100));
  EXPECT_FALSE(got->delivered_at.has_value());
  EXPECT_TRUE(HasCode(tx->webhook_deliveries().Get(Dlv(9)), ErrorCode::kNotFound));
  // One row per (subscription, event): a second fan-out of the same event is refused.
  EXPECT_TRUE(HasCode(tx->webhook_deliveries().Insert(MakeDelivery(8, Whk(1), Evt(1), T(0))),
                      ErrorCode::kConflict));

  // Due: pending with next_attempt_at <= now, oldest due first.
  auto due = tx->webhook_deliveries().ListDue(T(100), 10);
  ASSERT_TRUE(IsOk(due));
  EXPECT_EQ(Ids(*due), (std::vector<std::string>{Dlv(4), Dlv(2), Dlv(1)}));
  auto one = tx->webhook_deliveries().ListDue(T(100), 1);
  ASSERT_TRUE(IsOk(one));
  EXPECT_EQ(Ids(*one), (std::vector<std::string>{Dlv(4)}));

  auto delivered = *got;
  delivered.attempt = 2;
  delivered.status = model::DeliveryStatus::kDelivered;
  delivered.http_status = 204;
  delivered.error = "";
  delivered.next_attempt_at = std::nullopt;
  delivered.delivered_at = T(120);
  delivered.updated_at = T(120);
  ASSERT_TRUE(IsOk(tx->webhook_deliveries().Update(delivered)));
  auto failed = MakeDelivery(4, Whk(1), Evt(3), T(10));
  failed.attempt = 8;
  failed.status = model::DeliveryStatus::kFailed;
  failed.http_status = 500;
  failed.error = "HTTP 500";
  failed.next_attempt_at = std::nullopt;
  failed.updated_at = T(130);
  ASSERT_TRUE(IsOk(tx->webhook_deliveries().Update(failed)));
  auto ghost = MakeDelivery(9, Whk(1), Evt(1), T(0));
  EXPECT_TRUE(HasCode(tx->webhook_deliveries().Update(ghost), ErrorCode::kNotFound));
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  auto after = tx->webhook_deliveries().Get(Dlv(1));
  ASSERT_TRUE(IsOk(after));
  EXPECT_EQ(after->attempt, 2);
  EXPECT_EQ(after->status, model::DeliveryStatus::kDelivered);
  EXPECT_EQ(after->http_status, 204);
  EXPECT_FALSE(after->next_attempt_at.has_value());
  EXPECT_EQ(after->delivered_at, T(120));
  EXPECT_EQ(after->updated_at, T(120));
  EXPECT_EQ(after->created_at, T(1));
  auto f = tx->webhook_deliveries().Get(Dlv(4));
  ASSERT_TRUE(IsOk(f));
  EXPECT_EQ(f->status, model::DeliveryStatus::kFailed);
  EXPECT_EQ(f->error, "HTTP 500");
  EXPECT_EQ(f->attempt, 8);
  auto still_due = tx->webhook_deliveries().ListDue(T(1000), 10);
  ASSERT_TRUE(IsOk(still_due));
  EXPECT_EQ(Ids(*still_due), (std::vector<std::string>{Dlv(2), Dlv(3)}));

  // The log: newest first, paged with before_id.
  auto log = tx->webhook_deliveries().ListBySubscription(Whk(1), "", 10);
  ASSERT_TRUE(IsOk(log));
  EXPECT_EQ(Ids(*log), (std::vector<std::string>{Dlv(4), Dlv(2), Dlv(1)}));
  auto page = tx->webhook_deliveries().ListBySubscription(Whk(1), Dlv(4), 1);
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(Ids(*page), (std::vector<std::string>{Dlv(2)}));
  auto other = tx->webhook_deliveries().ListBySubscription(Whk(2), "", 10);
  ASSERT_TRUE(IsOk(other));
  EXPECT_EQ(Ids(*other), (std::vector<std::string>{Dlv(3)}));
}

TEST_P(StoreConformanceTest, DeliveryNeedsExistingSubscriptionAndEvent) {
  SeedAccounts();
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.webhooks().Insert(MakeWebhook(1, kAcc1)))); });
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->webhook_deliveries().Insert(MakeDelivery(1, Whk(1), Evt(1), T(0))),
                      ErrorCode::kFailedPrecondition));
  ASSERT_TRUE(IsOk(tx->events().Append(MakeEvent(1, kAcc1))));
  EXPECT_TRUE(HasCode(tx->webhook_deliveries().Insert(MakeDelivery(2, Whk(9), Evt(1), T(0))),
                      ErrorCode::kFailedPrecondition));
}

}  // namespace
}  // namespace certfleet::store::testing
