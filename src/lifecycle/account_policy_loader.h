// Loads an account's policy document and parses it. An account without a document has the
// default policy (no restrictions; export by admin and operator).
#pragma once

#include <string>

#include "base/error.h"
#include "policy/account_policy.h"
#include "store/store.h"

namespace certfleet::lifecycle {

Result<policy::AccountPolicy> LoadAccountPolicy(store::Tx& tx, const std::string& account_id);

}  // namespace certfleet::lifecycle
