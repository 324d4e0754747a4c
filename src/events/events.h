// Domain events (issue #5, docs/events.md): emitting through the transactional outbox, matching
// against webhook subscriptions, and the CloudEvents 1.0 rendering sent to webhooks.
//
// Emit appends the event in the caller's transaction, so the event exists exactly when the state
// change it reports commits; the Dispatcher (dispatcher.h) delivers it afterwards, at least once.
// All functions are stateless and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "model/model.h"
#include "store/store.h"

namespace certfleet::events {

// The CloudEvents "type" of an event is this prefix plus the event's type.
inline constexpr std::string_view kTypePrefix = "io.certfleet.";
// The CloudEvents "source" of every event.
inline constexpr std::string_view kSource = "/certfleet";

struct NewEvent {
  std::string account_id;
  std::string type;     // "certificate.renewed": lower-case dotted words (IsValidEventType)
  std::string subject;  // the resource id, e.g. "crt_..."
  std::string data_json = "{}";  // a JSON object; never secret values
  model::Tags tags;              // the resource's tags, for subscription tag filters
};

// Appends the event to the outbox in `tx` (a new "evt_" id, time = clock.Now()) and writes it
// as a JSON log line (message "event", field "event" = type). The log line is written when the
// event is appended: if `tx` is later rolled back, the line stays and the event does not.
// InvalidArgument for an empty account or subject, a bad type or data that is not a JSON object;
// otherwise the store's errors. Returns the appended event with its seq.
Result<model::Event> Emit(store::Tx& tx, const Clock& clock, Random& random, const NewEvent& e);

// "certificate.renewed": two or more dot-separated words of [a-z0-9_].
bool IsValidEventType(std::string_view type);
// A subscription type pattern: "*", "<word>[.<word>...].*" or a valid event type.
bool IsValidTypePattern(std::string_view pattern);
// True if `type` matches `pattern` ("*" matches everything; "certificate.*" matches every type
// starting with "certificate.").
bool TypeMatches(std::string_view pattern, std::string_view type);
// The subscription is active, of the event's account, one of its types matches, and every one
// of its filter tags is on the event with the same value.
bool Matches(const model::WebhookSubscription& sub, const model::Event& event);

// The event as a CloudEvents 1.0 JSON object (structured content mode): specversion, id,
// source, type (kTypePrefix + type), subject, time (RFC 3339), datacontenttype
// "application/json", data, and the extension "certfleetaccount". Deterministic: the same
// event always renders to the same bytes, so retries carry the same body.
// Internal if the stored data is not JSON.
Result<std::string> RenderCloudEvent(const model::Event& event);

}  // namespace certfleet::events
