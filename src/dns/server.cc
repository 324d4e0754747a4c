#include "dns/server.h"

#include <charconv>

#include "base/validate.h"

namespace certfleet::dns {

std::string DnsServer::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<DnsServer> ParseDnsServer(std::string_view text) {
  const std::string q = QuoteForMessage(text);
  if (text.empty() || text.size() > 300 || !IsPrintableAscii(text)) {
    return InvalidArgument("DNS server " + q + " must be HOST:PORT");
  }
  DnsServer out;
  std::string_view host = text;
  std::string_view port;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return InvalidArgument("DNS server " + q + " lacks ']'");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return InvalidArgument("DNS server " + q + " must be [V6]:PORT");
      port = rest.substr(1);
      if (port.empty()) return InvalidArgument("DNS server " + q + " has an empty port");
    }
  } else if (size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) {
      return InvalidArgument("DNS server " + q + ": write IPv6 addresses as [ADDRESS]:PORT");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return InvalidArgument("DNS server " + q + " has an empty port");
  }
  if (host.empty()) return InvalidArgument("DNS server " + q + " has an empty host");
  for (char c : host) {
    if (c == ' ' || c == '/' || c == '[' || c == ']') {
      return InvalidArgument("DNS server " + q + " has an invalid host");
    }
  }
  out.host = std::string(host);
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return InvalidArgument("DNS server " + q + " has an invalid port (1..65535)");
    }
    out.port = static_cast<uint16_t>(value);
  }
  return out;
}

}  // namespace certfleet::dns
