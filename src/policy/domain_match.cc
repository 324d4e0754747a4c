#include "policy/domain_match.h"

#include <optional>

#include "base/ip.h"
#include "base/validate.h"

namespace certfleet::policy {
namespace {

// True when `name` is strictly below `base` ("a.b.example.com" under "example.com"). A plain
// suffix test would also accept "badexample.com", hence the label boundary.
bool IsUnder(std::string_view name, std::string_view base) {
  return name.size() > base.size() + 1 && name.ends_with(base) &&
         name[name.size() - base.size() - 1] == '.';
}

// IP identifiers (RFC 8738) meet only IP patterns ("192.0.2.7", "10.1.0.0/16"): an address
// matches the networks that contain it, and no DNS pattern. nullopt when both are DNS names.
std::optional<bool> IpMatch(std::string_view pattern, std::string_view san) {
  const bool ip_pattern =
      pattern.find('/') != std::string_view::npos || ParseIpLiteral(pattern).has_value();
  const bool ip_san = ParseIpLiteral(san).has_value();
  if (!ip_pattern && !ip_san) return std::nullopt;
  if (!ip_pattern || !ip_san) return false;
  Result<Cidr> net = Cidr::Parse(pattern);
  return net.ok() && net->Contains(san);
}

}  // namespace

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool PatternCovers(std::string_view pattern_in, std::string_view san_in) {
  if (std::optional<bool> ip = IpMatch(pattern_in, san_in)) return *ip;
  const std::string pattern = LowerAscii(pattern_in);
  const std::string san = LowerAscii(san_in);
  if (!IsWildcard(pattern)) return pattern == san;
  const std::string_view base = std::string_view(pattern).substr(2);
  if (!IsWildcard(san)) return IsUnder(san, base);
  // "*.a.example.com" stands for names under a.example.com, all of which are under example.com;
  // "*.example.com" stands for names under example.com itself.
  const std::string_view san_base = std::string_view(san).substr(2);
  return san_base == base || IsUnder(san_base, base);
}

bool PatternOverlaps(std::string_view pattern_in, std::string_view san_in) {
  if (std::optional<bool> ip = IpMatch(pattern_in, san_in)) return *ip;
  const std::string pattern = LowerAscii(pattern_in);
  const std::string san = LowerAscii(san_in);
  const bool pattern_wild = IsWildcard(pattern);
  const bool san_wild = IsWildcard(san);
  const std::string_view pattern_base = std::string_view(pattern).substr(pattern_wild ? 2 : 0);
  const std::string_view san_base = std::string_view(san).substr(san_wild ? 2 : 0);
  if (!pattern_wild && !san_wild) return pattern == san;
  if (!pattern_wild) return IsUnder(pattern, san_base);  // the wildcard SAN covers the name
  if (!san_wild) return IsUnder(san, pattern_base);
  // Two "names under X" sets intersect iff one base is the other or lies under it.
  return san_base == pattern_base || IsUnder(san_base, pattern_base) ||
         IsUnder(pattern_base, san_base);
}

}  // namespace certfleet::policy
