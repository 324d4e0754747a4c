// Where a webhook may be delivered (docs/events.md, "Private addresses"). Webhook URLs are
// chosen by tenants, so without this check certfleetd could be used to reach its own loopback
// services, the cloud metadata endpoint (169.254.169.254) or the internal network (SSRF). The
// address classification and the per-account allow-list live in net/address_policy.h (the
// validation dialer); this file adapts them to webhooks. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "net/address_policy.h"

namespace certfleet::events {

// net::IsNonPublicAddress (kept for callers of the events API).
bool IsNonPublicAddress(std::string_view ip);

// For net::ClientOptions::address_allowed: admits public addresses only. With it the client
// checks the addresses it actually connects to, which closes the gap between CheckDestination's
// lookup and the connection's own (DNS rebinding).
std::function<bool(std::string_view ip)> PublicAddressesOnly();

// Resolves `host` and fails with Forbidden (net::PrivateDestinationRefused: one generic message
// naming no address) if any resolved address fails `filter`; Unavailable (retryable) if the name
// does not resolve. A numeric host is checked without a lookup. An empty filter admits all.
// This early check gives a clear error without connecting; the enforcement at connect time is
// the same filter in the client.
Status CheckDestination(const std::string& host, const net::AddressFilter& filter);
// The same with PublicAddressesOnly(), or no check at all when `allow_private`.
Status CheckDestination(const std::string& host, bool allow_private);

}  // namespace certfleet::events
