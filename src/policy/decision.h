// Decision: the outcome of every policy function in this module. A denial always names the rule
// that denied (a stable, dotted id such as "domains.not_allowed" that clients and audit records
// may match on) and a human message (safe to show to the caller: names, never secret values).
// Plain value type; thread-safe like any const value.
#pragma once

#include <string>
#include <utility>

#include "base/error.h"

namespace certfleet::policy {

struct Decision {
  bool allowed = false;  // default-constructed decisions deny (fail closed)
  std::string rule;      // empty when allowed
  std::string message;   // empty when allowed

  static Decision Allow() { return Decision{true, {}, {}}; }
  static Decision Deny(std::string rule, std::string message) {
    return Decision{false, std::move(rule), std::move(message)};
  }

  // Ok() when allowed; otherwise Forbidden("<message> (rule <rule>)") for callers that pass
  // errors upward instead of decisions.
  Status ToStatus() const {
    if (allowed) return Ok();
    return Forbidden(message + " (rule " + rule + ")");
  }
};

}  // namespace certfleet::policy
