// Parsing and canonical printing of account policies. Request and export evaluation lives in
// evaluate.cc.
#include "policy/account_policy.h"

#include <toml++/toml.h>
#include <algorithm>
#include <cstdio>
#include <span>

#include "base/ip.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "policy/domain_match.h"

namespace certfleet::policy {
namespace {

constexpr std::array<model::Role, 4> kAllRoles{model::Role::kAdmin, model::Role::kOperator,
                                               model::Role::kAuditor, model::Role::kAgent};

Error KeyError(std::string_view key, std::string_view what) {
  return InvalidArgument("policy key " + std::string(key) + " " + std::string(what));
}

// "policy key <key>: <cause>" for a value rejected by a shared validator.
Error KeyCause(std::string_view key, const Error& cause) {
  return InvalidArgument("policy key " + std::string(key) + ": " + cause.message());
}

std::string ElementKey(std::string_view key, size_t i) {
  return std::string(key) + "[" + std::to_string(i) + "]";
}

// An array of strings, each returned verbatim.
Result<std::vector<std::string>> StringList(const toml::node& node, std::string_view key) {
  const toml::array* array = node.as_array();
  if (array == nullptr) return KeyError(key, "must be an array of strings");
  if (array->size() > kMaxPolicyListEntries) {
    return KeyError(key, "has more than " + std::to_string(kMaxPolicyListEntries) + " entries");
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::value<std::string>* s = (*array)[i].as_string();
    if (s == nullptr) return KeyError(ElementKey(key, i), "must be a string");
    out.push_back(s->get());
  }
  return out;
}

Result<bool> Bool(const toml::node& node, std::string_view key) {
  const toml::value<bool>* b = node.as_boolean();
  if (b == nullptr) return KeyError(key, "must be true or false");
  return b->get();
}

// Domain patterns: each a valid DNS name (optionally "*."), lower-cased, or an IP address or
// network in canonical "net/bits" form; sorted, de-duplicated.
Result<std::vector<std::string>> DomainList(const toml::node& node, std::string_view key) {
  CF_ASSIGN_OR_RETURN(std::vector<std::string> raw, StringList(node, key));
  std::vector<std::string> out;
  for (size_t i = 0; i < raw.size(); ++i) {
    Status valid = ValidateDnsName(raw[i], /*allow_wildcard=*/true);
    if (!valid.ok()) {
      // An IP address or network, for IP identifiers (policy/domain_match.h).
      Result<Cidr> net = Cidr::Parse(raw[i]);
      if (net.ok()) {
        out.push_back(net->ToString());
        continue;
      }
      return KeyCause(ElementKey(key, i), valid.error());
    }
    out.push_back(LowerAscii(raw[i]));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Names from a closed set, returned in the set's order without duplicates. The names are
// compared exactly: "P256" is not a key type, the same as in crypto::ParseKeyType.
Result<std::vector<std::string>> NameList(const toml::node& node, std::string_view key,
                                          std::span<const std::string_view> known) {
  CF_ASSIGN_OR_RETURN(std::vector<std::string> raw, StringList(node, key));
  std::vector<bool> present(known.size(), false);
  for (size_t i = 0; i < raw.size(); ++i) {
    auto it = std::find(known.begin(), known.end(), raw[i]);
    if (it == known.end()) {
      std::string valid;
      for (std::string_view k : known) valid += (valid.empty() ? "" : ", ") + std::string(k);
      return KeyError(ElementKey(key, i),
                      "has unknown value " + QuoteForMessage(raw[i]) + "; valid values: " + valid);
    }
    present[it - known.begin()] = true;
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < known.size(); ++i)
    if (present[i]) out.emplace_back(known[i]);
  return out;
}

Result<std::vector<model::Role>> RoleList(const toml::node& node, std::string_view key) {
  CF_ASSIGN_OR_RETURN(std::vector<std::string> raw, StringList(node, key));
  std::vector<bool> present(kAllRoles.size(), false);
  for (size_t i = 0; i < raw.size(); ++i) {
    Result<model::Role> role = model::ParseRole(raw[i]);
    if (!role.ok()) return KeyCause(ElementKey(key, i), role.error());
    for (size_t r = 0; r < kAllRoles.size(); ++r)
      if (kAllRoles[r] == *role) present[r] = true;
  }
  std::vector<model::Role> out;
  for (size_t r = 0; r < kAllRoles.size(); ++r)
    if (present[r]) out.push_back(kAllRoles[r]);
  return out;
}

Status ApplyRequestKey(std::string_view key, const toml::node& value, AccountPolicy& policy) {
  const std::string full = "request." + std::string(key);
  if (key == "allowed_domains") {
    CF_ASSIGN_OR_RETURN(policy.allowed_domains, DomainList(value, full));
  } else if (key == "denied_domains") {
    CF_ASSIGN_OR_RETURN(policy.denied_domains, DomainList(value, full));
  } else if (key == "allow_wildcards") {
    CF_ASSIGN_OR_RETURN(policy.allow_wildcards, Bool(value, full));
  } else if (key == "allowed_key_types") {
    CF_ASSIGN_OR_RETURN(policy.allowed_key_types, NameList(value, full, kKeyTypeNames));
  } else if (key == "allowed_profiles") {
    CF_ASSIGN_OR_RETURN(policy.allowed_profiles, NameList(value, full, kProfileNames));
  } else if (key == "max_validity") {
    const toml::value<std::string>* s = value.as_string();
    if (s == nullptr) return KeyError(full, "must be a duration string such as \"90d\"");
    Result<Seconds> d = ParseDuration(s->get());
    if (!d.ok()) return KeyCause(full, d.error());
    policy.max_validity = *d;
  } else if (key == "allow_exportable") {
    CF_ASSIGN_OR_RETURN(policy.allow_exportable, Bool(value, full));
  } else {
    return InvalidArgument("unknown policy key " + QuoteForMessage(full));
  }
  return Ok();
}

Status ApplyExportKey(std::string_view key, const toml::node& value, AccountPolicy& policy) {
  if (key == "roles") {
    CF_ASSIGN_OR_RETURN(policy.export_roles, RoleList(value, "export.roles"));
    return Ok();
  }
  return InvalidArgument("unknown policy key " + QuoteForMessage("export." + std::string(key)));
}

Status ApplyNotifyKey(std::string_view key, const toml::node& value, AccountPolicy& policy) {
  if (key == "expiry_warning_days") {
    const toml::value<int64_t>* n = value.as_integer();
    if (n == nullptr || n->get() < 1 || n->get() > kMaxExpiryWarningDays) {
      return KeyError("notify.expiry_warning_days", "must be a whole number of days from 1 to " +
                                                        std::to_string(kMaxExpiryWarningDays));
    }
    policy.expiry_warning_days = static_cast<int>(n->get());
    return Ok();
  }
  return InvalidArgument("unknown policy key " + QuoteForMessage("notify." + std::string(key)));
}

Result<AccountPolicy> FromTable(const toml::table& root) {
  AccountPolicy policy;
  for (const auto& [section_key, section] : root) {
    const std::string_view name = section_key.str();
    if (name != "request" && name != "export" && name != "notify") {
      return InvalidArgument("unknown policy section or key " + QuoteForMessage(name) +
                             "; valid sections: [request], [export], [notify]");
    }
    const toml::table* table = section.as_table();
    if (table == nullptr) return KeyError(name, "must be a table ([" + std::string(name) + "])");
    for (const auto& [key, value] : *table) {
      if (name == "request") {
        CF_TRY(ApplyRequestKey(key.str(), value, policy));
      } else if (name == "export") {
        CF_TRY(ApplyExportKey(key.str(), value, policy));
      } else {
        CF_TRY(ApplyNotifyKey(key.str(), value, policy));
      }
    }
  }
  return policy;
}

// A TOML basic string (TOML 1.0 section "String"). Parsed values are restricted to DNS names and
// fixed names, but a hand-built policy may hold anything, so escape fully.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

template <typename Range, typename ToString>
std::string Array(const Range& items, ToString to_string) {
  std::string out = "[";
  for (const auto& item : items) {
    if (out.size() > 1) out += ", ";
    out += Quote(to_string(item));
  }
  return out + "]";
}

std::string StringArray(const std::vector<std::string>& items) {
  return Array(items, [](const std::string& s) -> std::string_view { return s; });
}

std::string OptionalList(std::string_view key, const std::optional<std::vector<std::string>>& v,
                         std::string_view absent_meaning) {
  if (!v) return "# " + std::string(key) + " is not set: " + std::string(absent_meaning) + "\n";
  return std::string(key) + " = " + StringArray(*v) + "\n";
}

}  // namespace

bool AccountPolicy::operator==(const AccountPolicy& o) const {
  return allowed_domains == o.allowed_domains && denied_domains == o.denied_domains &&
         allow_wildcards == o.allow_wildcards && allowed_key_types == o.allowed_key_types &&
         allowed_profiles == o.allowed_profiles && max_validity == o.max_validity &&
         allow_exportable == o.allow_exportable && export_roles == o.export_roles &&
         expiry_warning_days == o.expiry_warning_days;
}

Result<AccountPolicy> ParseAccountPolicy(std::string_view toml_text) {
  if (toml_text.size() > kMaxPolicyBytes) {
    return TooLarge("policy document is larger than " + std::to_string(kMaxPolicyBytes) + " bytes");
  }
  toml::table root;
  // toml++ is built with exceptions (Debian's shared library); this is the module's only catch.
  try {
    root = toml::parse(toml_text);
  } catch (const toml::parse_error& e) {
    const toml::source_position& at = e.source().begin;
    return InvalidArgument("policy is not valid TOML at line " + std::to_string(at.line) +
                           ", column " + std::to_string(at.column) + ": " +
                           std::string(e.description()));
  }
  CF_ASSIGN_OR_RETURN(AccountPolicy policy, FromTable(root));
  policy.source_toml = std::string(toml_text);
  return policy;
}

std::string PolicyToToml(const AccountPolicy& p) {
  std::string out = "[request]\n";
  out += OptionalList("allowed_domains", p.allowed_domains, "any domain may be requested");
  if (p.denied_domains.empty()) {
    out += "# denied_domains is not set: no domain is denied explicitly\n";
  } else {
    out += "denied_domains = " + StringArray(p.denied_domains) + "\n";
  }
  out += std::string("allow_wildcards = ") + (p.allow_wildcards ? "true" : "false") + "\n";
  out += OptionalList("allowed_key_types", p.allowed_key_types, "any key type");
  out += OptionalList("allowed_profiles", p.allowed_profiles, "any profile");
  if (p.max_validity) {
    out += "max_validity = " + Quote(FormatDuration(*p.max_validity)) + "\n";
  } else {
    out += "# max_validity is not set: only the profile's limit applies\n";
  }
  out += std::string("allow_exportable = ") + (p.allow_exportable ? "true" : "false") + "\n";
  out += "\n[export]\n";
  out +=
      "roles = " + Array(p.export_roles, [](model::Role r) { return model::RoleName(r); }) + "\n";
  out += "\n[notify]\n";
  out += "expiry_warning_days = " + std::to_string(p.expiry_warning_days) + "\n";
  return out;
}

}  // namespace certfleet::policy
