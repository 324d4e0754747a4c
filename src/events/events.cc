#include "events/events.h"

#include <nlohmann/json.hpp>

#include "base/ids.h"
#include "base/log.h"
#include "base/time_util.h"

namespace certfleet::events {
namespace {

bool IsWordChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

// One or more dot-separated non-empty words.
bool IsDottedWords(std::string_view s, size_t min_words) {
  size_t words = 0;
  size_t len = 0;
  for (char c : s) {
    if (c == '.') {
      if (len == 0) return false;
      ++words;
      len = 0;
    } else if (IsWordChar(c)) {
      ++len;
    } else {
      return false;
    }
  }
  if (len == 0) return false;
  return words + 1 >= min_words;
}

}  // namespace

bool IsValidEventType(std::string_view type) {
  return type.size() <= 128 && IsDottedWords(type, 2);
}

bool IsValidTypePattern(std::string_view pattern) {
  if (pattern == "*") return true;
  if (pattern.size() > 2 && pattern.ends_with(".*")) {
    return pattern.size() <= 128 && IsDottedWords(pattern.substr(0, pattern.size() - 2), 1);
  }
  return IsValidEventType(pattern);
}

bool TypeMatches(std::string_view pattern, std::string_view type) {
  if (pattern == "*") return true;
  if (pattern.ends_with(".*")) {
    // Keep the dot: "certificate.*" must not match "certificates.x".
    return type.starts_with(pattern.substr(0, pattern.size() - 1));
  }
  return pattern == type;
}

bool Matches(const model::WebhookSubscription& sub, const model::Event& event) {
  if (!sub.active || sub.account_id != event.account_id) return false;
  bool type_ok = false;
  for (const auto& p : sub.types) {
    if (TypeMatches(p, event.type)) {
      type_ok = true;
      break;
    }
  }
  if (!type_ok) return false;
  for (const auto& [k, v] : sub.tags) {
    auto it = event.tags.find(k);
    if (it == event.tags.end() || it->second != v) return false;
  }
  return true;
}

Result<model::Event> Emit(store::Tx& tx, const Clock& clock, Random& random, const NewEvent& e) {
  if (e.account_id.empty()) return InvalidArgument("event: account_id is empty");
  if (e.subject.empty()) return InvalidArgument("event: subject is empty");
  if (!IsValidEventType(e.type)) return InvalidArgument("event: invalid type '" + e.type + "'");
  auto data = nlohmann::json::parse(e.data_json, nullptr, /*allow_exceptions=*/false);
  if (!data.is_object()) return InvalidArgument("event " + e.type + ": data is not a JSON object");

  model::Event ev{.id = NewId(model::kEventPrefix, clock, random),
                  .seq = 0,
                  .account_id = e.account_id,
                  .type = e.type,
                  .subject = e.subject,
                  .data_json = e.data_json,
                  .tags = e.tags,
                  // Whole seconds, as the store keeps them (model.h), so that the rendering of
                  // this value and of the stored one agree.
                  .time = std::chrono::time_point_cast<std::chrono::seconds>(clock.Now())};
  CF_ASSIGN_OR_RETURN(ev.seq, tx.events().Append(ev));
  log::Info("event", {{"event", ev.type},
                      {"id", ev.id},
                      {"account", ev.account_id},
                      {"subject", ev.subject},
                      {"data", ev.data_json}});
  return ev;
}

Result<std::string> RenderCloudEvent(const model::Event& event) {
  auto data = nlohmann::ordered_json::parse(event.data_json, nullptr, /*allow_exceptions=*/false);
  if (data.is_discarded()) return Internal("event " + event.id + ": stored data is not JSON");
  // ordered_json keeps the attribute order fixed, so a retry sends the same bytes.
  nlohmann::ordered_json ce;
  ce["specversion"] = "1.0";
  ce["id"] = event.id;
  ce["source"] = std::string(kSource);
  ce["type"] = std::string(kTypePrefix) + event.type;
  ce["subject"] = event.subject;
  ce["time"] = FormatRfc3339(event.time);
  ce["datacontenttype"] = "application/json";
  // CloudEvents extension attribute names are lower-case letters and digits only.
  ce["certfleetaccount"] = event.account_id;
  ce["data"] = std::move(data);
  return ce.dump();
}

}  // namespace certfleet::events
