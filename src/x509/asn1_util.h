// Conversions between certfleet values and OpenSSL ASN.1 objects shared by the x509 sources:
// times, names, serials, IP addresses and SubjectPublicKeyInfo framing. Internal to src/x509.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/error.h"
#include "x509/ossl.h"

namespace certfleet::x509::internal {

// Sets `t` to `tp` (whole seconds, floored). ASN1_TIME_set picks UTCTime for 1950..2049 and
// GeneralizedTime otherwise, as RFC 5280 section 4.1.2.5 requires.
Status SetAsn1Time(ASN1_TIME* t, TimePoint tp);
// nullopt if `t` is null or not a valid time.
std::optional<TimePoint> Asn1TimeToTimePoint(const ASN1_TIME* t);
// Floors to whole seconds (X.509 times have second precision).
TimePoint FloorToSeconds(TimePoint tp);

// Subject/issuer name: O (if non-empty) then CN (if non-empty), as UTF8String, so the RFC 2253
// rendering reads "CN=...,O=...".
Result<X509NamePtr> BuildName(std::string_view common_name, std::string_view organization);
// The same entries, appended to an existing (empty) name.
Status AddNameEntries(X509_NAME* name, std::string_view common_name, std::string_view organization);
// RFC 2253 one-line form, UTF-8 kept readable (no \XX escaping of non-ASCII).
std::string NameOneLine(const X509_NAME* name);
// UTF-8 value of the last entry with `nid` (the most specific one), empty if none.
std::string NameEntry(const X509_NAME* name, int nid);

// Big-endian magnitude with leading zero octets removed.
std::string StripLeadingZeros(std::string_view magnitude);
// The magnitude of an INTEGER, without leading zero octets.
std::string IntegerMagnitude(const ASN1_INTEGER* i);
// Sets `i` to the positive integer whose big-endian magnitude is `magnitude`. DER adds the 0x00
// sign octet itself when the top bit is set.
Status SetPositiveInteger(ASN1_INTEGER* i, std::string_view magnitude);

// Textual IPv4/IPv6 to the 4- or 16-octet network form; nullopt if not an address.
std::optional<std::string> ParseIpAddress(std::string_view text);
// 4 or 16 octets to text (inet_ntop form); empty for other lengths.
std::string IpAddressToText(std::string_view octets);

// A strict reader of definite-length DER TLVs with single-octet tags (all certfleet needs for
// Certificate, TBSCertificate and SubjectPublicKeyInfo framing). Lengths must be minimal.
class DerReader {
 public:
  explicit DerReader(std::string_view in) : in_(in) {}
  // Consumes the next TLV if its tag is `tag`; sets the whole TLV and its contents.
  bool Read(unsigned char tag, std::string_view* tlv, std::string_view* content);
  bool Peek(unsigned char tag) const {
    return !in_.empty() && static_cast<unsigned char>(in_[0]) == tag;
  }
  bool empty() const { return in_.empty(); }

 private:
  std::string_view in_;
};

// The two parts of a SubjectPublicKeyInfo (RFC 5280 section 4.1): the complete
// AlgorithmIdentifier TLV and the subjectPublicKey BIT STRING contents without the unused-bits
// octet. Views into the input.
struct SpkiParts {
  std::string_view algorithm_der;
  std::string_view key_bits;
};
// Malformed unless `der` is exactly one DER SEQUENCE { SEQUENCE, BIT STRING (0 unused bits) }.
Result<SpkiParts> SplitSpki(std::string_view der);

// RFC 5280 section 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. `sha1` may be a
// pre-fetched EVP_MD (hot path) or EVP_sha1().
std::string KeyIdentifier(std::string_view key_bits, const EVP_MD* sha1);

}  // namespace certfleet::x509::internal
