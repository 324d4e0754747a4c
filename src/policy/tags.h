// Tag matching (docs/architecture.md "Security model": secret reads require the reader's tags to
// match the secret's tags; deployments select agents by tag). Tags are set by administrators, never
// self-asserted, so matching is exact: keys and values are compared byte for byte.
// Pure functions, thread-safe.
#pragma once

#include "model/model.h"
#include "policy/decision.h"

namespace certfleet::policy {

// Allowed iff every tag on the secret is present on the principal with the same value. A secret
// without tags is allowed here; whether the role may read secret values at all is Authorize()'s
// question (authorize.h). Denies with rule "tags.mismatch", naming the first missing or
// differing key (never a value).
Decision TagsAllow(const model::Tags& principal_tags, const model::Tags& secret_tags);

// True iff every key/value of the selector is present on the agent. An empty selector matches
// nothing (fail closed: a deployment must name the agents it targets).
bool SelectorMatches(const model::Tags& selector, const model::Tags& agent_tags);

}  // namespace certfleet::policy
