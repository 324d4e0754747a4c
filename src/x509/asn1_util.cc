#include "x509/asn1_util.h"

#include <arpa/inet.h>
#include <openssl/objects.h>

#include <chrono>
#include <cstring>
#include <ctime>

#include "base/time_util.h"

namespace certfleet::x509::internal {

TimePoint FloorToSeconds(TimePoint tp) { return std::chrono::floor<std::chrono::seconds>(tp); }

Status SetAsn1Time(ASN1_TIME* t, TimePoint tp) {
  time_t secs = static_cast<time_t>(ToUnixSeconds(FloorToSeconds(tp)));
  if (ASN1_TIME_set(t, secs) == nullptr) {
    return OsslError(ErrorCode::kInvalidArgument, "time not representable in X.509");
  }
  return Ok();
}

std::optional<TimePoint> Asn1TimeToTimePoint(const ASN1_TIME* t) {
  struct tm tm;
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    ClearOsslErrors();
    return std::nullopt;
  }
  using namespace std::chrono;
  sys_days day =
      year_month_day(year(tm.tm_year + 1900), month(static_cast<unsigned>(tm.tm_mon + 1)),
                     std::chrono::day(static_cast<unsigned>(tm.tm_mday)));
  sys_seconds secs = day + hours(tm.tm_hour) + minutes(tm.tm_min) + seconds(tm.tm_sec);
  // TimePoint counts nanoseconds and ends in 2262; RFC 5280 4.1.2.5's "no well-defined
  // expiration" (99991231235959Z) and other far dates saturate instead of overflowing.
  constexpr sys_seconds kMax = floor<seconds>(TimePoint::max());
  constexpr sys_seconds kMin = ceil<seconds>(TimePoint::min());
  if (secs >= kMax) return TimePoint::max();
  if (secs <= kMin) return TimePoint::min();
  return TimePoint(secs);
}

Status AddNameEntries(X509_NAME* name, std::string_view common_name,
                      std::string_view organization) {
  auto add = [&](int nid, std::string_view value) -> Status {
    if (value.empty()) return Ok();
    if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, Bytes(value),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      return OsslError(ErrorCode::kInvalidArgument,
                       std::string("cannot encode name attribute ") + OBJ_nid2sn(nid));
    }
    return Ok();
  };
  CF_TRY(add(NID_organizationName, organization));
  return add(NID_commonName, common_name);
}

Result<X509NamePtr> BuildName(std::string_view common_name, std::string_view organization) {
  X509NamePtr name(X509_NAME_new());
  if (!name) return OsslError(ErrorCode::kInternal, "X509_NAME_new");
  CF_TRY(AddNameEntries(name.get(), common_name, organization));
  return name;
}

std::string NameOneLine(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    ClearOsslErrors();
    return {};
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  return std::string(data, static_cast<size_t>(len));
}

std::string NameEntry(const X509_NAME* name, int nid) {
  int idx = -1;
  for (int next = -1; (next = X509_NAME_get_index_by_NID(name, nid, next)) >= 0;) idx = next;
  if (idx < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) {
    ClearOsslErrors();
    return {};
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::string StripLeadingZeros(std::string_view magnitude) {
  size_t i = 0;
  while (i < magnitude.size() && magnitude[i] == '\0') ++i;
  return std::string(magnitude.substr(i));
}

std::string IntegerMagnitude(const ASN1_INTEGER* i) {
  // OpenSSL keeps INTEGERs as sign (in the type) plus big-endian magnitude.
  return StripLeadingZeros(AsView(i));
}

Status SetPositiveInteger(ASN1_INTEGER* i, std::string_view magnitude) {
  std::string m = StripLeadingZeros(magnitude);
  if (m.empty()) return InvalidArgument("integer must be positive");
  // BN_to_ASN1_INTEGER writes the magnitude and a positive type into `i`; i2d adds the 0x00
  // sign octet when the top bit is set.
  BignumPtr bn(BN_bin2bn(Bytes(m), static_cast<int>(m.size()), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), i) == nullptr) {
    return OsslError(ErrorCode::kInternal, "BN_to_ASN1_INTEGER");
  }
  return Ok();
}

std::optional<std::string> ParseIpAddress(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  std::string z(text);  // inet_pton needs a NUL-terminated string
  unsigned char buf[16];
  if (inet_pton(AF_INET, z.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, z.c_str(), buf) == 1) {
    return std::string(reinterpret_cast<char*>(buf), 16);
  }
  return std::nullopt;
}

std::string IpAddressToText(std::string_view octets) {
  char buf[INET6_ADDRSTRLEN];
  int af = octets.size() == 4 ? AF_INET : octets.size() == 16 ? AF_INET6 : 0;
  if (af == 0 || inet_ntop(af, octets.data(), buf, sizeof(buf)) == nullptr) return {};
  return buf;
}

bool DerReader::Read(unsigned char tag, std::string_view* tlv, std::string_view* content) {
  if (in_.size() < 2 || static_cast<unsigned char>(in_[0]) != tag) return false;
  size_t len = static_cast<unsigned char>(in_[1]);
  size_t header = 2;
  if (len & 0x80) {
    // Long form: 1..3 length octets (lengths below 2^24), minimal as DER requires (X.690 10.1).
    size_t n = len & 0x7f;
    if (n == 0 || n > 3 || in_.size() < 2 + n || in_[2] == '\0') return false;
    len = 0;
    for (size_t k = 0; k < n; ++k) len = (len << 8) | static_cast<unsigned char>(in_[2 + k]);
    if (len < 0x80) return false;
    header += n;
  }
  if (in_.size() - header < len) return false;
  *tlv = in_.substr(0, header + len);
  *content = in_.substr(header, len);
  in_.remove_prefix(header + len);
  return true;
}

Result<SpkiParts> SplitSpki(std::string_view der) {
  std::string_view tlv, outer, alg, alg_content, bits;
  DerReader top(der);
  if (!top.Read(0x30, &tlv, &outer) || !top.empty()) {
    return Malformed("SubjectPublicKeyInfo is not one DER SEQUENCE");
  }
  DerReader in(outer);
  if (!in.Read(0x30, &alg, &alg_content) || !in.Read(0x03, &tlv, &bits) || !in.empty()) {
    return Malformed("SubjectPublicKeyInfo must be SEQUENCE { AlgorithmIdentifier, BIT STRING }");
  }
  if (bits.empty() || bits[0] != '\0') {
    return Malformed("subjectPublicKey BIT STRING must have 0 unused bits");
  }
  return SpkiParts{alg, bits.substr(1)};
}

std::string KeyIdentifier(std::string_view key_bits, const EVP_MD* sha1) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(key_bits.data(), key_bits.size(), md, &len, sha1, nullptr) != 1) {
    ClearOsslErrors();
    return {};
  }
  return std::string(reinterpret_cast<char*>(md), len);
}

}  // namespace certfleet::x509::internal
