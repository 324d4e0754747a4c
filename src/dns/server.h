// The address of a DNS server the solver talks to: "host:port", "[v6]:port", or a bare host (port
// 53). The host may be an IP literal or a name (resolved with getaddrinfo at each exchange). Pure
// value type, thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certfleet::dns {

struct DnsServer {
  std::string host;
  uint16_t port = 53;
  // When set, every address `host` resolves to must pass (numeric form, e.g. "10.0.0.1") before
  // anything is sent, or the exchange fails with Forbidden (rule network.private_not_allowed)
  // and a message that names no address. certfleetd sets the account's outbound filter
  // (net::OutboundPolicy, issue #13); checked on the addresses actually connected to, so a DNS
  // answer that changes after an earlier check gains nothing. Empty: no check.
  std::function<bool(std::string_view ip)> address_allowed;

  // "127.0.0.1:5353", "[::1]:53": for messages.
  std::string ToString() const;
};

// InvalidArgument naming what is wrong (empty host, bad port, unbalanced brackets).
Result<DnsServer> ParseDnsServer(std::string_view host_port);

}  // namespace certfleet::dns
