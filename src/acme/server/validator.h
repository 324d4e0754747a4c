// The ACME server's challenge validation and CAA checks (issue #16; RFC 8555 section 8.3 and
// 8.4, RFC 8737 tls-alpn-01, RFC 8738 IP identifiers, RFC 8659 CAA).
//
// The server connects where the client's DNS points, so every connection goes through the
// validation dialer: only public addresses, plus the networks certfleetd's own configuration
// allows ([network] allow_private, e.g. "127.0.0.0/8" in tests). The check runs on the address
// actually dialled, after resolution. Timeouts are short, HTTP redirects are followed only to the
// same host (at most 10, to port 80/443-style http/https URLs of that host as RFC 8555 8.3 says),
// response bodies are read up to a small limit.
//
// A failed validation is a ValidationFailure with the RFC 8555 problem type that names why:
// "connection" (refused, timed out, address not allowed), "dns" (no such name, SERVFAIL, no TXT),
// "incorrectResponse" (wrong key authorization, wrong TXT value, wrong HTTP status), "tls"
// (handshake, ALPN or certificate problems in tls-alpn-01), "caa" (a CAA record set that does not
// allow this CA). The detail is for the ACME client: it names the identifier and the check, never
// the resolved private address of a refused destination.
//
// Thread-safe: Validate*/CheckCaa may run concurrently.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "net/address_policy.h"

namespace certfleet::acme::server {

struct ValidationFailure {
  std::string type;  // short ACME problem type: "connection", "dns", "incorrectResponse", ...
  std::string detail;
};

// What a challenge asks to check. `identifier` is a DNS name (without "*.") or, for type "ip",
// an IPv4/IPv6 address.
struct ValidationRequest {
  std::string identifier_type = "dns";  // "dns" or "ip"
  std::string identifier;
  std::string token;              // the challenge token (base64url)
  std::string key_authorization;  // token "." thumbprint
};

class Validator {
 public:
  virtual ~Validator() = default;
  // http-01: GET http://<identifier>:<http01_port>/.well-known/acme-challenge/<token> answers
  // 200 with the key authorization (surrounding whitespace ignored).
  virtual std::optional<ValidationFailure> ValidateHttp01(const ValidationRequest& r) = 0;
  // dns-01: a TXT record at _acme-challenge.<identifier> (CNAMEs followed) equals
  // base64url(SHA-256(key authorization)). DNS identifiers only.
  virtual std::optional<ValidationFailure> ValidateDns01(const ValidationRequest& r) = 0;
  // tls-alpn-01: a TLS handshake to <identifier>:<tls_alpn01_port> with ALPN "acme-tls/1" and
  // SNI = the identifier (or the reverse-DNS name of an IP, RFC 8738 section 6) returns a
  // self-signed certificate whose only SAN is the identifier and whose critical acmeIdentifier
  // extension (1.3.6.1.5.5.7.1.31) holds SHA-256 of the key authorization.
  virtual std::optional<ValidationFailure> ValidateTlsAlpn01(const ValidationRequest& r) = 0;
  // CAA (RFC 8659): climbs from `domain` to the first name with a CAA record set; none anywhere
  // allows issuance. A set allows it if an "issue" (or, for a wildcard, "issuewild" when present)
  // property names one of `issuer_domains`; unknown critical properties forbid issuance. DNS
  // lookup failures (SERVFAIL, timeout) are failures of type "dns": RFC 8659 says not to issue.
  virtual std::optional<ValidationFailure> CheckCaa(const std::string& domain, bool wildcard) = 0;
};

struct ValidatorOptions {
  int http01_port = 80;       // certfleetd --acme-http01-port
  int tls_alpn01_port = 443;  // certfleetd --acme-tls-alpn01-port
  // "HOST:PORT" of the DNS server for dns-01 and CAA (certfleetd --acme-resolver); empty: the
  // first nameserver of /etc/resolv.conf.
  std::string resolver;
  // Non-public networks the validator may reach ([network] allow_private); public addresses are
  // always allowed.
  std::vector<net::Cidr> allow_private;
  // CAA issuer domains that identify this CA ("issue" values), e.g. {"certfleet.example"}.
  // Empty: CAA is not checked.
  std::vector<std::string> caa_issuer_domains;
  std::chrono::milliseconds timeout{5000};  // per connection / per DNS query
};

// The real validator: HTTP through net::HttpsClient's plain-HTTP mode with an address filter,
// DNS through the dns module's resolver, TLS through OpenSSL.
std::unique_ptr<Validator> NewNetValidator(ValidatorOptions options);

}  // namespace certfleet::acme::server
