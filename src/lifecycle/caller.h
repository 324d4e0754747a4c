// The authenticated caller of a lifecycle operation, as established by the API layer.
#pragma once

#include <string>

#include "model/model.h"
#include "policy/authorize.h"

namespace certfleet::lifecycle {

struct Caller {
  std::string principal_id;
  std::string account_id;
  model::Role role = model::Role::kOperator;
  model::Tags tags;
  // An admin of the system ("default") account: may manage every account.
  bool system_admin = false;
  std::string source_address;
};

inline policy::Subject ToSubject(const Caller& c) {
  return policy::Subject{.principal_id = c.principal_id,
                         .home_account_id = c.account_id,
                         .role = c.role,
                         .tags = c.tags,
                         .system_admin = c.system_admin};
}

}  // namespace certfleet::lifecycle
