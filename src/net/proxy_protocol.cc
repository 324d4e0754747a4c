#include "net/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace certfleet::net {
namespace {

// Section 2.2: the 12-byte signature of a version 2 header.
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);
constexpr size_t kV2FixedBytes = 16;  // signature, version/command, family/protocol, length
// Section 2.1: "PROXY" and one space start every version 1 line.
constexpr std::string_view kV1Prefix = "PROXY ";
// Section 2.1: the longest line, CRLF included ("PROXY UNKNOWN" with two IPv6 addresses).
constexpr size_t kV1MaxLine = 107;

constexpr uint8_t kCommandLocal = 0x0;
constexpr uint8_t kCommandProxy = 0x1;
constexpr uint8_t kFamilyUnspec = 0x0;
constexpr uint8_t kFamilyInet = 0x1;
constexpr uint8_t kFamilyInet6 = 0x2;
constexpr uint8_t kFamilyUnix = 0x3;
constexpr uint8_t kProtocolStream = 0x1;
constexpr uint8_t kProtocolDgram = 0x2;

uint8_t Byte(std::string_view s, size_t i) { return static_cast<uint8_t>(s[i]); }
uint16_t Be16(std::string_view s, size_t i) {
  return static_cast<uint16_t>((Byte(s, i) << 8) | Byte(s, i + 1));
}

std::string FormatAddress(int family, const void* raw) {
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(family, raw, text, sizeof text) == nullptr) return "";
  return text;
}

// --- version 2 ---------------------------------------------------------------------------------

Result<std::optional<ProxyHeader>> ParseV2(std::string_view bytes) {
  const size_t have = std::min(bytes.size(), kV2Signature.size());
  if (bytes.substr(0, have) != kV2Signature.substr(0, have)) {
    return Malformed("not a PROXY protocol header (bad version 2 signature)");
  }
  if (bytes.size() < kV2FixedBytes) return std::optional<ProxyHeader>();
  const uint8_t version = Byte(bytes, 12) >> 4;
  const uint8_t command = Byte(bytes, 12) & 0x0f;
  const uint8_t family = Byte(bytes, 13) >> 4;
  const uint8_t protocol = Byte(bytes, 13) & 0x0f;
  const size_t declared = Be16(bytes, 14);
  // The receiver "must only accept" version 2, and drop unassigned commands, families and
  // protocols (section 2.2).
  if (version != 2) {
    return Malformed("unsupported PROXY protocol version " + std::to_string(version));
  }
  if (command != kCommandLocal && command != kCommandProxy) {
    return Malformed("unassigned PROXY protocol v2 command " + std::to_string(command));
  }
  if (family > kFamilyUnix || protocol > kProtocolDgram) {
    return Malformed("unassigned PROXY protocol v2 address family or protocol");
  }
  // Refused before any of it is read: the bound, not the peer, sizes the reader's buffer.
  const size_t total = kV2FixedBytes + declared;
  if (total > kMaxProxyHeaderBytes) {
    return TooLarge("PROXY protocol v2 header declares " + std::to_string(total) +
                    " bytes; at most " + std::to_string(kMaxProxyHeaderBytes) + " are accepted");
  }
  if (bytes.size() < total) return std::optional<ProxyHeader>();

  ProxyHeader h;
  h.version = 2;
  h.length = total;
  // LOCAL: the proxy's own connection (a health check). "The receiver must accept this
  // connection as valid and must use the real connection endpoints and discard the protocol
  // block including the family", whatever length it declares.
  if (command == kCommandLocal) return std::optional<ProxyHeader>(std::move(h));

  if (protocol != kProtocolStream || (family != kFamilyInet && family != kFamilyInet6)) {
    const char* what = family == kFamilyUnspec      ? "an unspecified address family"
                       : family == kFamilyUnix      ? "AF_UNIX"
                       : protocol == kProtocolDgram ? "UDP"
                                                    : "an unspecified protocol";
    return Malformed(std::string("PROXY protocol v2 relays a connection over ") + what +
                     "; only TCP over IPv4 or IPv6 is accepted");
  }
  const std::string_view block = bytes.substr(kV2FixedBytes, declared);
  const int af = family == kFamilyInet ? AF_INET : AF_INET6;
  const size_t addr = family == kFamilyInet ? 4 : 16;
  // Two addresses, then two ports; anything beyond is type-length-value extensions, skipped
  // (section 2.2: "a receiver may choose to skip over and ignore those bytes").
  if (block.size() < 2 * addr + 4) {
    return Malformed("PROXY protocol v2 address block of " + std::to_string(block.size()) +
                     " bytes; TCP over " + (af == AF_INET ? "IPv4 needs 12" : "IPv6 needs 36"));
  }
  h.proxied = true;
  h.source_address = FormatAddress(af, block.data());
  h.destination_address = FormatAddress(af, block.data() + addr);
  h.source_port = Be16(block, 2 * addr);
  h.destination_port = Be16(block, 2 * addr + 2);
  if (h.source_address.empty() || h.destination_address.empty()) {
    return Malformed("PROXY protocol v2 address could not be read");
  }
  return std::optional<ProxyHeader>(std::move(h));
}

// --- version 1 ---------------------------------------------------------------------------------

// Section 2.1: "exactly 4 integers in the range [0..255] ... separated by exactly one dot",
// without leading zeroes (which some parsers read as octal).
bool ParseIpv4(std::string_view s, in_addr& out) {
  std::array<uint8_t, 4> octets{};
  size_t i = 0;
  for (int n = 0; n < 4; ++n) {
    if (n > 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
    const size_t start = i;
    unsigned value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
      value = value * 10 + unsigned(s[i] - '0');
      ++i;
    }
    const size_t digits = i - start;
    if (digits == 0 || value > 255 || (digits > 1 && s[start] == '0')) return false;
    octets[n] = static_cast<uint8_t>(value);
  }
  if (i != s.size()) return false;
  std::memcpy(&out, octets.data(), 4);
  return true;
}

bool ParseIpv6(std::string_view s, in6_addr& out) {
  // Hexadecimal groups and colons; the longest form is 39 characters.
  if (s.empty() || s.size() > 39) return false;
  for (char c : s) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex && c != ':') return false;
  }
  const std::string text(s);
  return inet_pton(AF_INET6, text.c_str(), &out) == 1;
}

// Decimal 0..65535 without leading zeroes.
bool ParsePort(std::string_view s, uint16_t& out) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + unsigned(c - '0');
  }
  if (value > 65535) return false;
  out = static_cast<uint16_t>(value);
  return true;
}

// Splits on single spaces; false if there are not exactly `n` fields (an empty field means two
// spaces in a row, which the grammar does not allow).
template <size_t N>
bool SplitFields(std::string_view line, std::array<std::string_view, N>& fields) {
  size_t n = 0;
  size_t start = 0;
  for (;;) {
    const size_t space = line.find(' ', start);
    const std::string_view field = line.substr(
        start, space == std::string_view::npos ? std::string_view::npos : space - start);
    if (field.empty() || n == N) return false;
    fields[n++] = field;
    if (space == std::string_view::npos) break;
    start = space + 1;
  }
  return n == N;
}

Result<std::optional<ProxyHeader>> ParseV1(std::string_view bytes) {
  const size_t have = std::min(bytes.size(), kV1Prefix.size());
  if (bytes.substr(0, have) != kV1Prefix.substr(0, have)) {
    return Malformed("not a PROXY protocol header (bad version 1 prefix)");
  }
  // "The receiver must wait for the CRLF sequence before starting to decode the addresses", and
  // "must not tolerate a single CR or LF character to end the line".
  size_t end = std::string_view::npos;
  const size_t scan = std::min(bytes.size(), kV1MaxLine);
  for (size_t i = 0; i < scan; ++i) {
    const char c = bytes[i];
    if (c == '\r') {
      if (i + 1 == kV1MaxLine) break;    // no room left for the LF
      if (i + 1 >= bytes.size()) break;  // the LF may still come
      if (bytes[i + 1] != '\n') return Malformed("PROXY protocol v1 line has a CR without LF");
      end = i;
      break;
    }
    if (c == '\n') return Malformed("PROXY protocol v1 line ends with LF alone, not CRLF");
  }
  if (end == std::string_view::npos) {
    if (bytes.size() >= kV1MaxLine) {
      return Malformed("PROXY protocol v1 line not ended by CRLF within 107 bytes");
    }
    return std::optional<ProxyHeader>();
  }
  const std::string_view line = bytes.substr(0, end);
  ProxyHeader h;
  h.version = 1;
  h.length = end + 2;

  const std::string_view rest = line.substr(kV1Prefix.size());
  // UNKNOWN: "the receiver must ignore anything presented before the CRLF" and use the real
  // connection's addresses.
  if (rest == "UNKNOWN" || rest.starts_with("UNKNOWN ")) {
    return std::optional<ProxyHeader>(std::move(h));
  }
  std::array<std::string_view, 5> f;
  if (!SplitFields(rest, f)) {
    return Malformed(
        "PROXY protocol v1 line must be PROXY TCP4|TCP6 SRC DST SRCPORT DSTPORT, or PROXY UNKNOWN");
  }
  if (f[0] == "TCP4") {
    in_addr src{};
    in_addr dst{};
    if (!ParseIpv4(f[1], src) || !ParseIpv4(f[2], dst)) {
      return Malformed("PROXY protocol v1 TCP4 line has an invalid IPv4 address");
    }
    h.source_address = FormatAddress(AF_INET, &src);
    h.destination_address = FormatAddress(AF_INET, &dst);
  } else if (f[0] == "TCP6") {
    in6_addr src{};
    in6_addr dst{};
    if (!ParseIpv6(f[1], src) || !ParseIpv6(f[2], dst)) {
      return Malformed("PROXY protocol v1 TCP6 line has an invalid IPv6 address");
    }
    h.source_address = FormatAddress(AF_INET6, &src);
    h.destination_address = FormatAddress(AF_INET6, &dst);
  } else {
    return Malformed("PROXY protocol v1 protocol must be TCP4, TCP6 or UNKNOWN");
  }
  if (!ParsePort(f[3], h.source_port) || !ParsePort(f[4], h.destination_port)) {
    return Malformed("PROXY protocol v1 line has an invalid port");
  }
  if (h.source_address.empty() || h.destination_address.empty()) {
    return Malformed("PROXY protocol v1 address could not be read");
  }
  h.proxied = true;
  return std::optional<ProxyHeader>(std::move(h));
}

}  // namespace

Result<std::optional<ProxyHeader>> ParseProxyHeader(std::string_view bytes) {
  if (bytes.empty()) return std::optional<ProxyHeader>();
  // Section 2.2, "Identifying the protocol version": the first byte already tells them apart
  // (CR for version 2, 'P' for version 1); anything else is no PROXY header at all.
  if (bytes[0] == kV2Signature[0]) return ParseV2(bytes);
  if (bytes[0] == kV1Prefix[0]) return ParseV1(bytes);
  return Malformed("not a PROXY protocol header");
}

}  // namespace certfleet::net
