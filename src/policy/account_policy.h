// Account policies: a per-account TOML document that restricts what may be requested and who may
// export, in the spirit of AWS IAM condition keys for ACM (acm:DomainNames, acm:KeyAlgorithm,
// acm:Export). docs/policy.md is the user-facing description.
//
// Schema (every key optional; unknown sections or keys are an error):
//
//   [request]
//   allowed_domains = ["app.example.com", "*.example.com"]
//       # exact names, or "*.example.com" = any name under example.com at any depth, NOT
//       # example.com itself. Absent: any name. Empty list: no name at all.
//   denied_domains = ["secret.example.com"]   # same syntax; deny wins over allow
//   allow_wildcards = false                   # may wildcard SANs ("*.x.com") be requested
//   allowed_key_types = ["p256", "p384", "rsa2048", "rsa3072", "rsa4096", "ed25519"]
//   allowed_profiles = ["tls-server", "tls-client", "short-lived"]
//   max_validity = "90d"                      # Nd, Nh, Nm or Ns (base/time_util.h)
//   allow_exportable = true                   # may exportable certificates be requested
//   [export]
//   roles = ["admin", "operator"]             # roles that may export; this is the default
//   [notify]
//   expiry_warning_days = 30                  # certificate.approaching_expiration is emitted
//                                             # daily from this many days before expiry
//
// An omitted key means "no restriction", except export.roles whose default is admin and operator.
// Domain patterns are validated with ValidateDnsName and compared case-insensitively.
//
// Everything here is a pure function of its arguments: no I/O, no clock, no globals, thread-safe.
// No exception escapes: toml++ parse errors are caught here and returned as InvalidArgument.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "model/model.h"
#include "policy/decision.h"

namespace certfleet::policy {

// The names a policy may list and a request may use, in canonical order.
inline constexpr std::array<std::string_view, 6> kKeyTypeNames{"p256",    "p384",    "rsa2048",
                                                               "rsa3072", "rsa4096", "ed25519"};
inline constexpr std::array<std::string_view, 3> kProfileNames{"tls-server", "tls-client",
                                                               "short-lived"};

// Policy documents above this size are refused (TooLarge) before parsing.
inline constexpr size_t kMaxPolicyBytes = 64 * 1024;
// notify.expiry_warning_days: the default and the largest value accepted.
inline constexpr int kDefaultExpiryWarningDays = 30;
inline constexpr int kMaxExpiryWarningDays = 365;
// Each list in a policy holds at most this many entries (InvalidArgument beyond).
inline constexpr size_t kMaxPolicyListEntries = 1000;

// The parsed, normalized form. Lists are lower-cased, de-duplicated and sorted (domains
// lexicographically, key types, profiles and roles in the order of the schema comment above), so
// two documents with the same meaning compare equal.
struct AccountPolicy {
  std::optional<std::vector<std::string>> allowed_domains;  // nullopt: any name
  std::vector<std::string> denied_domains;
  bool allow_wildcards = true;
  std::optional<std::vector<std::string>> allowed_key_types;  // nullopt: any known key type
  std::optional<std::vector<std::string>> allowed_profiles;   // nullopt: any known profile
  std::optional<Seconds> max_validity;                        // nullopt: no limit
  bool allow_exportable = true;
  std::vector<model::Role> export_roles{model::Role::kAdmin, model::Role::kOperator};
  int expiry_warning_days = kDefaultExpiryWarningDays;

  // The document this policy was parsed from, verbatim (empty for a default-constructed policy).
  // Not part of the policy's meaning: operator== ignores it.
  std::string source_toml;

  bool operator==(const AccountPolicy& other) const;
};

// Parses and validates a policy document. An empty document yields the default policy (no
// restrictions, export by admin and operator).
// Errors: TooLarge past kMaxPolicyBytes; InvalidArgument for TOML syntax errors (with line and
// column), unknown sections or keys, wrongly typed values and invalid values, naming the key
// (e.g. "request.allowed_key_types[1]").
Result<AccountPolicy> ParseAccountPolicy(std::string_view toml_text);

// Canonical TOML for `certfleet policy show`: both sections, keys in schema order, only the
// restrictions that are set plus the two booleans and export.roles, with comments for the keys
// that are absent. ParseAccountPolicy(PolicyToToml(p)) == p for every parsed p.
std::string PolicyToToml(const AccountPolicy& policy);

// What a certificate request asks for.
struct RequestFacts {
  std::vector<std::string> domains;  // SANs as requested, any case; "*.x" for wildcards
  std::string key_type;              // "p256", "p384", "rsa2048", "rsa3072", "rsa4096", "ed25519"
  std::string profile;               // "tls-server", "tls-client", "short-lived"
  Seconds validity{0};               // requested validity; must be positive
  bool exportable = false;
};

// Evaluates a request against the policy. The first failing rule denies, checked in this order:
//   domains.empty, domains.invalid   malformed request (no names, a name that is not a DNS name)
//   wildcard.denied                  a wildcard SAN while allow_wildcards = false
//   domains.denied                   a SAN that could cover a name matching denied_domains
//   domains.not_allowed              a SAN not matched by allowed_domains
//   key_type.unknown, key_type.not_allowed
//   profile.unknown, profile.not_allowed
//   validity.invalid (not positive), validity.too_long
//   exportable.denied
// Unknown key types and profiles deny even when the policy does not restrict them (fail closed).
Decision EvaluateRequest(const AccountPolicy& policy, const RequestFacts& facts);

// What an export asks for: the role of the principal exporting.
struct ExportFacts {
  model::Role role;
};

// Allowed iff facts.role is in policy.export_roles; otherwise "export.role_denied". Whether the
// certificate itself is exportable is a property of the certificate, checked by the caller.
Decision EvaluateExport(const AccountPolicy& policy, const ExportFacts& facts);

}  // namespace certfleet::policy
