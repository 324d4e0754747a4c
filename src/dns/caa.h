// CAA resource records (RFC 8659 section 4.1), for the ACME server's CAA check (issue #16). Only
// the record format lives here; which records matter for a name (the tree climb of section 3) and
// what "issue" and "issuewild" values mean are the ACME server's business. Pure functions,
// thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certfleet::dns {

// The CAA RR type (IANA).
inline constexpr uint16_t kCaaRrType = 257;
// RFC 8659 section 4.1: the tag is 1..15 ASCII letters and digits.
inline constexpr size_t kMaxCaaTagLength = 15;

struct CaaRecord {
  uint8_t flags = 0;
  std::string tag;    // as sent; tags compare case-insensitively (RFC 8659 section 4.1)
  std::string value;  // the raw octets after the tag
  // The Issuer Critical Flag: bit 0, the most significant bit of the flags octet (value 128).
  bool critical() const { return (flags & 0x80) != 0; }
};

// Parses CAA RDATA: a flags octet, a tag length octet (1..15), the tag (ASCII letters and digits
// only), then the value (every remaining octet; may be empty). Malformed naming what is wrong
// otherwise (truncated data, a tag length of 0 or above 15, other characters in the tag).
Result<CaaRecord> ParseCaaRdata(std::string_view rdata);

}  // namespace certfleet::dns
