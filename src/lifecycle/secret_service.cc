#include "lifecycle/secret_service.h"

#include "audit/audit_log.h"
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
  CF_ASSIGN_OR_RETURN(SecretBytes value, secrets_.Read(*tx, s.id, version));
  // The value leaves only after the read's audit record committed (issue #13): a crash or a
  // failed commit here releases nothing unrecorded.
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = s.account_id, .resource = s.id, .status = 200}));
  CF_TRY(tx->Commit());
  return value;
}

}  // namespace certfleet::lifecycle
