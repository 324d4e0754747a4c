#include "lifecycle/issuer.h"

#include "base/validate.h"

namespace certfleet::lifecycle {

void IssuerRegistry::Register(std::unique_ptr<Issuer> issuer) {
  std::string name = issuer->name();
  issuers_[name] = std::move(issuer);
}

Result<Issuer*> IssuerRegistry::Find(const std::string& name) const {
  auto it = issuers_.find(name);
  if (it == issuers_.end()) return NotFound("unknown issuer " + QuoteForMessage(name));
  return it->second.get();
}

}  // namespace certfleet::lifecycle
