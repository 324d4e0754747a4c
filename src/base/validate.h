// Input validation shared by the API, the CLI and the lint. Each function returns Ok() or an
// InvalidArgument error whose message names the offending field and says what is allowed. The
// messages quote the input only after it has been checked to be short printable ASCII.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/error.h"

namespace certfleet {

// A DNS name for a certificate SAN (RFC 1035 section 2.3.1 preferred syntax, RFC 5890 A-labels,
// Baseline Requirements 7.1.2.7.12): lower or upper case LDH labels of 1..63 octets, total at most
// 253, no leading or trailing hyphen, at least two labels, no trailing dot, no IP address
// literal, and optionally one leading "*." wildcard label when allow_wildcard is set.
Status ValidateDnsName(std::string_view name, bool allow_wildcard = true);
bool IsWildcard(std::string_view name);

// A resource name: 1..64 characters of [A-Za-z0-9._-], starting with a letter or digit.
Status ValidateName(std::string_view field, std::string_view name);

// Tags: at most 50; keys 1..64 of [A-Za-z0-9._/-] starting alphanumeric; values 0..256 printable
// ASCII without control characters.
Status ValidateTags(const std::map<std::string, std::string>& tags);

// Printable ASCII (0x20..0x7e) only.
bool IsPrintableAscii(std::string_view s);

// Quotes s for an error message if it is short printable ASCII, else describes it.
std::string QuoteForMessage(std::string_view s);

}  // namespace certfleet
