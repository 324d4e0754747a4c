#include "policy/tags.h"

#include "base/validate.h"

namespace certfleet::policy {
namespace {

// True iff `required` is a subset of `present` (same keys, same values).
bool Subset(const model::Tags& required, const model::Tags& present, std::string* first_missing) {
  for (const auto& [key, value] : required) {
    auto it = present.find(key);
    if (it == present.end() || it->second != value) {
      if (first_missing != nullptr) *first_missing = key;
      return false;
    }
  }
  return true;
}

}  // namespace

Decision TagsAllow(const model::Tags& principal_tags, const model::Tags& secret_tags) {
  std::string missing;
  if (Subset(secret_tags, principal_tags, &missing)) return Decision::Allow();
  // Tag values are not secret, but the key is enough to fix the assignment; keep messages short.
  return Decision::Deny("tags.mismatch", "the principal lacks the secret's tag " +
                                             QuoteForMessage(missing) +
                                             " (or holds it with a different value)");
}

bool SelectorMatches(const model::Tags& selector, const model::Tags& agent_tags) {
  return !selector.empty() && Subset(selector, agent_tags, nullptr);
}

}  // namespace certfleet::policy
