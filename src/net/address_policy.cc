#include "net/address_policy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <memory>
#include <optional>

namespace certfleet::net {
namespace {

struct Cidr4 {
  uint32_t net;
  int bits;
};

// IANA IPv4 Special-Purpose Address Registry (RFC 6890 and updates), plus multicast and the
// reserved class E range: nothing here is a public server.
constexpr std::array<Cidr4, 15> kNonPublic4{{
    {0x00000000, 8},   // 0.0.0.0/8 "this network"
    {0x0A000000, 8},   // 10/8 private (RFC 1918)
    {0x64400000, 10},  // 100.64/10 shared address space (RFC 6598)
    {0x7F000000, 8},   // 127/8 loopback
    {0xA9FE0000, 16},  // 169.254/16 link-local, incl. cloud metadata endpoints
    {0xAC100000, 12},  // 172.16/12 private
    {0xC0000000, 24},  // 192.0.0/24 IETF protocol assignments
    {0xC0000200, 24},  // 192.0.2/24 TEST-NET-1
    {0xC0586300, 24},  // 192.88.99/24 6to4 relay anycast (deprecated)
    {0xC0A80000, 16},  // 192.168/16 private
    {0xC6120000, 15},  // 198.18/15 benchmarking
    {0xC6336400, 24},  // 198.51.100/24 TEST-NET-2
    {0xCB007100, 24},  // 203.0.113/24 TEST-NET-3
    {0xE0000000, 4},   // 224/4 multicast
    {0xF0000000, 4},   // 240/4 reserved, incl. 255.255.255.255
}};

bool NonPublic4(uint32_t a) {
  for (const auto& c : kNonPublic4) {
    const uint32_t mask = c.bits == 0 ? 0 : ~uint32_t{0} << (32 - c.bits);
    if ((a & mask) == c.net) return true;
  }
  return false;
}

uint32_t V4At(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

constexpr unsigned char kZero[16] = {};
constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool NonPublic6(const unsigned char* b) {
  // :: and ::1
  if (std::memcmp(b, kZero, 15) == 0 && (b[15] == 0 || b[15] == 1)) return true;
  // ::ffff:a.b.c.d (IPv4-mapped) and ::a.b.c.d (IPv4-compatible, deprecated)
  if (std::memcmp(b, kMapped, 12) == 0 || std::memcmp(b, kZero, 12) == 0) {
    return NonPublic4(V4At(b + 12));
  }
  // 64:ff9b::/96 NAT64 (RFC 6052): judged by the embedded IPv4 address.
  static constexpr unsigned char kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(b, kNat64, 12) == 0) return NonPublic4(V4At(b + 12));
  if ((b[0] & 0xfe) == 0xfc) return true;                  // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;  // fe80::/10 link-local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return true;  // fec0::/10 site-local (deprecated)
  if (b[0] == 0xff) return true;                           // ff00::/8 multicast
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return true;    // 2001:db8::/32
  if (b[0] == 0x01 && b[1] == 0 && std::memcmp(b + 2, kZero, 6) == 0) return true;  // 100::/64
  return false;
}

struct AddrInfoFree {
  void operator()(addrinfo* a) const { freeaddrinfo(a); }
};

}  // namespace

bool IsNonPublicAddress(std::string_view ip) {
  std::optional<IpAddress> a = ParseIpLiteral(ip);
  if (!a.has_value()) return true;
  return a->v6 ? NonPublic6(a->bytes.data()) : NonPublic4(V4At(a->bytes.data()));
}

std::vector<Cidr> OutboundPolicy::NetworksFor(std::string_view account_name) const {
  std::vector<Cidr> out;
  for (const OutboundRule& r : rules_) {
    for (const std::string& a : r.accounts) {
      if (a == kAnyAccount || a == account_name) {
        out.insert(out.end(), r.networks.begin(), r.networks.end());
        break;
      }
    }
  }
  return out;
}

bool OutboundPolicy::Allows(std::string_view account_name, std::string_view ip) const {
  return FilterFor(account_name)(ip);
}

AddressFilter OutboundPolicy::FilterFor(std::string_view account_name) const {
  return [networks = NetworksFor(account_name)](std::string_view ip) {
    if (!IsNonPublicAddress(ip)) return true;
    for (const Cidr& n : networks) {
      if (n.Contains(ip)) return true;
    }
    return false;
  };
}

Error PrivateDestinationRefused(std::string_view what) {
  return Forbidden(std::string(what) +
                   ": refused: certfleetd reaches private, loopback and reserved "
                   "networks only where its own configuration allows them for the account "
                   "([[outbound.allow]]) (rule " +
                   kPrivateNetworkRule + ")");
}

Status CheckHost(const std::string& host, const AddressFilter& filter, std::string_view what) {
  if (!filter) return Ok();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* raw = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &raw);
  std::unique_ptr<addrinfo, AddrInfoFree> list(raw);
  if (rc != 0) return Ok();
  for (const addrinfo* a = list.get(); a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr, text,
                sizeof text);
    } else if (a->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr, text,
                sizeof text);
    } else {
      continue;
    }
    // Every address counts: a connection may use any of them.
    if (!filter(text)) return PrivateDestinationRefused(what);
  }
  return Ok();
}

}  // namespace certfleet::net
