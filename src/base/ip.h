// Numeric IP addresses and networks (no I/O, no name resolution). Shared by the outbound address
// policy (net/address_policy.h), the IP domain claims and account-policy entries (policy/), and
// the ACME server's IP identifiers (RFC 8738). Immutable values; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certfleet {

// A numeric IPv4 or IPv6 address: family and bytes (IPv4 in the first four).
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
};

// Dotted-quad IPv4 (no leading zeros, no shorthand such as "10.1") or textual IPv6 (RFC 4291,
// without a zone index). nullopt for anything else, including host names.
std::optional<IpAddress> ParseIpLiteral(std::string_view text);

// The canonical text of an address: dotted quad, or RFC 5952 for IPv6 (lower case, longest run
// of zero groups shortened).
std::string FormatIp(const IpAddress& ip);

// The canonical text of a numeric address given as text; nullopt if `text` is not one.
std::optional<std::string> CanonicalIp(std::string_view text);

// An IPv4 or IPv6 network, e.g. "10.1.0.0/16", "::1/128"; a bare address is a /32 or /128.
class Cidr {
 public:
  // InvalidArgument for anything else, and for host bits set below the prefix ("10.1.2.3/16"):
  // a typo there would silently widen or narrow what is allowed.
  static Result<Cidr> Parse(std::string_view text);

  // Whether numeric address `ip` lies inside. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
  // matched against IPv4 networks by its IPv4 part. False for non-numeric input.
  bool Contains(std::string_view ip) const;
  bool Contains(const IpAddress& ip) const;
  // Whether the two networks share an address (one contains the other).
  bool Overlaps(const Cidr& other) const;
  // "network/bits" in canonical form.
  std::string ToString() const;

 private:
  IpAddress net_;
  int bits_ = 0;
};

}  // namespace certfleet
