// Domain pattern matching for account policies (account_policy.h). Patterns and names are DNS
// names already checked by ValidateDnsName; comparison is ASCII case-insensitive (RFC 4343).
//
// In a pattern, "*.example.com" means "any name under example.com, at any depth, but not
// example.com itself". A wildcard SAN "*.a.example.com" stands for the names under
// a.example.com. Pure functions, thread-safe.
//
// IP addresses (RFC 8738 identifiers, textual) are matched by IP patterns only: an address or a
// network ("192.0.2.7", "10.1.0.0/16", "2001:db8::/32") matches the addresses inside it. A DNS
// pattern never matches an address, and an IP pattern never matches a DNS name.
#pragma once

#include <string>
#include <string_view>

namespace certfleet::policy {

// ASCII lower-case copy.
std::string LowerAscii(std::string_view s);

// True when every name the SAN stands for matches the pattern (used for allow lists):
//   exact pattern:    the SAN is the identical string (so a wildcard SAN matches an exact
//                     pattern only if the pattern is the same wildcard string);
//   wildcard pattern: the SAN (or, for a wildcard SAN, its base) is under, or for a wildcard SAN
//                     equal to, the pattern's base.
bool PatternCovers(std::string_view pattern, std::string_view san);

// True when some name the SAN stands for could match the pattern (used for deny lists, so that
// "*.example.com" is refused when "secret.example.com" is denied: a certificate for the former
// would be valid for the latter).
bool PatternOverlaps(std::string_view pattern, std::string_view san);

}  // namespace certfleet::policy
