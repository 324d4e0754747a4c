// The event outbox, webhook subscriptions and webhook deliveries (migration 5; docs/events.md).
#include "store/sql/codec.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

constexpr std::string_view kEventCols = "seq, id, account_id, type, subject, data, tags, time";

Result<model::Event> ReadEvent(const Stmt& s) {
  model::Event e;
  e.seq = s.Int(0);
  e.id = s.Text(1);
  e.account_id = s.Text(2);
  e.type = s.Text(3);
  e.subject = s.Text(4);
  e.data_json = s.Text(5);
  CF_ASSIGN_OR_RETURN(e.tags, DecodeTags(s.Text(6), "events.tags"));
  e.time = DecodeTime(s.Int(7));
  return e;
}

constexpr std::string_view kWebhookCols =
    "id, account_id, url, types, tags, secret_blob_id, allow_private_address, active, "
    "created_by, created_at, updated_at";

Result<model::WebhookSubscription> ReadWebhook(const Stmt& s) {
  model::WebhookSubscription w;
  w.id = s.Text(0);
  w.account_id = s.Text(1);
  w.url = s.Text(2);
  CF_ASSIGN_OR_RETURN(w.types, DecodeStrings(s.Text(3), "webhooks.types"));
  CF_ASSIGN_OR_RETURN(w.tags, DecodeTags(s.Text(4), "webhooks.tags"));
  w.secret_blob_id = s.Text(5);
  w.allow_private_address = s.Int(6) != 0;
  w.active = s.Int(7) != 0;
  w.created_by = s.Text(8);
  w.created_at = DecodeTime(s.Int(9));
  w.updated_at = DecodeTime(s.Int(10));
  return w;
}

constexpr std::string_view kDeliveryCols =
    "id, subscription_id, event_id, attempt, status, http_status, error, next_attempt_at, "
    "delivered_at, created_at, updated_at";

Result<model::WebhookDelivery> ReadDelivery(const Stmt& s) {
  model::WebhookDelivery d;
  d.id = s.Text(0);
  d.subscription_id = s.Text(1);
  d.event_id = s.Text(2);
  d.attempt = static_cast<int>(s.Int(3));
  CF_ASSIGN_OR_RETURN(
      d.status, DecodeEnum(model::ParseDeliveryStatus(s.Text(4)), "webhook_deliveries.status"));
  d.http_status = static_cast<int>(s.Int(5));
  d.error = s.Text(6);
  d.next_attempt_at = DecodeTime(s.OptInt(7));
  d.delivered_at = DecodeTime(s.OptInt(8));
  d.created_at = DecodeTime(s.Int(9));
  d.updated_at = DecodeTime(s.Int(10));
  return d;
}

std::string Select(std::string_view cols, std::string_view rest) {
  return "SELECT " + std::string(cols) + " " + std::string(rest);
}

}  // namespace

// ---- events

Result<int64_t> SqlEvents::Append(const model::Event& e) {
  // The seq is assigned here, never taken from `e`. Every Tx holds SQLite's single writer slot
  // (BEGIN IMMEDIATE), so seqs become visible in increasing order and a reader that has seen
  // seq N will never later find a committed seq below N.
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(e.tags, "events.tags"));
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO events (id, account_id, type, subject, "
                                         "data, tags, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                                         "RETURNING seq",
                                         "events"));
  s.Bind(1, e.id)
      .Bind(2, e.account_id)
      .Bind(3, e.type)
      .Bind(4, e.subject)
      .Bind(5, e.data_json)
      .Bind(6, tags)
      .Bind(7, EncodeTime(e.time));
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Internal("events: INSERT returned no seq");
  const int64_t seq = s.Int(0);
  CF_TRY(s.Run());
  return seq;
}

Result<model::Event> SqlEvents::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kEventCols, "FROM events WHERE id = ?1"), "events"));
  s.Bind(1, id);
  return SingleRow<model::Event>(s, ReadEvent, "event " + id + " not found");
}

Result<std::vector<model::Event>> SqlEvents::ListAfter(int64_t after_seq, size_t limit) {
  CF_ASSIGN_OR_RETURN(
      auto s,
      s_.Prepare(Select(kEventCols, "FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2"), "events"));
  s.Bind(1, after_seq).Bind(2, EncodeLimit(limit));
  return CollectRows<model::Event>(s, ReadEvent);
}

// ---- webhook subscriptions

Status SqlWebhooks::Insert(const model::WebhookSubscription& w) {
  CF_ASSIGN_OR_RETURN(auto types, EncodeStrings(w.types, "webhooks.types"));
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(w.tags, "webhooks.tags"));
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO webhooks (" + std::string(kWebhookCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                             "?11)",
                                         "webhooks"));
  return s.Bind(1, w.id)
      .Bind(2, w.account_id)
      .Bind(3, w.url)
      .Bind(4, types)
      .Bind(5, tags)
      .Bind(6, w.secret_blob_id)
      .Bind(7, w.allow_private_address)
      .Bind(8, w.active)
      .Bind(9, w.created_by)
      .Bind(10, EncodeTime(w.created_at))
      .Bind(11, EncodeTime(w.updated_at))
      .Run();
}

Result<model::WebhookSubscription> SqlWebhooks::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kWebhookCols, "FROM webhooks WHERE id = ?1"), "webhooks"));
  s.Bind(1, id);
  return SingleRow<model::WebhookSubscription>(s, ReadWebhook, "webhook " + id + " not found");
}

Result<std::vector<model::WebhookSubscription>> SqlWebhooks::ListByAccount(
    const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare(Select(kWebhookCols, "FROM webhooks WHERE account_id = ?1 ORDER BY id"),
                         "webhooks"));
  s.Bind(1, account_id);
  return CollectRows<model::WebhookSubscription>(s, ReadWebhook);
}

Result<std::vector<model::WebhookSubscription>> SqlWebhooks::ListActive() {
  CF_ASSIGN_OR_RETURN(
      auto s,
      s_.Prepare(Select(kWebhookCols, "FROM webhooks WHERE active = 1 ORDER BY id"), "webhooks"));
  return CollectRows<model::WebhookSubscription>(s, ReadWebhook);
}

Status SqlWebhooks::SetActive(const std::string& id, bool active, TimePoint at) {
  CF_ASSIGN_OR_RETURN(
      auto s,
      s_.Prepare("UPDATE webhooks SET active = ?2, updated_at = ?3 WHERE id = ?1", "webhooks"));
  CF_TRY(s.Bind(1, id).Bind(2, active).Bind(3, EncodeTime(at)).Run());
  if (s_.db().Changes() == 0) return NotFound("webhook " + id + " not found");
  return Ok();
}

// ---- webhook deliveries

Status SqlWebhookDeliveries::Insert(const model::WebhookDelivery& d) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("INSERT INTO webhook_deliveries (" + std::string(kDeliveryCols) +
                                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                                 "webhook_deliveries"));
  return s.Bind(1, d.id)
      .Bind(2, d.subscription_id)
      .Bind(3, d.event_id)
      .Bind(4, d.attempt)
      .Bind(5, model::DeliveryStatusName(d.status))
      .Bind(6, d.http_status)
      .Bind(7, d.error)
      .Bind(8, EncodeTime(d.next_attempt_at))
      .Bind(9, EncodeTime(d.delivered_at))
      .Bind(10, EncodeTime(d.created_at))
      .Bind(11, EncodeTime(d.updated_at))
      .Run();
}

Result<model::WebhookDelivery> SqlWebhookDeliveries::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kDeliveryCols, "FROM webhook_deliveries WHERE id = ?1"),
                                 "webhook_deliveries"));
  s.Bind(1, id);
  return SingleRow<model::WebhookDelivery>(s, ReadDelivery, "delivery " + id + " not found");
}

Result<std::vector<model::WebhookDelivery>> SqlWebhookDeliveries::ListBySubscription(
    const std::string& subscription_id, const std::string& before_id, size_t limit) {
  std::string sql = Select(kDeliveryCols, "FROM webhook_deliveries WHERE subscription_id = ?1");
  if (!before_id.empty()) sql += " AND id < ?2";
  sql += " ORDER BY id DESC LIMIT ?3";
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(sql, "webhook_deliveries"));
  s.Bind(1, subscription_id);
  if (!before_id.empty()) s.Bind(2, before_id);
  s.Bind(3, EncodeLimit(limit));
  return CollectRows<model::WebhookDelivery>(s, ReadDelivery);
}

Result<std::vector<model::WebhookDelivery>> SqlWebhookDeliveries::ListDue(TimePoint now,
                                                                          size_t limit) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare(Select(kDeliveryCols,
                                "FROM webhook_deliveries WHERE status = 'pending' AND "
                                "next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2"),
                         "webhook_deliveries"));
  s.Bind(1, EncodeTime(now)).Bind(2, EncodeLimit(limit));
  return CollectRows<model::WebhookDelivery>(s, ReadDelivery);
}

Status SqlWebhookDeliveries::Update(const model::WebhookDelivery& d) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("UPDATE webhook_deliveries SET attempt = ?2, status = ?3, "
                         "http_status = ?4, error = ?5, next_attempt_at = ?6, delivered_at = ?7, "
                         "updated_at = ?8 WHERE id = ?1",
                         "webhook_deliveries"));
  CF_TRY(s.Bind(1, d.id)
             .Bind(2, d.attempt)
             .Bind(3, model::DeliveryStatusName(d.status))
             .Bind(4, d.http_status)
             .Bind(5, d.error)
             .Bind(6, EncodeTime(d.next_attempt_at))
             .Bind(7, EncodeTime(d.delivered_at))
             .Bind(8, EncodeTime(d.updated_at))
             .Run());
  if (s_.db().Changes() == 0) return NotFound("delivery " + d.id + " not found");
  return Ok();
}

}  // namespace certfleet::store::sql
