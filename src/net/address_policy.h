// Which addresses outbound connections may reach (issue #13, docs/security.md "Server
// configuration"): the address classification and the per-account allow-list behind the
// validation dialer (HttpsClient's ClientOptions::address_allowed, the DNS client's filter).
//
// Tenants choose ACME directory URLs, RFC 2136 servers and webhook URLs. Without this policy
// certfleetd would connect wherever they point: its own loopback services, the cloud metadata
// endpoint (169.254.169.254), the internal network. So by default only public addresses are
// reached; private, loopback and reserved networks only where certfleetd's own configuration
// allows them for the account ([[outbound.allow]] in certfleetd.toml). Checks run on the very
// addresses a connection uses (after name resolution), so a DNS answer that changes between an
// early check and the connection (DNS rebinding) gains nothing.
//
// Refusals are one generic Forbidden (PrivateDestinationRefused): they never say which address a
// name resolved to, whether a port is open, or why a connection failed, so the errors read back
// by a tenant cannot map the private network (no port scanner in the control plane).
//
// All types are immutable values; thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/ip.h"

namespace certfleet::net {

// The rule named in refusals (403).
inline constexpr char kPrivateNetworkRule[] = "network.private_not_allowed";
// The wildcard account name in an allow rule: every account.
inline constexpr char kAnyAccount[] = "*";

// A filter on numeric addresses ("10.0.0.1", "::1"), as ClientOptions::address_allowed takes.
using AddressFilter = std::function<bool(std::string_view ip)>;

// Resolves a host name to numeric addresses in place of the system resolver: the ACME server's
// validator resolves names through its own DNS server (--acme-resolver, issue #16). An empty
// list means the name has no address. Errors must not carry what they would reveal to a tenant
// (the callers report a lookup failure without its words).
using NameResolver = std::function<Result<std::vector<std::string>>(const std::string& host)>;

// True for addresses a tenant's destination must not reach by default: unspecified, loopback,
// private (RFC 1918, IPv6 ULA), shared (100.64/10), link-local, documentation and benchmarking
// ranges, multicast, reserved and broadcast (IANA special-purpose registries, RFC 6890);
// IPv4-mapped, IPv4-compatible and NAT64 IPv6 addresses by their IPv4 part. `ip` is a numeric
// IPv4 or IPv6 address; anything else is treated as not public (true).
bool IsNonPublicAddress(std::string_view ip);

// An IPv4 or IPv6 network (base/ip.h).
using Cidr = ::certfleet::Cidr;

// One [[outbound.allow]] entry: these accounts (names, or "*") may reach these networks.
struct OutboundRule {
  std::vector<std::string> accounts;
  std::vector<Cidr> networks;
};

class OutboundPolicy {
 public:
  // No private network for anybody.
  OutboundPolicy() = default;
  explicit OutboundPolicy(std::vector<OutboundRule> rules) : rules_(std::move(rules)) {}

  // The non-public networks `account_name` may reach (the union of the rules naming it or "*").
  std::vector<Cidr> NetworksFor(std::string_view account_name) const;
  // Whether any non-public network is allowed for the account.
  bool AllowsPrivate(std::string_view account_name) const {
    return !NetworksFor(account_name).empty();
  }
  // Admits public addresses, and non-public ones inside the account's networks.
  AddressFilter FilterFor(std::string_view account_name) const;
  // Whether `ip` passes FilterFor(account_name).
  bool Allows(std::string_view account_name, std::string_view ip) const;

 private:
  std::vector<OutboundRule> rules_;
};

// The one answer to a destination the policy refuses (Forbidden, rule network.private_not_allowed).
// `what` names the destination as the caller gave it ("webhook host hooks.example"), never a
// resolved address.
Error PrivateDestinationRefused(std::string_view what);

// Checks `host` (a name or numeric address) before anything is stored: resolves it and refuses
// (PrivateDestinationRefused) if any address fails `filter`. A name that does not resolve is
// left to the connection (Ok): whether an internal name exists is not the caller's business.
// The enforcement that counts is the filter at connect time; this gives an early, clear error.
Status CheckHost(const std::string& host, const AddressFilter& filter, std::string_view what);

}  // namespace certfleet::net
