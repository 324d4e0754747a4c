// The authenticated caller of a lifecycle operation, as established by the API layer.
#pragma once

#include <string>

#include "model/model.h"
#include "policy/authorize.h"

namespace certfleet::audit {
class RequestScope;
}  // namespace certfleet::audit

namespace certfleet::lifecycle {

struct Caller {
  std::string principal_id;
  std::string account_id;
  model::Role role = model::Role::kOperator;
  model::Tags tags;
  // An admin of the system ("default") account: may manage every account.
  bool system_admin = false;
  std::string source_address;
  // An auditor of the system ("default") account: reads and verifies every account's audit
  // records (the global view, issue #13). Tenant auditors see only their own account's.
  bool system_auditor = false;
  // The API request's audit scope (audit/audit_log.h): services that change state or release a
  // secret append the request's audit record in their own transaction through it, so the record
  // commits with the change. Null for work the platform schedules itself. Borrowed.
  audit::RequestScope* audit = nullptr;
};

inline policy::Subject ToSubject(const Caller& c) {
  return policy::Subject{.principal_id = c.principal_id,
                         .home_account_id = c.account_id,
                         .role = c.role,
                         .tags = c.tags,
                         .system_admin = c.system_admin};
}

// Work the platform schedules itself (renewals, redeploys after a renewal) runs as the system,
// inside the resource's account: the API's roles do not apply to it, the account policy still
// does. `principal_id` names the component, e.g. "system:renewal", in audit records and logs.
inline Caller SystemCaller(const std::string& account_id, std::string principal_id) {
  return Caller{.principal_id = std::move(principal_id),
                .account_id = account_id,
                .role = model::Role::kAdmin,
                .source_address = "scheduler"};
}

}  // namespace certfleet::lifecycle
