#include "events/dispatcher.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "base/encoding.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/time_util.h"
#include "crypto/hash.h"
#include "events/destination.h"
#include "events/events.h"

namespace certfleet::events {
namespace {

constexpr size_t kMaxErrorChars = 500;

Result<int64_t> ReadCursor(store::Tx& tx) {
  CF_ASSIGN_OR_RETURN(auto value, tx.settings().Get(std::string(kCursorSetting)));
  if (!value) return int64_t{0};
  int64_t seq = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), seq);
  if (ec != std::errc() || end != value->data() + value->size() || seq < 0) {
    return Internal("setting " + std::string(kCursorSetting) + " is not a sequence number");
  }
  return seq;
}

std::string Truncate(std::string s) {
  if (s.size() > kMaxErrorChars) s.resize(kMaxErrorChars);
  return s;
}

// What one attempt came to.
struct Outcome {
  bool delivered = false;
  bool permanent = false;  // do not retry
  int http_status = 0;
  std::string error;
};

}  // namespace

std::string SignatureHeaderValue(const SecretBytes& secret, int64_t unix_time,
                                 std::string_view body) {
  const std::string t = std::to_string(unix_time);
  std::string signed_text;
  signed_text.reserve(t.size() + 1 + body.size());
  signed_text.append(t).append(".").append(body);
  return "t=" + t + ",v1=" + HexEncode(crypto::HmacSha256(secret, signed_text));
}

Result<std::unique_ptr<Dispatcher>> Dispatcher::Create(store::Store& store,
                                                       secrets::SecretStore& secrets,
                                                       net::HttpsClient& client,
                                                       net::HttpsClient& private_client,
                                                       const Clock& clock, Random& random,
                                                       DispatcherOptions options) {
  if (options.batch == 0) return InvalidArgument("dispatcher: batch must be positive");
  if (options.max_attempts <= 0) return InvalidArgument("dispatcher: max_attempts must be > 0");
  if (options.initial_backoff.count() <= 0 || options.max_backoff < options.initial_backoff) {
    return InvalidArgument("dispatcher: backoff must be positive and max >= initial");
  }
  return std::unique_ptr<Dispatcher>(
      new Dispatcher(store, secrets, client, private_client, clock, random, options));
}

std::chrono::seconds Dispatcher::Backoff(int attempt) {
  int64_t d = options_.initial_backoff.count();
  const int64_t cap = options_.max_backoff.count();
  for (int i = 1; i < attempt && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  // Jitter in [d/2, d]: failures of many deliveries at once (a receiver outage) spread out
  // instead of retrying in lockstep, and the delay never drops below half the schedule.
  const int64_t half = d / 2;
  return std::chrono::seconds(
      half + static_cast<int64_t>(random_.Uniform(static_cast<uint64_t>(d - half) + 1)));
}

Result<RunStats> Dispatcher::RunOnce() {
  RunStats stats;
  CF_ASSIGN_OR_RETURN(stats.fanned_out, FanOut());
  std::vector<model::WebhookDelivery> due;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(due, tx->webhook_deliveries().ListDue(clock_.Now(), options_.batch));
  }
  for (const auto& d : due) CF_TRY(Deliver(d, stats));
  return stats;
}

Result<size_t> Dispatcher::FanOut() {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(int64_t cursor, ReadCursor(*tx));
  CF_ASSIGN_OR_RETURN(auto events, tx->events().ListAfter(cursor, options_.batch));
  if (events.empty()) return size_t{0};
  CF_ASSIGN_OR_RETURN(auto subs, tx->webhooks().ListActive());
  const TimePoint now = clock_.Now();
  size_t created = 0;
  for (const auto& e : events) {
    for (const auto& sub : subs) {
      if (!Matches(sub, e)) continue;
      model::WebhookDelivery d{.id = NewId(model::kDeliveryPrefix, clock_, random_),
                               .subscription_id = sub.id,
                               .event_id = e.id,
                               .attempt = 0,
                               .status = model::DeliveryStatus::kPending,
                               .next_attempt_at = now,
                               .created_at = now,
                               .updated_at = now};
      CF_TRY(tx->webhook_deliveries().Insert(d));
      ++created;
    }
  }
  // The cursor moves in the same transaction as the rows it accounts for.
  CF_TRY(tx->settings().Put(std::string(kCursorSetting), std::to_string(events.back().seq)));
  CF_TRY(tx->Commit());
  return created;
}

Result<net::HttpsClient*> Dispatcher::PrivateClientFor(const std::string& account_name) {
  auto it = private_clients_.find(account_name);
  if (it == private_clients_.end()) {
    if (!options_.make_private_client) return Internal("no client factory for private webhooks");
    CF_ASSIGN_OR_RETURN(auto client,
                        options_.make_private_client(options_.outbound->FilterFor(account_name)));
    it = private_clients_.emplace(account_name, std::move(client)).first;
  }
  return it->second.get();
}

Status Dispatcher::Deliver(const model::WebhookDelivery& due, RunStats& stats) {
  std::string account_name;  // read when the outbound policy decides
  model::WebhookSubscription sub;
  model::Event event;
  SecretBytes secret;
  // A delivery whose inputs cannot be loaded (e.g. its secret does not open under the current
  // KEKs) counts as a failed attempt, so it backs off instead of blocking every later pass.
  Status loaded = [&]() -> Status {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(sub, tx->webhooks().Get(due.subscription_id));
    CF_ASSIGN_OR_RETURN(event, tx->events().Get(due.event_id));
    if (sub.active) {
      CF_ASSIGN_OR_RETURN(secret, secrets_.OpenBlob(*tx, sub.secret_blob_id));
    }
    if (options_.outbound != nullptr && sub.allow_private_address) {
      CF_ASSIGN_OR_RETURN(model::Account account, tx->accounts().Get(sub.account_id));
      account_name = account.name;
    }
    // Read-only: dropping the Tx rolls back and frees the writer slot before any network I/O.
    return Ok();
  }();

  Outcome out;
  auto attempt = [&]() {
    if (!loaded.ok()) {
      out = {.error = "cannot load the delivery: " + loaded.error().message()};
      return;
    }
    if (!sub.active) {
      out = {.permanent = true, .error = "subscription disabled"};
      return;
    }
    auto url = net::ParseUrl(sub.url);
    if (!url.ok()) {
      out = {.permanent = true, .error = url.error().message()};
      return;
    }
    // Plain HTTP only where private addresses are allowed (a receiver on the same host or
    // network, typically tests): on the internet a signed but unencrypted body still leaks
    // the event.
    if (url->scheme != "https" && !sub.allow_private_address) {
      out = {.permanent = true, .error = "http:// requires allow_private_address"};
      return;
    }
    // Issue #13: with an outbound policy, a private subscription reaches only the networks the
    // policy allows its account, judged now (the configuration may have changed since it was
    // created) and again on connect by the account's client.
    net::HttpsClient* http = sub.allow_private_address ? &private_client_ : &client_;
    net::AddressFilter filter;
    if (!sub.allow_private_address) {
      filter = PublicAddressesOnly();
    } else if (options_.outbound != nullptr) {
      if (!options_.outbound->AllowsPrivate(account_name)) {
        out = {.permanent = true,
               .error = net::PrivateDestinationRefused("webhook host " + url->host).message()};
        return;
      }
      filter = options_.outbound->FilterFor(account_name);
      auto client = PrivateClientFor(account_name);
      if (!client.ok()) {
        out = {.error = client.error().message()};
        return;
      }
      http = *client;
    }
    if (Status dest = CheckDestination(url->host, filter); !dest.ok()) {
      out = {.permanent = dest.error().code() == ErrorCode::kForbidden,
             .error = dest.error().message()};
      return;
    }
    auto body = RenderCloudEvent(event);
    if (!body.ok()) {
      out = {.permanent = true, .error = body.error().message()};
      return;
    }
    const int64_t t = ToUnixSeconds(clock_.Now());
    const std::map<std::string, std::string> headers{
        {"Content-Type", "application/cloudevents+json; charset=utf-8"},
        {std::string(kSignatureHeader), SignatureHeaderValue(secret, t, *body)},
        {"Certfleet-Event-Id", event.id},
        {"Certfleet-Delivery-Id", due.id},
        {"User-Agent", "certfleet-webhook/1"},
    };
    auto resp = http->Do("POST", sub.url, headers, *body);
    if (!resp.ok()) {
      // Forbidden: the client's address filter refused what the name resolves to now.
      out = {.permanent = resp.error().code() == ErrorCode::kForbidden,
             .error = resp.error().message()};
      return;
    }
    out.http_status = resp->status;
    if (resp->status >= 200 && resp->status < 300) {
      out.delivered = true;
    } else {
      out.error = "HTTP " + std::to_string(resp->status);
    }
  };
  attempt();
  ++stats.attempted;

  const TimePoint now = clock_.Now();
  model::WebhookDelivery d = due;
  d.attempt = due.attempt + 1;
  d.http_status = out.http_status;
  d.error = Truncate(out.error);
  d.updated_at = now;
  if (out.delivered) {
    d.status = model::DeliveryStatus::kDelivered;
    d.next_attempt_at = std::nullopt;
    d.delivered_at = now;
    ++stats.delivered;
  } else if (out.permanent || d.attempt >= options_.max_attempts) {
    d.status = model::DeliveryStatus::kFailed;
    d.next_attempt_at = std::nullopt;
    ++stats.failed;
    log::Warn("webhook delivery failed", {{"delivery", d.id},
                                          {"subscription", due.subscription_id},
                                          {"event_id", due.event_id},
                                          {"attempts", std::to_string(d.attempt)},
                                          {"error", d.error}});
  } else {
    d.status = model::DeliveryStatus::kPending;
    d.next_attempt_at = now + Backoff(d.attempt);
  }
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(tx->webhook_deliveries().Update(d));
  return tx->Commit();
}

}  // namespace certfleet::events
