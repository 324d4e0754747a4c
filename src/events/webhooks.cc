#include "events/webhooks.h"

#include "base/ids.h"
#include "events/events.h"
#include "net/https_client.h"
#include "store/owned.h"

namespace certfleet::events {
namespace {

constexpr size_t kMaxTypes = 32;
constexpr size_t kMaxTags = 32;
constexpr size_t kMinSecret = 16;
constexpr size_t kMaxSecret = 1024;
constexpr size_t kMaxUrl = 2048;

Status Validate(const NewWebhook& w) {
  if (w.url.size() > kMaxUrl) return InvalidArgument("webhook url is too long");
  CF_ASSIGN_OR_RETURN(net::Url url, net::ParseUrl(w.url));
  if (url.scheme != "https" && !w.allow_private_address) {
    // An unencrypted body would leak every event on the way; plain HTTP is for receivers on
    // the same host or network, which need allow_private_address anyway.
    return InvalidArgument("webhook url must be https:// (http:// needs allow_private_address)");
  }
  if (w.types.empty()) return InvalidArgument("webhook needs at least one event type");
  if (w.types.size() > kMaxTypes) return InvalidArgument("webhook has too many types");
  for (const auto& t : w.types) {
    if (!IsValidTypePattern(t)) {
      return InvalidArgument("invalid event type pattern '" + t +
                             "' (use a type, \"<prefix>.*\" or \"*\")");
    }
  }
  if (w.tags.size() > kMaxTags) return InvalidArgument("webhook has too many tags");
  for (const auto& [k, v] : w.tags) {
    if (k.empty() || k.size() > 128 || v.size() > 256) {
      return InvalidArgument("webhook tag keys must be 1-128 and values 0-256 characters");
    }
  }
  if (w.secret.size() < kMinSecret || w.secret.size() > kMaxSecret) {
    return InvalidArgument("webhook secret must be 16 to 1024 bytes");
  }
  return Ok();
}

}  // namespace

Result<model::WebhookSubscription> WebhookService::Create(const NewWebhook& spec,
                                                          const BeforeCommit& before_commit) {
  CF_TRY(Validate(spec));
  const TimePoint now = std::chrono::time_point_cast<std::chrono::seconds>(clock_.Now());
  model::WebhookSubscription w{.id = NewId(model::kWebhookPrefix, clock_, random_),
                               .account_id = spec.account_id,
                               .url = spec.url,
                               .types = spec.types,
                               .tags = spec.tags,
                               .allow_private_address = spec.allow_private_address,
                               .active = true,
                               .created_by = spec.created_by,
                               .created_at = now,
                               .updated_at = now};
  if (spec.allow_private_address && outbound_ != nullptr) {
    // Issue #13: private networks are server configuration, not the tenant's choice.
    std::string account_name;
    {
      CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
      CF_ASSIGN_OR_RETURN(model::Account account, tx->accounts().Get(spec.account_id));
      account_name = account.name;
    }
    if (!outbound_->AllowsPrivate(account_name)) {
      return Forbidden(
          "allow_private_address is refused: certfleetd's configuration allows this account no "
          "private network ([[outbound.allow]]) (rule " +
          std::string(net::kPrivateNetworkRule) + ")");
    }
    // Outside the tx: a lookup may take a while. Deliveries check again on connect.
    CF_ASSIGN_OR_RETURN(net::Url url, net::ParseUrl(spec.url));
    CF_TRY(
        net::CheckHost(url.host, outbound_->FilterFor(account_name), "webhook host " + url.host));
  }
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto account = tx->accounts().Get(spec.account_id);
  if (!account.ok()) return std::move(account).error();
  CF_ASSIGN_OR_RETURN(w.secret_blob_id, secrets_.SealBlob(*tx, spec.secret, "webhook.secret"));
  CF_TRY(tx->webhooks().Insert(w));
  if (before_commit) CF_TRY(before_commit(*tx, w));
  CF_TRY(tx->Commit());
  return w;
}

Result<std::vector<model::WebhookSubscription>> WebhookService::List(
    const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  return tx->webhooks().ListByAccount(account_id);
}

Result<model::WebhookSubscription> WebhookService::Get(const std::string& account_id,
                                                       const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  // Another account's subscription looks exactly like a missing one.
  return store::LoadOwned("webhook", id, model::kWebhookPrefix, account_id,
                          [&](const std::string& k) { return tx->webhooks().Get(k); });
}

Result<model::WebhookSubscription> WebhookService::Disable(const std::string& account_id,
                                                           const std::string& id,
                                                           const BeforeCommit& before_commit) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(
      auto w, store::LoadOwned("webhook", id, model::kWebhookPrefix, account_id,
                               [&](const std::string& k) { return tx->webhooks().Get(k); }));
  if (!w.active) return w;
  w.active = false;
  w.updated_at = std::chrono::time_point_cast<std::chrono::seconds>(clock_.Now());
  CF_TRY(tx->webhooks().SetActive(id, false, w.updated_at));
  if (before_commit) CF_TRY(before_commit(*tx, w));
  CF_TRY(tx->Commit());
  return w;
}

Result<std::vector<model::WebhookDelivery>> WebhookService::Deliveries(
    const std::string& account_id, const std::string& id, const std::string& before_id,
    size_t limit) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(store::LoadOwned("webhook", id, model::kWebhookPrefix, account_id,
                          [&](const std::string& k) { return tx->webhooks().Get(k); }));
  return tx->webhook_deliveries().ListBySubscription(id, before_id, limit);
}

}  // namespace certfleet::events
