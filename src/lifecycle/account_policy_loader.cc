#include "lifecycle/account_policy_loader.h"

namespace certfleet::lifecycle {

Result<policy::AccountPolicy> LoadAccountPolicy(store::Tx& tx, const std::string& account_id) {
  auto doc = tx.policies().Get(account_id);
  if (!doc.ok()) {
    if (doc.error().code() == ErrorCode::kNotFound) return policy::AccountPolicy{};
    return std::move(doc).error();
  }
  auto parsed = policy::ParseAccountPolicy(doc->toml);
  // A stored document was validated when it was set; failing now means corruption or a newer
  // schema. Deny everything rather than fall back to "no restrictions" (fail closed).
  if (!parsed.ok()) {
    return FailedPrecondition("the account policy cannot be read: " + parsed.error().message());
  }
  return std::move(parsed).value();
}

}  // namespace certfleet::lifecycle
