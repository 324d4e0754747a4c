// Request and export evaluation against an account policy (account_policy.h). The checks run in
// the order documented in the header; the first failing rule denies.
#include <algorithm>
#include <span>

#include "base/ip.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "policy/account_policy.h"
#include "policy/domain_match.h"

namespace certfleet::policy {
namespace {

bool Contains(const std::vector<std::string>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

bool IsKnown(std::span<const std::string_view> known, std::string_view s) {
  return std::find(known.begin(), known.end(), s) != known.end();
}

Decision CheckDomains(const AccountPolicy& policy, const std::vector<std::string>& domains) {
  if (domains.empty()) return Decision::Deny("domains.empty", "the request names no domain");
  for (const std::string& d : domains) {
    if (ParseIpLiteral(d).has_value()) continue;  // an IP identifier (RFC 8738)
    Status valid = ValidateDnsName(d, /*allow_wildcard=*/true);
    if (!valid.ok()) return Decision::Deny("domains.invalid", valid.error().message());
  }
  if (!policy.allow_wildcards) {
    for (const std::string& d : domains) {
      if (IsWildcard(d)) {
        return Decision::Deny("wildcard.denied", "wildcard domain " + QuoteForMessage(d) +
                                                     " is not allowed by the account policy");
      }
    }
  }
  // Deny wins over allow, so it is checked first and for every name.
  for (const std::string& d : domains) {
    for (const std::string& pattern : policy.denied_domains) {
      if (PatternOverlaps(pattern, d)) {
        return Decision::Deny("domains.denied", "domain " + QuoteForMessage(d) +
                                                    " is denied by the account policy pattern " +
                                                    QuoteForMessage(pattern));
      }
    }
  }
  if (policy.allowed_domains) {
    for (const std::string& d : domains) {
      const auto& allowed = *policy.allowed_domains;
      bool covered = std::any_of(allowed.begin(), allowed.end(),
                                 [&](const std::string& p) { return PatternCovers(p, d); });
      if (!covered) {
        return Decision::Deny("domains.not_allowed", "domain " + QuoteForMessage(d) +
                                                         " is not in the account policy's "
                                                         "allowed_domains");
      }
    }
  }
  return Decision::Allow();
}

// Shared by key types and profiles: unknown names deny even without a restriction.
Decision CheckName(std::string_view what, std::string_view rule_prefix,
                   std::span<const std::string_view> known,
                   const std::optional<std::vector<std::string>>& allowed, std::string_view value) {
  if (!IsKnown(known, value)) {
    return Decision::Deny(std::string(rule_prefix) + ".unknown",
                          "unknown " + std::string(what) + " " + QuoteForMessage(value));
  }
  if (allowed && !Contains(*allowed, value)) {
    return Decision::Deny(
        std::string(rule_prefix) + ".not_allowed",
        std::string(what) + " " + QuoteForMessage(value) + " is not allowed by the account policy");
  }
  return Decision::Allow();
}

}  // namespace

Decision EvaluateRequest(const AccountPolicy& policy, const RequestFacts& facts) {
  if (Decision d = CheckDomains(policy, facts.domains); !d.allowed) return d;
  if (Decision d = CheckName("key type", "key_type", kKeyTypeNames, policy.allowed_key_types,
                             facts.key_type);
      !d.allowed) {
    return d;
  }
  if (Decision d =
          CheckName("profile", "profile", kProfileNames, policy.allowed_profiles, facts.profile);
      !d.allowed) {
    return d;
  }
  if (facts.validity <= Seconds(0)) {
    return Decision::Deny("validity.invalid", "the requested validity must be positive");
  }
  if (policy.max_validity && facts.validity > *policy.max_validity) {
    return Decision::Deny("validity.too_long", "requested validity " +
                                                   FormatDuration(facts.validity) +
                                                   " exceeds the account policy's max_validity "
                                                   "of " +
                                                   FormatDuration(*policy.max_validity));
  }
  if (facts.exportable && !policy.allow_exportable) {
    return Decision::Deny("exportable.denied",
                          "the account policy does not allow exportable certificates");
  }
  return Decision::Allow();
}

Decision EvaluateExport(const AccountPolicy& policy, const ExportFacts& facts) {
  const auto& roles = policy.export_roles;
  if (std::find(roles.begin(), roles.end(), facts.role) != roles.end()) return Decision::Allow();
  return Decision::Deny("export.role_denied", "role " + std::string(model::RoleName(facts.role)) +
                                                  " may not export certificates under the "
                                                  "account policy (export.roles)");
}

}  // namespace certfleet::policy
