// CAA (RFC 8659) for the ACME server: which record set is relevant for a name, and whether it
// lets this CA issue. The lookups themselves are the dns module's (dns/resolver.h).
#include <algorithm>

#include "acme/server/validation_internal.h"
#include "base/validate.h"

namespace certfleet::acme::server::internal {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsWsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWsp(s.back())) s.remove_suffix(1);
  return s;
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 8659 section 4.2: issuer-domain-name = label *("." label),
// label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)).
bool IsIssuerDomainName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (!IsAlnum(label.front()) || !IsAlnum(label.back())) return false;
    for (char c : label) {
      if (!IsAlnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsKnownTag(const std::string& lower_tag) {
  return lower_tag == "issue" || lower_tag == "issuewild" || lower_tag == "iodef";
}

std::string IssuerList(const std::vector<std::string>& issuer_domains) {
  std::string out;
  for (const std::string& d : issuer_domains) out += (out.empty() ? "" : ", ") + QuoteForMessage(d);
  return out;
}

}  // namespace

std::optional<std::string> CaaIssuerDomain(std::string_view value) {
  const size_t semicolon = value.find(';');
  std::string_view domain = Trim(value.substr(0, semicolon));
  if (domain.empty()) return std::string();
  if (!IsIssuerDomainName(domain)) return std::nullopt;
  return Lower(domain);
}

std::optional<std::string> CaaSetForbids(const std::vector<dns::CaaRecord>& records,
                                         const std::vector<std::string>& issuer_domains,
                                         bool wildcard) {
  bool any_issuewild = false;
  for (const dns::CaaRecord& r : records) {
    const std::string tag = Lower(r.tag);
    // RFC 8659 section 4.1: a CA must not issue when a critical property is not understood.
    if (r.critical() && !IsKnownTag(tag)) {
      return "a critical CAA property with the unknown tag " + QuoteForMessage(r.tag) +
             " forbids issuance";
    }
    any_issuewild |= tag == "issuewild";
  }
  const std::string deciding = wildcard && any_issuewild ? "issuewild" : "issue";
  bool restricted = false;
  for (const dns::CaaRecord& r : records) {
    if (Lower(r.tag) != deciding) continue;
    restricted = true;
    std::optional<std::string> issuer = CaaIssuerDomain(r.value);
    if (!issuer || issuer->empty()) continue;
    for (const std::string& ours : issuer_domains) {
      if (Lower(ours) == *issuer) return std::nullopt;
    }
  }
  // Only iodef or unknown non-critical tags: CAA does not restrict issuance (section 4).
  if (!restricted) return std::nullopt;
  return "no \"" + deciding + "\" property names " + IssuerList(issuer_domains);
}

std::optional<ValidationFailure> CheckCaaTree(const std::string& domain_in, bool wildcard,
                                              const std::vector<std::string>& issuer_domains,
                                              const CaaLookupFn& lookup) {
  std::string domain = Lower(domain_in);
  if (domain.rfind("*.", 0) == 0) {
    domain = domain.substr(2);
    wildcard = true;
  }
  if (!domain.empty() && domain.back() == '.') domain.pop_back();
  std::string name = domain;
  // One lookup per label: bounded by the name's 127 labels at most.
  while (!name.empty()) {
    Result<dns::CaaLookup> set = lookup(name);
    if (!set.ok()) {
      const Error& e = set.error();
      if (e.code() == ErrorCode::kMalformed) {
        return ValidationFailure{"caa", "the CAA record set at " + name + " (relevant for " +
                                            domain +
                                            ") cannot be parsed, so it cannot allow "
                                            "issuance"};
      }
      return ValidationFailure{"dns", "CAA lookup for " + name + " (checking " + domain +
                                          ") failed: " + ResolverFailure(e) +
                                          "; RFC 8659 forbids issuance without an answer"};
    }
    if (!set->records.empty()) {
      std::optional<std::string> forbidden = CaaSetForbids(set->records, issuer_domains, wildcard);
      if (!forbidden) return std::nullopt;
      std::string where = name;
      if (set->name != name) where += " (CNAME to " + set->name + ")";
      return ValidationFailure{"caa", "CAA records at " + where + " forbid issuing " +
                                          (wildcard ? "a wildcard certificate for " : "for ") +
                                          domain + ": " + *forbidden};
    }
    const size_t dot = name.find('.');
    // RFC 8659 section 3: the climb ends at the top-level domain (the root is not asked).
    if (dot == std::string::npos) break;
    name = name.substr(dot + 1);
  }
  return std::nullopt;
}

}  // namespace certfleet::acme::server::internal
