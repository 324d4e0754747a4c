// Domain claims (issue #13): the names an account may hold, assigned by a system admin. This is
// the outer of the two layers docs/policy.md describes: the claims say which names an account may
// ever hold; the account's own policy (account_policy.h) may only narrow that further. A request,
// a renewal and a deployment each need both layers to allow every name.
//
// A claim of "example.com" covers example.com itself; with include_subdomains it also covers
// every name below it, at any depth. A wildcard SAN "*.x.example.com" stands for names below
// x.example.com, so it is covered only by a claim with include_subdomains on x.example.com or on a
// name above it (example.com): a claim of exactly "x.example.com" without subdomains does not
// cover it. Names are compared case-insensitively (RFC 4343) without a trailing dot.
//
// For IP identifiers (RFC 8738, ACME server only), a claim may also name an IPv4 or IPv6
// address or network ("192.0.2.7", "10.1.0.0/16", "2001:db8::/32"). It is stored as
// "network/bits", covers the addresses inside it and no DNS name, and overlaps the IP claims
// that share an address with it; include_subdomains means nothing for it.
//
// Pure functions of their arguments: no I/O, no clock, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "model/model.h"
#include "policy/decision.h"

namespace certfleet::policy {

// The rule a name outside the account's claims is refused with.
inline constexpr std::string_view kDomainUnclaimedRule = "domain.unclaimed";

// A claim's domain in its stored form: lower case, one trailing dot removed. InvalidArgument
// (naming the field "domain" and saying what is allowed) for a wildcard and anything that is
// not an RFC 1123 host name of at least two labels (each label 1..63 LDH characters, no leading
// or trailing hyphen, 253 octets in all). An IP address or network is stored as "network/bits";
// one with host bits set below its prefix ("10.1.2.3/16") is refused.
Result<std::string> NormalizeClaimDomain(std::string_view domain);

// Does `claim` cover `name` (a SAN as requested: a DNS name or "*.<name>", any case)?
bool ClaimCovers(const model::DomainClaim& claim, std::string_view name);

// Do two claims cover a common name (the same domain, or one below the other that includes its
// subdomains)?
bool ClaimsOverlap(const model::DomainClaim& a, const model::DomainClaim& b);

// The first of `existing` that `candidate` may not coexist with: a claim of another account that
// overlaps it while not both are shared. Claims of candidate's own account never conflict.
std::optional<model::DomainClaim> FindConflictingClaim(
    const std::vector<model::DomainClaim>& existing, const model::DomainClaim& candidate);

// Allowed iff every name is covered by one of `claims` (the account's own claims). Otherwise
// denies with kDomainUnclaimedRule naming the first uncovered name and `account_name`.
Decision EvaluateDomainClaims(const std::vector<model::DomainClaim>& claims,
                              const std::vector<std::string>& names, std::string_view account_name);

}  // namespace certfleet::policy
