// WebhookService: creating, listing and disabling webhook subscriptions, and reading their
// delivery logs (docs/events.md). The signing secret is sealed by the secret store in the same
// transaction as the subscription and is never returned. Authorization (which account the
// caller may act on) is the caller's job: every call names the account it acts within, and a
// subscription of another account is NotFound. Thread-safe (state lives in the store).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "model/model.h"
#include "net/address_policy.h"
#include "secrets/secret_store.h"
#include "store/store.h"

namespace certfleet::events {

struct NewWebhook {
  std::string account_id;
  std::string url;
  std::vector<std::string> types;  // patterns (IsValidTypePattern); at least one
  model::Tags tags;                // filter
  SecretBytes secret;              // the HMAC key: 16 to 1024 bytes
  bool allow_private_address = false;
  std::string created_by;  // principal id
};

// Work a caller adds to a change's transaction before it commits, given the subscription as it
// will be committed (see WebhookService::Create).
using BeforeCommit = std::function<Status(store::Tx&, const model::WebhookSubscription&)>;

class WebhookService {
 public:
  // `outbound` (borrowed; certfleetd's [[outbound.allow]], issue #13) decides which accounts may
  // have subscriptions with allow_private_address, and which networks those may reach. Null:
  // any account may (unit tests only).
  WebhookService(store::Store& store, secrets::SecretStore& secrets, const Clock& clock,
                 Random& random, const net::OutboundPolicy* outbound = nullptr)
      : store_(store), secrets_(secrets), clock_(clock), random_(random), outbound_(outbound) {}

  // InvalidArgument for a bad URL (https://, or http:// only with allow_private_address; no
  // userinfo), no or bad type patterns, more than 32 types or tags, or a secret of the wrong
  // size. NotFound for an unknown account. Forbidden (rule network.private_not_allowed) for
  // allow_private_address when the outbound policy allows the account no private network, or
  // when the URL's host resolves outside the networks it allows (one generic message).
  //
  // `before_commit`, when set, runs inside the change's transaction just before it commits (the
  // API appends the request's audit record there, so the record commits with the change; this
  // module does not depend on audit).
  Result<model::WebhookSubscription> Create(const NewWebhook& spec,
                                            const BeforeCommit& before_commit = {});
  Result<std::vector<model::WebhookSubscription>> List(const std::string& account_id);
  // NotFound unless the subscription exists in `account_id`.
  Result<model::WebhookSubscription> Get(const std::string& account_id, const std::string& id);
  // Stops deliveries (pending ones fail with "subscription disabled"). Idempotent.
  Result<model::WebhookSubscription> Disable(const std::string& account_id, const std::string& id,
                                             const BeforeCommit& before_commit = {});
  // The delivery log, newest first; `before_id` pages.
  Result<std::vector<model::WebhookDelivery>> Deliveries(const std::string& account_id,
                                                         const std::string& id,
                                                         const std::string& before_id,
                                                         size_t limit);

 private:
  store::Store& store_;
  secrets::SecretStore& secrets_;
  const Clock& clock_;
  Random& random_;
  const net::OutboundPolicy* outbound_;
};

}  // namespace certfleet::events
