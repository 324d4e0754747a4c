#include "base/ip.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace certfleet {
namespace {

constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool PrefixEqual(const uint8_t* a, const uint8_t* b, int bits) {
  const int whole = bits / 8;
  if (std::memcmp(a, b, static_cast<size_t>(whole)) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

std::optional<IpAddress> ParseIpLiteral(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
  ip.bytes.fill(0);
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    ip.v6 = true;
    return ip;
  }
  return std::nullopt;
}

std::string FormatIp(const IpAddress& ip) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.bytes.data(), text, sizeof text);
  return text;
}

std::optional<std::string> CanonicalIp(std::string_view text) {
  std::optional<IpAddress> ip = ParseIpLiteral(text);
  if (!ip.has_value()) return std::nullopt;
  return FormatIp(*ip);
}

Result<Cidr> Cidr::Parse(std::string_view text) {
  const Error bad = InvalidArgument("\"" + std::string(text.substr(0, 64)) +
                                    "\" is not a network such as 10.1.0.0/16 or fd00::/8");
  const size_t slash = text.find('/');
  std::optional<IpAddress> ip = ParseIpLiteral(text.substr(0, slash));
  if (!ip.has_value()) return bad;
  Cidr c;
  c.net_ = *ip;
  const int max = c.net_.v6 ? 128 : 32;
  c.bits_ = max;
  if (slash != std::string_view::npos) {
    const std::string_view n = text.substr(slash + 1);
    int bits = -1;
    auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), bits);
    if (n.empty() || ec != std::errc() || ptr != n.data() + n.size() || bits < 0 || bits > max) {
      return bad;
    }
    c.bits_ = bits;
  }
  // Host bits must be zero: "10.1.2.3/16" is more likely a mistake than a wish for 10.1/16.
  for (int i = c.bits_; i < max; ++i) {
    if (c.net_.bytes[static_cast<size_t>(i / 8)] & (0x80 >> (i % 8))) {
      return InvalidArgument("\"" + std::string(text.substr(0, 64)) +
                             "\" has host bits set below its prefix length");
    }
  }
  return c;
}

bool Cidr::Contains(std::string_view ip) const {
  std::optional<IpAddress> a = ParseIpLiteral(ip);
  return a.has_value() && Contains(*a);
}

bool Cidr::Contains(const IpAddress& ip) const {
  IpAddress a = ip;
  if (a.v6 && !net_.v6 && std::memcmp(a.bytes.data(), kMapped, 12) == 0) {
    // ::ffff:a.b.c.d is the IPv4 address a.b.c.d on a dual-stack socket.
    std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
    std::memset(a.bytes.data() + 4, 0, 12);
    a.v6 = false;
  }
  if (a.v6 != net_.v6) return false;
  return PrefixEqual(a.bytes.data(), net_.bytes.data(), bits_);
}

bool Cidr::Overlaps(const Cidr& other) const {
  if (net_.v6 != other.net_.v6) return false;
  return PrefixEqual(net_.bytes.data(), other.net_.bytes.data(), std::min(bits_, other.bits_));
}

std::string Cidr::ToString() const { return FormatIp(net_) + "/" + std::to_string(bits_); }

}  // namespace certfleet
