// The event dispatcher (docs/events.md): reads the outbox after a cursor, fans each event out
// to the matching webhook subscriptions as delivery rows, and delivers due rows over HTTPS,
// signed, retrying failures with exponential backoff and jitter.
//
// Delivery is at least once: a delivery is marked delivered only after a 2xx answer is
// committed, so a crash in between sends the same event (same id, same body) again; receivers
// deduplicate by the CloudEvents id. The fan-out and the cursor move in one transaction, so
// every event gets exactly one delivery row per matching subscription.
//
// RunOnce() is driven by the caller (certfleetd loops over it), never sleeps, and reads time
// only from the injected Clock, so tests move a FakeClock instead of waiting. It never holds a
// store transaction across an HTTP request. Not thread-safe: one RunOnce at a time per process.
// TODO(#5): several replicas (PostgreSQL) need a lease on the cursor and on due deliveries.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "model/model.h"
#include "net/address_policy.h"
#include "net/https_client.h"
#include "secrets/secret_store.h"
#include "store/store.h"

namespace certfleet::events {

// The settings key holding the seq of the last event fanned out.
inline constexpr std::string_view kCursorSetting = "events.dispatch_seq";
// The signature header: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
inline constexpr std::string_view kSignatureHeader = "Certfleet-Signature";

// The value of kSignatureHeader for `body` sent at `unix_time`.
std::string SignatureHeaderValue(const SecretBytes& secret, int64_t unix_time,
                                 std::string_view body);

struct DispatcherOptions {
  size_t batch = 100;    // events fanned out, and deliveries attempted, per RunOnce
  int max_attempts = 8;  // then the delivery is marked failed
  std::chrono::seconds initial_backoff{10};
  std::chrono::seconds max_backoff{std::chrono::hours(1)};
  // Issue #13: certfleetd's [[outbound.allow]] (borrowed). When set, a subscription with
  // allow_private_address is delivered only if the policy allows its account a private network,
  // through a client made by `make_private_client` with the account's filter (one per account,
  // kept), so that only the configured networks are reached, checked at connect time. Null:
  // `private_client` serves every such subscription unfiltered (unit tests).
  const net::OutboundPolicy* outbound = nullptr;
  std::function<Result<std::unique_ptr<net::HttpsClient>>(net::AddressFilter)> make_private_client;
};

struct RunStats {
  size_t fanned_out = 0;  // delivery rows created
  size_t attempted = 0;
  size_t delivered = 0;
  size_t failed = 0;  // given up (attempts exhausted or refused destination)
  bool idle() const { return fanned_out == 0 && attempted == 0; }
};

class Dispatcher {
 public:
  // `client` serves ordinary subscriptions and should be created with
  // ClientOptions::address_allowed = PublicAddressesOnly() (destination.h), so that the
  // addresses it connects to are checked, not only those of an earlier lookup.
  // `private_client` serves subscriptions with allow_private_address and must allow plain
  // http:// (ClientOptions::allow_plain_http) if http:// webhooks are to work; the dispatcher
  // sends http:// to no other subscription. All references are borrowed and must outlive the
  // dispatcher. InvalidArgument for a zero batch or max_attempts, or a non-positive backoff.
  static Result<std::unique_ptr<Dispatcher>> Create(store::Store& store,
                                                    secrets::SecretStore& secrets,
                                                    net::HttpsClient& client,
                                                    net::HttpsClient& private_client,
                                                    const Clock& clock, Random& random,
                                                    DispatcherOptions options);

  // One pass: fan out new events, then attempt the deliveries that are due. Errors are store
  // errors; a failed delivery is not an error (it is recorded on its row).
  Result<RunStats> RunOnce();

  // The delay before attempt `attempt` + 1 after `attempt` failures (attempt >= 1): the
  // initial backoff doubled per failure, capped, then a random point in its upper half.
  std::chrono::seconds Backoff(int attempt);

 private:
  Dispatcher(store::Store& store, secrets::SecretStore& secrets, net::HttpsClient& client,
             net::HttpsClient& private_client, const Clock& clock, Random& random,
             DispatcherOptions options)
      : store_(store),
        secrets_(secrets),
        client_(client),
        private_client_(private_client),
        clock_(clock),
        random_(random),
        options_(options) {}

  Result<size_t> FanOut();
  // Attempts one due delivery and records the outcome.
  Status Deliver(const model::WebhookDelivery& due, RunStats& stats);
  // The client for `account_name`'s private deliveries (outbound policy set).
  Result<net::HttpsClient*> PrivateClientFor(const std::string& account_name);

  store::Store& store_;
  secrets::SecretStore& secrets_;
  net::HttpsClient& client_;
  net::HttpsClient& private_client_;
  const Clock& clock_;
  Random& random_;
  DispatcherOptions options_;
  std::map<std::string, std::unique_ptr<net::HttpsClient>> private_clients_;  // by account name
};

}  // namespace certfleet::events
