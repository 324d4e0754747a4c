// ACME Renewal Information (RFC 9773): the certificate identifier and the renewal window.
//
// Contract: CertId returns "base64url(AKI keyIdentifier).base64url(serial)" where the serial is
// the DER INTEGER's content octets (a leading zero octet kept when the top bit is set), as
// section 4.1 requires; FailedPrecondition for a certificate without an authority key
// identifier. ParseRenewalInfo never throws: Malformed for a body without a well-formed
// suggestedWindow whose start is before its end (section 4.2). Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/error.h"
#include "x509/certificate.h"

namespace certfleet::acme {

Result<std::string> CertId(const x509::Certificate& cert);
// The same from the raw parts (key identifier bytes, serial magnitude without sign octet).
std::string CertIdFromParts(std::string_view key_identifier, std::string_view serial_magnitude);

struct RenewalInfo {
  TimePoint window_start;
  TimePoint window_end;
  std::string explanation_url;  // optional, already checked to be https
};
Result<RenewalInfo> ParseRenewalInfo(std::string_view body, bool allow_plain_http);

}  // namespace certfleet::acme
