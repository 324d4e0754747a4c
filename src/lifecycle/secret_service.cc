#include "lifecycle/secret_service.h"

#include "base/ids.h"
#include "base/validate.h"
#include "store/owned.h"

namespace certfleet::lifecycle {
namespace {

Result<model::Secret> LoadVisibleSecret(store::Tx& tx, const Caller& caller,
                                        const std::string& id) {
  return store::LoadOwned("secret", id, model::kSecretPrefix, caller.account_id,
                          [&](const std::string& k) { return tx.secrets().Get(k); });
}

}  // namespace

Result<std::vector<model::Secret>> SecretService::List(const Caller& caller) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  return tx->secrets().ListByAccount(caller.account_id);
}

Result<model::Secret> SecretService::Get(const Caller& caller, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  return LoadVisibleSecret(*tx, caller, id);
}

Result<SecretBytes> SecretService::ReadValue(const Caller& caller, const std::string& id,
                                             int version) {
  if (version < 0) return InvalidArgument("version must be positive");
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(model::Secret s, LoadVisibleSecret(*tx, caller, id));
  policy::Decision d = policy::Authorize(ToSubject(caller), policy::Action::kSecretValueRead,
                                         {.account_id = s.account_id, .secret_tags = s.tags});
  CF_TRY(d.ToStatus());
  return secrets_.Read(*tx, s.id, version);
}

}  // namespace certfleet::lifecycle
