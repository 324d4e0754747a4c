// tls-alpn-01 (RFC 8737) without the network: the SNI name to send and the check of the
// certificate the responder presented. The handshake itself is net::ProbeTls (validator.cc).
#include <arpa/inet.h>

#include <cstdio>

#include "acme/server/validation_internal.h"
#include "base/validate.h"
#include "crypto/hash.h"
#include "x509/certificate.h"

namespace certfleet::acme::server::internal {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

ValidationFailure Tls(const Target& t, std::string what) {
  return {"tls", "tls-alpn-01 for " + t.host + ": " + std::move(what)};
}

// "dNSName "a.example", iPAddress 192.0.2.1, 1 other entry": what the certificate carries, for
// messages. The names come from a peer and are quoted (QuoteForMessage).
std::string DescribeSans(const x509::Certificate& cert) {
  std::string out;
  size_t described = 0;
  for (const std::string& d : cert.dns_names()) {
    out += (out.empty() ? "" : ", ") + ("dNSName " + QuoteForMessage(d));
    ++described;
  }
  for (const std::string& ip : cert.ip_addresses()) {
    out += (out.empty() ? "" : ", ") + ("iPAddress " + ip);
    ++described;
  }
  const size_t total = cert.subject_alt_name_count();
  if (total > described) {
    out += (out.empty() ? "" : ", ") + std::to_string(total - described) + " other entr" +
           (total - described == 1 ? "y" : "ies");
  }
  return out.empty() ? "none" : out;
}

}  // namespace

std::string TlsAlpnServerName(const Target& t) {
  if (!t.ip) return t.host;
  in_addr v4;
  if (inet_pton(AF_INET, t.host.c_str(), &v4) == 1) {
    const auto* b = reinterpret_cast<const unsigned char*>(&v4);
    return std::to_string(b[3]) + "." + std::to_string(b[2]) + "." + std::to_string(b[1]) + "." +
           std::to_string(b[0]) + ".in-addr.arpa";
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, t.host.c_str(), &v6) == 1) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (int i = 15; i >= 0; --i) {
      const unsigned char byte = v6.s6_addr[i];
      out += kHex[byte & 0x0f];
      out += '.';
      out += kHex[byte >> 4];
      out += '.';
    }
    return out + "ip6.arpa";
  }
  return t.host;  // not reached for a parsed Target
}

std::optional<ValidationFailure> CheckTlsAlpnCertificate(std::string_view der, const Target& t,
                                                         std::string_view key_authorization) {
  Result<x509::Certificate> parsed = x509::Certificate::FromDer(der);
  if (!parsed.ok()) return Tls(t, "the certificate presented cannot be parsed");
  const x509::Certificate& cert = *parsed;

  bool san_ok = cert.subject_alt_name_count() == 1;
  if (san_ok && t.ip) {
    const std::vector<std::string> ips = cert.ip_addresses();
    san_ok = ips.size() == 1 && CanonicalIp(ips[0]) == t.host;
  } else if (san_ok) {
    const std::vector<std::string> names = cert.dns_names();
    san_ok = names.size() == 1 && Lower(names[0]) == t.host;
  }
  if (!san_ok) {
    return Tls(t, std::string("the certificate must carry exactly one subjectAltName, the ") +
                      (t.ip ? "iPAddress " : "dNSName ") + t.host +
                      "; it carries: " + DescribeSans(cert));
  }

  std::vector<x509::RawExtension> found;
  for (x509::RawExtension& e : cert.extensions()) {
    if (e.oid == kAcmeIdentifierOid) found.push_back(std::move(e));
  }
  if (found.empty()) {
    return Tls(t, std::string("the certificate has no acmeIdentifier extension (") +
                      kAcmeIdentifierOid + ")");
  }
  if (found.size() > 1) return Tls(t, "the certificate has more than one acmeIdentifier extension");
  if (!found[0].critical) return Tls(t, "the acmeIdentifier extension is not marked critical");
  // Authorization ::= OCTET STRING (SIZE (32)) (RFC 8737 section 3): in DER, tag 0x04, length
  // 0x20, then the digest.
  const std::string& value = found[0].value;
  if (value.size() != 34 || value[0] != '\x04' || value[1] != '\x20') {
    return Tls(t, "the acmeIdentifier extension is not an OCTET STRING of 32 octets");
  }
  if (value.substr(2) != crypto::Sha256(key_authorization)) {
    return ValidationFailure{"incorrectResponse",
                             "tls-alpn-01 for " + t.host +
                                 ": the acmeIdentifier extension holds the SHA-256 digest of "
                                 "another key authorization than this challenge's"};
  }
  return std::nullopt;
}

}  // namespace certfleet::acme::server::internal
