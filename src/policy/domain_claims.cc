#include "policy/domain_claims.h"

#include "base/ip.h"
#include "base/validate.h"
#include "policy/domain_match.h"

namespace certfleet::policy {
namespace {

// True when `name` is strictly below `base` at a label boundary ("a.example.com" under
// "example.com", but not "badexample.com").
bool IsUnder(std::string_view name, std::string_view base) {
  return name.size() > base.size() + 1 && name.ends_with(base) &&
         name[name.size() - base.size() - 1] == '.';
}

std::string Canonical(std::string_view name) {
  std::string out = LowerAscii(name);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

// An IP claim is stored as a network ("192.0.2.0/24", "192.0.2.7/32", "2001:db8::/32").
bool IsIpClaim(std::string_view domain) { return domain.find('/') != std::string_view::npos; }

}  // namespace

Result<std::string> NormalizeClaimDomain(std::string_view domain) {
  if (domain.find('*') != std::string_view::npos) {
    std::string_view base = domain.substr(domain.rfind('*') + 1);
    if (base.starts_with(".")) base.remove_prefix(1);
    return InvalidArgument("field \"domain\": a claim names a domain, not a wildcard; claim " +
                           QuoteForMessage(base) +
                           " with include_subdomains to cover its wildcard names");
  }
  if (domain.find('/') != std::string_view::npos || ParseIpLiteral(domain).has_value()) {
    // IP identifiers (RFC 8738): a claim of an address or a network covers the addresses in it.
    Result<Cidr> net = Cidr::Parse(domain);
    if (!net.ok()) {
      return InvalidArgument("field \"domain\": " + net.error().message() +
                             " (an IP claim is an address or a network such as 192.0.2.0/24)");
    }
    return net->ToString();
  }
  std::string name = Canonical(domain);
  Status valid = ValidateDnsName(name, /*allow_wildcard=*/false);
  if (!valid.ok()) {
    return InvalidArgument("field \"domain\": " + valid.error().message() +
                           " (a claim is a DNS host name: labels of 1 to 63 letters, digits and "
                           "hyphens, at least two labels, at most 253 characters)");
  }
  return name;
}

bool ClaimCovers(const model::DomainClaim& claim, std::string_view name_in) {
  const std::string name = Canonical(name_in);
  const std::string domain = Canonical(claim.domain);
  if (IsIpClaim(domain)) {
    Result<Cidr> net = Cidr::Parse(domain);
    return net.ok() && net->Contains(name);
  }
  if (ParseIpLiteral(name).has_value()) return false;  // only an IP claim covers an address
  if (IsWildcard(name)) {
    // "*.x.y" stands for every name directly below x.y: only a claim that includes x.y's
    // subdomains covers all of them.
    const std::string_view base = std::string_view(name).substr(2);
    return claim.include_subdomains && (base == domain || IsUnder(base, domain));
  }
  return name == domain || (claim.include_subdomains && IsUnder(name, domain));
}

bool ClaimsOverlap(const model::DomainClaim& a, const model::DomainClaim& b) {
  const std::string da = Canonical(a.domain);
  const std::string db = Canonical(b.domain);
  if (da == db) return true;
  if (IsIpClaim(da) || IsIpClaim(db)) {
    if (!IsIpClaim(da) || !IsIpClaim(db)) return false;
    Result<Cidr> na = Cidr::Parse(da);
    Result<Cidr> nb = Cidr::Parse(db);
    return na.ok() && nb.ok() && na->Overlaps(*nb);
  }
  return (a.include_subdomains && IsUnder(db, da)) || (b.include_subdomains && IsUnder(da, db));
}

std::optional<model::DomainClaim> FindConflictingClaim(
    const std::vector<model::DomainClaim>& existing, const model::DomainClaim& candidate) {
  for (const model::DomainClaim& c : existing) {
    if (c.account_id == candidate.account_id) continue;
    if (c.shared && candidate.shared) continue;
    if (ClaimsOverlap(c, candidate)) return c;
  }
  return std::nullopt;
}

Decision EvaluateDomainClaims(const std::vector<model::DomainClaim>& claims,
                              const std::vector<std::string>& names,
                              std::string_view account_name) {
  for (const std::string& name : names) {
    bool covered = false;
    for (const model::DomainClaim& c : claims) {
      if (ClaimCovers(c, name)) {
        covered = true;
        break;
      }
    }
    if (!covered) {
      return Decision::Deny(std::string(kDomainUnclaimedRule),
                            "domain " + QuoteForMessage(name) +
                                " is not covered by a domain claim of account " +
                                QuoteForMessage(account_name) +
                                " (a system admin assigns claims: certfleet domain claim)");
    }
  }
  return Decision::Allow();
}

}  // namespace certfleet::policy
