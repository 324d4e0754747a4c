// The address of a DNS server the solver talks to: "host:port", "[v6]:port", or a bare host (port
// 53). The host may be an IP literal or a name (resolved with getaddrinfo at each exchange). Pure
// value type, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certfleet::dns {

struct DnsServer {
  std::string host;
  uint16_t port = 53;

  // "127.0.0.1:5353", "[::1]:53": for messages.
  std::string ToString() const;
};

// InvalidArgument naming what is wrong (empty host, bad port, unbalanced brackets).
Result<DnsServer> ParseDnsServer(std::string_view host_port);

}  // namespace certfleet::dns
