// Where a webhook may be delivered (docs/events.md, "Private addresses"). Webhook URLs are
// chosen by tenants, so without this check certfleetd could be used to reach its own loopback
// services, the cloud metadata endpoint (169.254.169.254) or the internal network (SSRF).
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certfleet::events {

// True for addresses a webhook must not reach by default: unspecified, loopback, private
// (RFC 1918, IPv6 ULA), shared (100.64/10), link-local, documentation and benchmarking ranges,
// multicast, reserved and broadcast; IPv4-mapped and NAT64 IPv6 addresses by their IPv4 part.
// `ip` is a numeric IPv4 or IPv6 address; anything else is treated as not public (true).
bool IsNonPublicAddress(std::string_view ip);

// For net::ClientOptions::address_allowed: admits public addresses only. With it the client
// checks the addresses it actually connects to, which closes the gap between CheckDestination's
// lookup and the connection's own (DNS rebinding).
std::function<bool(std::string_view ip)> PublicAddressesOnly();

// Resolves `host` and fails with Forbidden if any resolved address is non-public, naming the
// address; Unavailable (retryable) if the name does not resolve. A numeric host is checked
// without a lookup. With `allow_private` the check is skipped.
// This early check gives a clear error without connecting; the enforcement at connect time is
// PublicAddressesOnly() in the client.
Status CheckDestination(const std::string& host, bool allow_private);

}  // namespace certfleet::events
