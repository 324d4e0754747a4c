// Private to src/acme/server: the pieces of NewNetValidator (validator.h) that need no network,
// split out so that they can be tested one by one. Pure functions, thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/server/validator.h"
#include "base/error.h"
#include "dns/caa.h"
#include "dns/resolver.h"
#include "net/https_client.h"

namespace certfleet::acme::server::internal {

// --- identifiers (validator.cc) -------------------------------------------------------------

// The host a challenge connects to: a lower-case DNS name, or an IP address in canonical text
// form (inet_ntop: "192.0.2.1", "2001:db8::1").
struct Target {
  bool ip = false;
  std::string host;
};
// Checks the request's identifier (a syntactically valid host name: LDH labels, no wildcard; or
// an IPv4/IPv6 address for type "ip"), its token (base64url, at most
// net::kMaxHttp01TokenLength characters) and that a key authorization is given. The policy on
// which names may be ordered (public suffixes, single labels) is the order layer's, not this.
// A failure of type "malformed" otherwise, naming `challenge`.
Result<Target> ParseTarget(const ValidationRequest& r, std::string_view challenge);
// The canonical text of an IPv4 or IPv6 address; nullopt if `text` is not one.
std::optional<std::string> CanonicalIp(std::string_view text);
// Client-facing words for a failed dns/resolver.h lookup: the dns module's messages name the CA's
// resolver, which is not the ACME client's business.
std::string ResolverFailure(const Error& e);
// "[v6]" or the host as is, for URLs and messages.
std::string HostForUrl(const Target& t);

// --- http-01 (http01.cc) ----------------------------------------------------------------------

// "scheme://host[:port]/target", the port omitted when it is the scheme's default.
std::string UrlText(const net::Url& url);
// The absolute URL a redirect's Location value names, resolved against `base` (RFC 3986
// section 5.2 for the forms servers send: absolute "http(s)://...", scheme-relative
// "//host/path", absolute-path "/path", query-only "?q" and relative-path "path"; dot segments
// are left to the server). InvalidArgument when the result is no valid http(s) URL (ParseUrl).
Result<net::Url> ResolveRedirect(const net::Url& base, std::string_view location);

// --- CAA (caa.cc) -------------------------------------------------------------------------

// The issuer domain of an "issue" or "issuewild" value (RFC 8659 section 4.2: issuer-domain-name
// before an optional ";" and parameters, which are ignored here), lower-cased; "" when the value
// names no issuer (";" alone: nobody may issue); nullopt when it is not a valid domain name.
std::optional<std::string> CaaIssuerDomain(std::string_view value);
// Whether a non-empty relevant CAA record set allows `issuer_domains` to issue (RFC 8659
// sections 4.2 and 4.3): nullopt if it does, else the reason. A critical property with a tag
// other than issue, issuewild and iodef forbids issuance. For a wildcard the "issuewild"
// properties decide when there is at least one, the "issue" ones otherwise; a set without any
// property of the deciding tag does not restrict issuance.
std::optional<std::string> CaaSetForbids(const std::vector<dns::CaaRecord>& records,
                                         const std::vector<std::string>& issuer_domains,
                                         bool wildcard);
using CaaLookupFn = std::function<Result<dns::CaaLookup>(const std::string& name)>;
// The tree climb of RFC 8659 section 3: asks `lookup` for `domain`, then its parents up to and
// including the TLD, and judges the first non-empty record set (CaaSetForbids). Failures: "dns"
// for a lookup error (RFC 8659 says not to issue then), "caa" for a set that forbids issuance or
// cannot be parsed. nullopt when issuance is allowed (also when no name has CAA records).
std::optional<ValidationFailure> CheckCaaTree(const std::string& domain, bool wildcard,
                                              const std::vector<std::string>& issuer_domains,
                                              const CaaLookupFn& lookup);

// --- tls-alpn-01 (tls_alpn.cc) ------------------------------------------------------------

inline constexpr char kAcmeTlsAlpnProtocol[] = "acme-tls/1";
inline constexpr char kAcmeIdentifierOid[] = "1.3.6.1.5.5.7.1.31";  // id-pe-acmeIdentifier
// The SNI name of a tls-alpn-01 handshake: the DNS identifier, or for an IP address its
// reverse-mapping name (RFC 8738 section 6: "1.2.0.192.in-addr.arpa", nibbles under ip6.arpa).
std::string TlsAlpnServerName(const Target& t);
// Checks the certificate a tls-alpn-01 responder presented (RFC 8737 section 3): exactly one
// subjectAltName entry, a dNSName equal to the identifier (an iPAddress for IP identifiers), and
// exactly one id-pe-acmeIdentifier extension, critical, whose value is the DER OCTET STRING of
// SHA-256(key authorization). "tls" for a certificate that does not have that form,
// "incorrectResponse" for a well-formed extension holding another digest.
std::optional<ValidationFailure> CheckTlsAlpnCertificate(std::string_view der, const Target& t,
                                                         std::string_view key_authorization);

}  // namespace certfleet::acme::server::internal
