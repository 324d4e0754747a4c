// Enforcement of domain claims (issue #13; the coverage rules are policy/domain_claims.h).
// Certificate requests, renewals (including the scheduler's), the asynchronous issue job, and
// deployments (create and redeploy, so also the redeploy after a renewal) call CheckDomainClaims
// in addition to the account policy: the policy can narrow what the claims allow, never widen it.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "store/store.h"

namespace certfleet::lifecycle {

// Ok when account `account_id` may hold every one of `names`: always for the system account
// ("default"), otherwise only names its claims cover. Forbidden naming the rule domain.unclaimed
// and the first uncovered name; NotFound for an unknown account; store errors as they come.
Status CheckDomainClaims(store::Tx& tx, const std::string& account_id,
                         const std::vector<std::string>& names);

}  // namespace certfleet::lifecycle
