#include "lifecycle/domain_claims.h"

#include "policy/domain_claims.h"

namespace certfleet::lifecycle {

Status CheckDomainClaims(store::Tx& tx, const std::string& account_id,
                         const std::vector<std::string>& names) {
  CF_ASSIGN_OR_RETURN(model::Account account, tx.accounts().Get(account_id));
  // The system account stays unrestricted: its admins are the ones who assign claims, and a
  // fresh installation (make run) issues from it before any claim exists.
  if (account.name == model::kSystemAccountName) return Ok();
  CF_ASSIGN_OR_RETURN(auto claims, tx.domain_claims().ListByAccount(account_id));
  return policy::EvaluateDomainClaims(claims, names, account.name).ToStatus();
}

}  // namespace certfleet::lifecycle
