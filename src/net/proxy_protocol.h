// The PROXY protocol header (HAProxy's, versions 1 and 2; the specification is
// haproxy.org/download/2.6/doc/proxy-protocol.txt), as a load balancer in TCP passthrough mode
// sends it before the client's bytes so that the server learns the client's address (issue #15:
// certfleetd replicas behind HAProxy with `send-proxy-v2`).
//
// Only the parsing lives here: a pure function of the bytes a connection started with, so that it
// is tested (and fuzzed) on its own. Whom to believe is the listener's business (HttpsServer's
// trusted_proxies): a header is read only on connections from a trusted proxy, never guessed at
// (section 2: "The receiver MUST be configured to only receive the protocol ... and MUST not try
// to guess whether the protocol header is present or not").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certfleet::net {

// The longest header accepted, in bytes. A version 1 line is at most 107 bytes (section 2.1). A
// version 2 header is 16 bytes plus a declared length of up to 65535, but both formats are meant to
// fit the smallest TCP segment every host accepts, 536 bytes (section 2); HAProxy's send-proxy-v2
// sends 28 bytes for IPv4 clients and 52 for IPv6. A header declaring more is refused before its
// bytes are read, so nothing is ever buffered in proportion to what a peer declares.
inline constexpr size_t kMaxProxyHeaderBytes = 536;

struct ProxyHeader {
  int version = 0;  // 1 or 2
  // True when the header carries a relayed client connection (v2 PROXY command, v1 TCP4/TCP6):
  // the addresses below replace the connection's own. False for a connection the proxy made on
  // its own behalf (v2 LOCAL, a health check) and for v1 UNKNOWN: the connection's own addresses
  // stand, and the fields below are empty.
  bool proxied = false;
  // Numeric, in canonical text form ("192.0.2.7", "2001:db8::7").
  std::string source_address;
  uint16_t source_port = 0;
  std::string destination_address;
  uint16_t destination_port = 0;
  // How many bytes of the input the header took (type-length-value extensions included, which are
  // skipped). What follows them is the proxied stream's first bytes (the TLS ClientHello).
  size_t length = 0;
};

// Parses the PROXY header at the start of `bytes`, the first bytes received on a connection.
// Returns:
// - a ProxyHeader once `bytes` holds a whole, valid header (its first `length` bytes);
// - nullopt while `bytes` is the valid beginning of a header: read more and call again with
//   everything received so far. Never returned once bytes.size() reaches kMaxProxyHeaderBytes,
//   so a reader with a buffer of that size always gets an answer;
// - Malformed when the bytes are not a PROXY header or break the specification: wrong signature,
//   version or command, a v1 line not ended by CRLF within 107 bytes, a bad address or port, a
//   v2 address block shorter than its family needs; and for relayed connections of a kind
//   certfleetd does not serve (v2 PROXY over UDP, AF_UNIX or an unspecified family): attributing
//   them to the proxy's own address would defeat the per-address limit;
// - TooLarge when a v2 header declares more than kMaxProxyHeaderBytes in all.
// Reads only `bytes`, allocates only the returned address strings. Thread-safe.
Result<std::optional<ProxyHeader>> ParseProxyHeader(std::string_view bytes);

}  // namespace certfleet::net
