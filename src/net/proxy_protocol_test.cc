// ParseProxyHeader against the PROXY protocol specification
// (haproxy.org/download/2.6/doc/proxy-protocol.txt): both versions, both address families, the
// LOCAL and UNKNOWN forms, and every way a header can be cut short, oversize or wrong.
#include "net/proxy_protocol.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace certfleet::net {
namespace {

using namespace std::string_literals;

const std::string kSig = "\r\n\r\n\0\r\nQUIT\n"s;

// A version 2 header: signature, version/command byte, family/protocol byte, then `block` with
// its length.
std::string V2(uint8_t ver_cmd, uint8_t fam, const std::string& block) {
  std::string h = kSig;
  h.push_back(static_cast<char>(ver_cmd));
  h.push_back(static_cast<char>(fam));
  h.push_back(static_cast<char>(block.size() >> 8));
  h.push_back(static_cast<char>(block.size() & 0xff));
  return h + block;
}

// 192.0.2.7:51000 -> 10.0.0.11:8443, as HAProxy's send-proxy-v2 sends it.
const std::string kTcp4Block = "\xc0\x00\x02\x07\x0a\x00\x00\x0b\xc7\x38\x20\xfb"s;
// 2001:db8::7:51000 -> 2001:db8::11:8443
const std::string kTcp6Block =
    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07"s
    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x11"s
    "\xc7\x38\x20\xfb"s;

ProxyHeader Complete(const std::string& bytes) {
  auto r = ParseProxyHeader(bytes);
  EXPECT_TRUE(r.ok()) << r.error().message();
  if (!r.ok()) return {};
  EXPECT_TRUE(r->has_value()) << "incomplete";
  return r->value_or(ProxyHeader{});
}

Error Refused(const std::string& bytes) {
  auto r = ParseProxyHeader(bytes);
  EXPECT_FALSE(r.ok()) << "accepted " << testing::PrintToString(bytes);
  return r.ok() ? Internal("accepted") : r.error();
}

// Every proper prefix of a valid header is "read more", never an error or a header.
void ExpectEveryPrefixIncomplete(const std::string& header) {
  for (size_t n = 0; n < header.size(); ++n) {
    auto r = ParseProxyHeader(std::string_view(header).substr(0, n));
    ASSERT_TRUE(r.ok()) << n << ": " << r.error().message();
    EXPECT_FALSE(r->has_value()) << n;
  }
}

TEST(ProxyProtocol, V2Tcp4) {
  const std::string header = V2(0x21, 0x11, kTcp4Block);
  ASSERT_EQ(header.size(), 28u);
  // The TLS ClientHello follows at once: it is not part of the header.
  ProxyHeader h = Complete(header + "\x16\x03\x01"s);
  EXPECT_EQ(h.version, 2);
  EXPECT_TRUE(h.proxied);
  EXPECT_EQ(h.source_address, "192.0.2.7");
  EXPECT_EQ(h.source_port, 51000);
  EXPECT_EQ(h.destination_address, "10.0.0.11");
  EXPECT_EQ(h.destination_port, 8443);
  EXPECT_EQ(h.length, 28u);
  ExpectEveryPrefixIncomplete(header);
}

TEST(ProxyProtocol, V2Tcp6) {
  const std::string header = V2(0x21, 0x21, kTcp6Block);
  ASSERT_EQ(header.size(), 52u);
  ProxyHeader h = Complete(header);
  EXPECT_TRUE(h.proxied);
  EXPECT_EQ(h.source_address, "2001:db8::7");
  EXPECT_EQ(h.source_port, 51000);
  EXPECT_EQ(h.destination_address, "2001:db8::11");
  EXPECT_EQ(h.length, 52u);
  ExpectEveryPrefixIncomplete(header);
}

TEST(ProxyProtocol, V2SkipsTypeLengthValueExtensions) {
  // PP2_TYPE_ALPN "h2" and a NOOP after the addresses: counted in the length, otherwise ignored.
  const std::string tlvs = "\x01\x00\x02h2\x04\x00\x01\x00"s;
  ProxyHeader h = Complete(V2(0x21, 0x11, kTcp4Block + tlvs) + "rest");
  EXPECT_EQ(h.source_address, "192.0.2.7");
  EXPECT_EQ(h.length, 28u + tlvs.size());
}

TEST(ProxyProtocol, V2LocalKeepsTheConnectionsAddresses) {
  // HAProxy's health checks with check-send-proxy: LOCAL, no address block.
  ProxyHeader h = Complete(V2(0x20, 0x00, ""));
  EXPECT_EQ(h.version, 2);
  EXPECT_FALSE(h.proxied);
  EXPECT_TRUE(h.source_address.empty());
  EXPECT_EQ(h.length, 16u);
  // A LOCAL header's block and family are skipped, whatever they say (section 2.2).
  h = Complete(V2(0x20, 0x11, kTcp4Block));
  EXPECT_FALSE(h.proxied);
  EXPECT_EQ(h.length, 28u);
  h = Complete(V2(0x20, 0x31, std::string(216, 'x')));
  EXPECT_FALSE(h.proxied);
}

TEST(ProxyProtocol, V2TruncatedHeadersAskForMore) {
  // Cut inside the signature, inside the fixed part, inside the address block.
  for (size_t n : {1u, 5u, 12u, 13u, 15u, 16u, 20u, 27u}) {
    auto r = ParseProxyHeader(V2(0x21, 0x11, kTcp4Block).substr(0, n));
    ASSERT_TRUE(r.ok()) << n;
    EXPECT_FALSE(r->has_value()) << n;
  }
}

TEST(ProxyProtocol, V2RefusesOversizeLengths) {
  // Declared lengths beyond the bound are refused from the fixed 16 bytes alone, before any of
  // the declared bytes arrive.
  for (size_t declared : {kMaxProxyHeaderBytes - 16 + 1, size_t{4096}, size_t{65535}}) {
    std::string fixed = kSig + "\x21\x11"s;
    fixed.push_back(static_cast<char>(declared >> 8));
    fixed.push_back(static_cast<char>(declared & 0xff));
    Error e = Refused(fixed);
    EXPECT_EQ(e.code(), ErrorCode::kTooLarge) << declared;
  }
  // Exactly at the bound is accepted (LOCAL, padded).
  ProxyHeader h = Complete(V2(0x20, 0x00, std::string(kMaxProxyHeaderBytes - 16, '\0')));
  EXPECT_EQ(h.length, kMaxProxyHeaderBytes);
}

TEST(ProxyProtocol, V2RefusesBadSignatureVersionAndCommand) {
  std::string bad_sig = V2(0x21, 0x11, kTcp4Block);
  bad_sig[7] = 'X';  // "QUIT" -> "XUIT"
  EXPECT_EQ(Refused(bad_sig).code(), ErrorCode::kMalformed);
  EXPECT_EQ(Refused(bad_sig.substr(0, 8)).code(), ErrorCode::kMalformed);  // as soon as it shows
  EXPECT_EQ(Refused(V2(0x11, 0x11, kTcp4Block)).code(), ErrorCode::kMalformed);  // version 1
  EXPECT_EQ(Refused(V2(0x31, 0x11, kTcp4Block)).code(), ErrorCode::kMalformed);  // version 3
  EXPECT_EQ(Refused(V2(0x22, 0x11, kTcp4Block)).code(), ErrorCode::kMalformed);  // command 2
  EXPECT_EQ(Refused(V2(0x2f, 0x11, kTcp4Block)).code(), ErrorCode::kMalformed);
}

TEST(ProxyProtocol, V2RefusesUnsupportedFamiliesAndProtocols) {
  // Unassigned families and protocols: invalid by the specification.
  EXPECT_EQ(Refused(V2(0x21, 0x41, kTcp4Block)).code(), ErrorCode::kMalformed);
  EXPECT_EQ(Refused(V2(0x21, 0x13, kTcp4Block)).code(), ErrorCode::kMalformed);
  // Valid, but not a TCP client certfleetd could serve: UDP, AF_UNIX, unspecified.
  for (uint8_t fam : {0x12, 0x22, 0x31, 0x32, 0x00, 0x10, 0x01}) {
    Error e = Refused(V2(0x21, fam,
                         fam == 0x31 || fam == 0x32 ? std::string(216, 'x')
                         : fam == 0x22              ? kTcp6Block
                                                    : kTcp4Block));
    EXPECT_EQ(e.code(), ErrorCode::kMalformed) << int(fam);
    EXPECT_NE(e.message().find("only TCP over IPv4 or IPv6"), std::string::npos) << e.message();
  }
}

TEST(ProxyProtocol, V2RefusesShortAddressBlocks) {
  EXPECT_EQ(Refused(V2(0x21, 0x11, kTcp4Block.substr(0, 11))).code(), ErrorCode::kMalformed);
  EXPECT_EQ(Refused(V2(0x21, 0x21, kTcp6Block.substr(0, 35))).code(), ErrorCode::kMalformed);
  EXPECT_EQ(Refused(V2(0x21, 0x21, kTcp4Block)).code(), ErrorCode::kMalformed);  // v6 needs 36
}

TEST(ProxyProtocol, V1Tcp4AndTcp6) {
  const std::string line4 = "PROXY TCP4 192.0.2.7 10.0.0.11 51000 8443\r\n";
  ProxyHeader h = Complete(line4 + "\x16\x03\x01"s);
  EXPECT_EQ(h.version, 1);
  EXPECT_TRUE(h.proxied);
  EXPECT_EQ(h.source_address, "192.0.2.7");
  EXPECT_EQ(h.source_port, 51000);
  EXPECT_EQ(h.destination_address, "10.0.0.11");
  EXPECT_EQ(h.destination_port, 8443);
  EXPECT_EQ(h.length, line4.size());
  ExpectEveryPrefixIncomplete(line4);

  const std::string line6 = "PROXY TCP6 2001:DB8:0:0:0:0:0:7 2001:db8::11 0 65535\r\n";
  h = Complete(line6);
  EXPECT_EQ(h.source_address, "2001:db8::7");  // canonical form
  EXPECT_EQ(h.source_port, 0);
  EXPECT_EQ(h.destination_port, 65535);
  ExpectEveryPrefixIncomplete(line6);

  // The longest line the specification allows (107 bytes with CRLF) fits.
  const std::string longest =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
      " 65535 65535\r\n";
  ASSERT_EQ(longest.size(), 104u);
  EXPECT_EQ(Complete(longest).length, 104u);
}

TEST(ProxyProtocol, V1UnknownKeepsTheConnectionsAddresses) {
  ProxyHeader h = Complete("PROXY UNKNOWN\r\n");
  EXPECT_FALSE(h.proxied);
  EXPECT_EQ(h.length, 15u);
  // "the receiver must ignore anything presented before the CRLF"
  h = Complete("PROXY UNKNOWN ffff:f::1 whatever 1 2\r\nGET");
  EXPECT_FALSE(h.proxied);
  EXPECT_EQ(h.length, 38u);
}

TEST(ProxyProtocol, V1RefusesMalformedLines) {
  for (const std::string& line : std::vector<std::string>{
           "PROXY TCP4 192.0.2.7 10.0.0.11 51000 8443\n",     // LF alone
           "PROXY TCP4 192.0.2.7 10.0.0.11 51000 8443\rX",    // CR alone
           "PROXY TCP4 192.0.2.07 10.0.0.11 51000 8443\r\n",  // leading zero
           "PROXY TCP4 192.0.2.256 10.0.0.11 51000 8443\r\n",
           "PROXY TCP4 192.0.2 10.0.0.11 51000 8443\r\n",
           "PROXY TCP4 2001:db8::7 10.0.0.11 51000 8443\r\n",  // family mismatch
           "PROXY TCP6 192.0.2.7 2001:db8::11 51000 8443\r\n",
           "PROXY TCP6 2001:db8::g 2001:db8::11 51000 8443\r\n",
           "PROXY TCP4 192.0.2.7 10.0.0.11 65536 8443\r\n",  // port out of range
           "PROXY TCP4 192.0.2.7 10.0.0.11 051000 8443\r\n",
           "PROXY TCP4 192.0.2.7 10.0.0.11 -1 8443\r\n",
           "PROXY TCP4 192.0.2.7  10.0.0.11 51000 8443\r\n",  // two spaces
           "PROXY TCP4 192.0.2.7 10.0.0.11 51000\r\n",        // a field missing
           "PROXY TCP4 192.0.2.7 10.0.0.11 51000 8443 x\r\n",
           "PROXY UDP4 192.0.2.7 10.0.0.11 51000 8443\r\n",
           "PROXY tcp4 192.0.2.7 10.0.0.11 51000 8443\r\n",
           "PROXY \r\n",
           "PROXYTCP4\r\n",
           "proxy TCP4 192.0.2.7 10.0.0.11 51000 8443\r\n",
       }) {
    EXPECT_EQ(Refused(line).code(), ErrorCode::kMalformed) << line;
  }
}

TEST(ProxyProtocol, V1RefusesLinesWithoutCrlfWithin107Bytes) {
  std::string endless = "PROXY UNKNOWN " + std::string(200, 'a');
  EXPECT_EQ(Refused(endless.substr(0, 107)).code(), ErrorCode::kMalformed);
  EXPECT_EQ(Refused(endless).code(), ErrorCode::kMalformed);
  auto partial = ParseProxyHeader(endless.substr(0, 106));
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(partial->has_value());
  // CRLF as the 106th and 107th bytes is the longest line accepted.
  std::string longest = "PROXY UNKNOWN " + std::string(91, 'a') + "\r\n";
  ASSERT_EQ(longest.size(), 107u);
  EXPECT_EQ(Complete(longest).length, 107u);
  std::string one_more = "PROXY UNKNOWN " + std::string(92, 'a') + "\r\n";
  EXPECT_EQ(Refused(one_more).code(), ErrorCode::kMalformed);
}

TEST(ProxyProtocol, RefusesWhatIsNoHeaderAtAll) {
  // A TLS ClientHello (a client talking TLS straight to a port that expects a header), HTTP, and
  // near misses; each refused from its first bytes.
  for (const std::string& bytes : std::vector<std::string>{
           "\x16\x03\x01\x02\x00\x01"s, "GET / HTTP/1.1\r\n", "\r\n\r\nX", "PRX", "\0"s, " "}) {
    EXPECT_EQ(Refused(bytes).code(), ErrorCode::kMalformed) << testing::PrintToString(bytes);
  }
  auto empty = ParseProxyHeader("");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
}

// Whatever arrives, a reader holding kMaxProxyHeaderBytes gets a header or an error, never
// another "read more" (so its buffer never needs to grow), and a header never claims more bytes
// than it was given. A deterministic sweep over mutated valid headers, in the spirit of a fuzzer.
TEST(ProxyProtocol, AnswersWithinTheBoundForArbitraryBytes) {
  std::vector<std::string> seeds = {
      V2(0x21, 0x11, kTcp4Block), V2(0x21, 0x21, kTcp6Block), V2(0x20, 0x00, ""),
      "PROXY TCP4 192.0.2.7 10.0.0.11 51000 8443\r\n", "PROXY UNKNOWN\r\n"};
  uint32_t state = 12345;
  auto next = [&state] {
    state = state * 1103515245u + 12345u;
    return state >> 16;
  };
  for (int round = 0; round < 20000; ++round) {
    std::string bytes = seeds[next() % seeds.size()];
    const int edits = 1 + int(next() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = next() % (bytes.size() + 1);
      switch (next() % 3) {
        case 0:
          if (at < bytes.size()) bytes[at] = static_cast<char>(next());
          break;
        case 1:
          bytes.insert(at, 1, static_cast<char>(next()));
          break;
        default:
          if (at < bytes.size()) bytes.erase(at, 1);
      }
    }
    bytes.resize(std::max(bytes.size(), kMaxProxyHeaderBytes), '\x5a');
    auto r = ParseProxyHeader(bytes);
    if (r.ok()) {
      ASSERT_TRUE(r->has_value()) << testing::PrintToString(bytes.substr(0, 64));
      ASSERT_LE((*r)->length, kMaxProxyHeaderBytes);
      ASSERT_GT((*r)->length, 0u);
      if ((*r)->proxied) {
        ASSERT_FALSE((*r)->source_address.empty());
      }
    }
  }
}

}  // namespace
}  // namespace certfleet::net
