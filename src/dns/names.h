// Checks for the names and values the dns-01 solver writes (issue #6). Each function returns Ok()
// or an InvalidArgument error that names the field and says what is allowed; input is quoted in
// messages only through QuoteForMessage (base/validate.h). Pure functions, thread-safe.
//
// Names are compared in canonical form: lower case, without the trailing dot (CanonicalName).
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

namespace certfleet::dns {

// RFC 1035 section 3.3 (<character-string>): one TXT string holds at most 255 octets.
inline constexpr size_t kMaxTxtValueBytes = 255;

// An owner name to write a record at, e.g. "_acme-challenge.app.example.test" (a trailing dot is
// accepted). Leading labels may be underscore labels ("_" then letters, digits, '-'; RFC 8552);
// the rest must pass ValidateDnsName without a wildcard (at least two labels).
Status ValidateRecordName(std::string_view fqdn);
// A zone apex, e.g. "example.test" (a trailing dot is accepted): letters, digits and '-' labels;
// one label is allowed (a TLD zone). Key names of TSIG keys follow the same rule.
Status ValidateZoneName(std::string_view zone);
// A TXT value: 1..255 bytes of printable ASCII (0x20..0x7e). ACME key authorizations digests
// are 43 characters of base64url.
Status ValidateTxtValue(std::string_view value);

// Lower case, without a trailing dot.
std::string CanonicalName(std::string_view name);
// True when `name` equals `zone` or lies below it (both canonical).
bool IsAtOrBelow(std::string_view name, std::string_view zone);

}  // namespace certfleet::dns
