// NewNetValidator (validator.h): http-01 through net::HttpsClient, dns-01 and CAA through the dns
// module's resolver lookups, tls-alpn-01 through net::ProbeTls. Every connection to the
// identifier's host uses one address filter (public addresses, plus ValidatorOptions::
// allow_private), checked on the addresses the host resolves to before anything is dialled.
//
// http-01 redirects: at most kMaxRedirects, each to http:// on the http-01 port or https:// on
// the tls-alpn-01 port (both 80/443 in production: the host's HTTP and HTTPS ports, which is what
// RFC 8555 section 8.3 and 10.2 leave a CA to choose) of the identifier itself, nowhere else. The
// https:// certificate is not verified: the key authorization in the body is the proof, and a
// host asking for its first certificate has none that verifies. Each request of the chain has the
// full ValidatorOptions::timeout, so one http-01 check takes at most 11 of them.
#include "acme/server/validator.h"

#include <arpa/inet.h>

#include <algorithm>

#include "acme/server/validation_internal.h"
#include "base/encoding.h"
#include "base/validate.h"
#include "crypto/hash.h"
#include "dns/resolver.h"
#include "net/http01_responder.h"
#include "net/https_client.h"
#include "net/tls_probe.h"

namespace certfleet::acme::server {
namespace internal {
namespace {

// RFC 1123 host names: LDH labels of 1..63 octets without a leading or trailing '-', at most 253
// octets in all, not a dotted number (an IP address is not a DNS identifier).
bool IsHostName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  bool all_digits_and_dots = true;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      const bool digit = c >= '0' && c <= '9';
      if (!digit && !(c >= 'a' && c <= 'z') && c != '-') return false;
      all_digits_and_dots &= digit;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return !all_digits_and_dots;
}

}  // namespace

std::optional<std::string> CanonicalIp(std::string_view text) {
  const std::string s(text);
  char out[INET6_ADDRSTRLEN] = {};
  in_addr v4;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    return inet_ntop(AF_INET, &v4, out, sizeof out) != nullptr ? std::optional(std::string(out))
                                                               : std::nullopt;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    return inet_ntop(AF_INET6, &v6, out, sizeof out) != nullptr ? std::optional(std::string(out))
                                                                : std::nullopt;
  }
  return std::nullopt;
}

std::string ResolverFailure(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kUnavailable:
      return "the resolver answered SERVFAIL or not in time";
    case ErrorCode::kForbidden:
      return "the resolver refused the query";
    case ErrorCode::kFailedPrecondition:  // a CNAME loop or chain names DNS names only
      return e.message().rfind("CNAME", 0) == 0 ? e.message() : "the resolver answered an error";
    case ErrorCode::kMalformed:
      return "the answer could not be parsed";
    case ErrorCode::kInvalidArgument:
      return "not a valid DNS name";
    default:
      return "the lookup failed";
  }
}

std::string HostForUrl(const Target& t) {
  return t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
}

Result<Target> ParseTarget(const ValidationRequest& r, std::string_view challenge) {
  const std::string what = std::string(challenge) + ": ";
  Target t;
  if (r.identifier_type == "ip") {
    std::optional<std::string> ip = CanonicalIp(r.identifier);
    if (!ip)
      return InvalidArgument(what + "identifier " + QuoteForMessage(r.identifier) +
                             " is not an IP address");
    t.ip = true;
    t.host = std::move(*ip);
  } else if (r.identifier_type == "dns") {
    // LDH labels only (which also keeps the name safe in a URL and an SNI field); a single label
    // is allowed here, the order layer decides what may be ordered.
    std::string name = r.identifier;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
      return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    });
    if (!IsHostName(name)) {
      return InvalidArgument(what + "identifier " + QuoteForMessage(r.identifier) +
                             " is not a valid DNS name");
    }
    t.host = std::move(name);
  } else {
    return InvalidArgument(what + "unknown identifier type " + QuoteForMessage(r.identifier_type));
  }
  if (r.token.empty() || r.token.size() > net::kMaxHttp01TokenLength || !IsBase64Url(r.token)) {
    return InvalidArgument(what + "the challenge token is not base64url");
  }
  if (r.key_authorization.empty()) return InvalidArgument(what + "no key authorization");
  return t;
}

}  // namespace internal

namespace {

using internal::Target;

constexpr int kMaxRedirects = 10;
constexpr size_t kMaxHttp01BodyBytes = 8 * 1024;
// Bodies are quoted back to the client up to this many characters.
constexpr size_t kMaxQuotedBody = 64;

// A host name that did not resolve: HttpsClient and ProbeTls give it a NotFound cause.
bool Unresolved(const Error& e) {
  return e.cause() != nullptr && e.cause()->code() == ErrorCode::kNotFound;
}

bool PortOk(int port) { return port > 0 && port <= 65535; }

ValidationFailure Failure(std::string type, std::string detail) {
  return {std::move(type), std::move(detail)};
}

std::string Trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return std::string(s);
}

std::string QuoteBody(std::string_view body) {
  if (body.size() > kMaxQuotedBody) {
    return QuoteForMessage(body.substr(0, kMaxQuotedBody)) + " (cut at " +
           std::to_string(kMaxQuotedBody) + " of " + std::to_string(body.size()) + " bytes)";
  }
  return QuoteForMessage(body);
}

// The refusal of a destination outside the allowed networks: names the identifier's host only,
// never the address it resolved to (address_policy.h).
ValidationFailure Refused(std::string_view challenge, const Target& t) {
  return Failure("connection", std::string(challenge) + " for " + t.host +
                                   ": this CA does not connect to " + t.host + ": " +
                                   (t.ip ? "it is" : "it resolves to") +
                                   " an address in a network the CA may not reach (private, "
                                   "loopback or reserved)");
}

class NetValidator final : public Validator {
 public:
  explicit NetValidator(ValidatorOptions options) : options_(std::move(options)) {
    filter_ = net::OutboundPolicy({net::OutboundRule{{net::kAnyAccount}, options_.allow_private}})
                  .FilterFor("acme-validator");
    net::ClientOptions http;
    http.timeout = options_.timeout;
    http.max_response_bytes = kMaxHttp01BodyBytes;
    http.allow_plain_http = true;
    http.verify_server_certificate = false;
    http.address_allowed = filter_;
    if (!options_.resolver.empty()) {
      Result<dns::DnsServer> parsed = dns::ParseDnsServer(options_.resolver);
      if (parsed.ok()) resolver_ = std::move(*parsed);
      // With --acme-resolver, http-01 and tls-alpn-01 resolve names through it too: the
      // identifier's addresses are the ones the CA's DNS sees, as for dns-01 and CAA.
      resolve_ = [this](const std::string& host) -> Result<std::vector<std::string>> {
        if (!resolver_) return Unavailable("no DNS resolver is configured");
        CF_ASSIGN_OR_RETURN(dns::AddressLookup found,
                            dns::ResolveAddresses(*resolver_, host, options_.timeout));
        return std::move(found.addresses);
      };
      http.resolve = resolve_;
    }
    // Fails only for a non-positive timeout; the http-01 checks then fail as misconfigured.
    Result<std::unique_ptr<net::HttpsClient>> client = net::HttpsClient::Create(std::move(http));
    if (client.ok()) http_ = std::move(*client);
    if (options_.resolver.empty()) {
      Result<dns::DnsServer> system = dns::SystemResolver();
      if (system.ok()) resolver_ = std::move(*system);
    }
  }

  std::optional<ValidationFailure> ValidateHttp01(const ValidationRequest& r) override {
    Result<Target> target = internal::ParseTarget(r, "http-01");
    if (!target.ok()) return Failure("malformed", target.error().message());
    const Target& t = *target;
    if (!http_ || !PortOk(options_.http01_port) || !PortOk(options_.tls_alpn01_port)) {
      return Failure("serverInternal", "http-01: the CA's validator is misconfigured");
    }
    const std::string first =
        "http://" + internal::HostForUrl(t) +
        (options_.http01_port == 80 ? std::string() : ":" + std::to_string(options_.http01_port)) +
        std::string(net::kHttp01PathPrefix) + r.token;
    Result<net::Url> url = net::ParseUrl(first);
    if (!url.ok()) return Failure("malformed", "http-01 for " + t.host + ": bad URL " + first);
    const std::string prefix = "http-01 for " + t.host + ": ";
    for (int redirects = 0;; ++redirects) {
      const std::string shown = internal::UrlText(*url);
      Result<net::HttpResponse> response =
          http_->Do("GET", shown, {{"Accept", "*/*"}}, std::string());
      if (!response.ok()) {
        const Error& e = response.error();
        switch (e.code()) {
          case ErrorCode::kForbidden:  // only the address filter: nothing is verified
            return Refused("http-01", t);
          case ErrorCode::kTooLarge:
            return Failure("incorrectResponse", prefix + "the response to GET " + shown +
                                                    " is larger than " +
                                                    std::to_string(kMaxHttp01BodyBytes) + " bytes");
          case ErrorCode::kMalformed:
            return Failure("incorrectResponse",
                           prefix + "GET " + shown + " got a malformed HTTP response");
          default:
            // Unavailable: HttpsClient's message names the phase and host:port, no address.
            return Failure(Unresolved(e) ? "dns" : "connection",
                           prefix + "GET " + shown + " failed: " + e.message());
        }
      }
      const int status = response->status;
      if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
        auto location = response->headers.find("location");
        if (location == response->headers.end() || location->second.empty()) {
          return Failure("incorrectResponse", prefix + "GET " + shown + " answered " +
                                                  std::to_string(status) + " without a Location");
        }
        if (redirects == kMaxRedirects) {
          return Failure("incorrectResponse", prefix + "more than " +
                                                  std::to_string(kMaxRedirects) +
                                                  " redirects, the last from " + shown);
        }
        Result<net::Url> next = internal::ResolveRedirect(*url, location->second);
        if (!next.ok()) {
          return Failure("incorrectResponse", prefix + shown + " redirects to " +
                                                  QuoteForMessage(location->second) +
                                                  ", which is no valid http(s) URL");
        }
        if (std::optional<std::string> why = RedirectRefusal(*next, t)) {
          return Failure("connection", prefix + shown + " redirects to " +
                                           QuoteForMessage(internal::UrlText(*next)) +
                                           "; redirects are followed only " + *why);
        }
        url = std::move(next);
        continue;
      }
      if (status != 200) {
        return Failure("incorrectResponse", prefix + "GET " + shown + " answered " +
                                                std::to_string(status) + ", not 200");
      }
      if (Trim(response->body) != r.key_authorization) {
        return Failure("incorrectResponse",
                       prefix + "the body of " + shown +
                           " is not the key authorization of this challenge: got " +
                           QuoteBody(Trim(response->body)));
      }
      return std::nullopt;
    }
  }

  std::optional<ValidationFailure> ValidateDns01(const ValidationRequest& r) override {
    Result<Target> target = internal::ParseTarget(r, "dns-01");
    if (!target.ok()) return Failure("malformed", target.error().message());
    const Target& t = *target;
    if (t.ip) return Failure("malformed", "dns-01 is not available for IP identifiers (RFC 8738)");
    if (!resolver_) return NoResolver("dns-01");
    const std::string name = "_acme-challenge." + t.host;
    const std::string prefix = "dns-01 for " + t.host + ": ";
    Result<dns::TxtLookup> txt = dns::ResolveTxt(*resolver_, name, options_.timeout);
    if (!txt.ok()) {
      return Failure("dns", prefix + "TXT lookup for " + name +
                                " failed: " + internal::ResolverFailure(txt.error()));
    }
    const std::string at = txt->name == name ? name : name + " (CNAME to " + txt->name + ")";
    if (txt->nxdomain) {
      return Failure("dns", prefix + "no TXT record at " + at + ": the name does not exist");
    }
    if (txt->values.empty()) return Failure("dns", prefix + "no TXT record at " + at);
    const std::string expected = Base64UrlEncode(crypto::Sha256(r.key_authorization));
    for (const std::string& v : txt->values) {
      if (v == expected) return std::nullopt;
    }
    std::string found;
    for (size_t i = 0; i < txt->values.size() && i < 3; ++i) {
      found += (i == 0 ? "" : ", ") + QuoteForMessage(txt->values[i]);
    }
    if (txt->values.size() > 3) found += ", ...";
    return Failure("incorrectResponse",
                   prefix + "no TXT record at " + at +
                       " holds the digest of this challenge's key authorization; found " + found);
  }

  std::optional<ValidationFailure> ValidateTlsAlpn01(const ValidationRequest& r) override {
    Result<Target> target = internal::ParseTarget(r, "tls-alpn-01");
    if (!target.ok()) return Failure("malformed", target.error().message());
    const Target& t = *target;
    if (!PortOk(options_.tls_alpn01_port)) {
      return Failure("serverInternal", "tls-alpn-01: the CA's validator is misconfigured");
    }
    net::TlsProbeRequest probe;
    probe.host = t.host;
    probe.port = static_cast<uint16_t>(options_.tls_alpn01_port);
    probe.server_name = internal::TlsAlpnServerName(t);
    probe.alpn = {internal::kAcmeTlsAlpnProtocol};
    probe.timeout = options_.timeout;
    probe.address_allowed = filter_;
    probe.resolve = resolve_;
    const std::string prefix = "tls-alpn-01 for " + t.host + ": ";
    Result<net::TlsProbeResult> result = net::ProbeTls(probe);
    if (!result.ok()) {
      const Error& e = result.error();
      switch (e.code()) {
        case ErrorCode::kForbidden:
          return Refused("tls-alpn-01", t);
        case ErrorCode::kFailedPrecondition:
          return Failure("tls", prefix + e.message());
        case ErrorCode::kInvalidArgument:  // our own settings (a bad timeout)
          return Failure("serverInternal", prefix + "the CA cannot connect: " + e.message());
        default:
          return Failure(Unresolved(e) ? "dns" : "connection", prefix + e.message());
      }
    }
    if (result->alpn != internal::kAcmeTlsAlpnProtocol) {
      return Failure("tls", prefix + "the server at " + internal::HostForUrl(t) + ":" +
                                std::to_string(options_.tls_alpn01_port) +
                                " did not negotiate the acme-tls/1 protocol (ALPN)");
    }
    return internal::CheckTlsAlpnCertificate(result->peer_certificate_der, t, r.key_authorization);
  }

  std::optional<ValidationFailure> CheckCaa(const std::string& domain, bool wildcard) override {
    if (options_.caa_issuer_domains.empty()) return std::nullopt;
    // CAA governs DNS names; RFC 8738 has no CAA for IP addresses.
    if (internal::CanonicalIp(domain)) return std::nullopt;
    if (!resolver_) return NoResolver("CAA");
    return internal::CheckCaaTree(domain, wildcard, options_.caa_issuer_domains,
                                  [this](const std::string& name) {
                                    return dns::ResolveCaa(*resolver_, name, options_.timeout);
                                  });
  }

 private:
  // nullopt if the redirect target may be fetched, else the rule it breaks.
  std::optional<std::string> RedirectRefusal(const net::Url& next, const Target& t) const {
    const std::string rule =
        "to http://" + internal::HostForUrl(t) + ":" + std::to_string(options_.http01_port) +
        " or https://" + internal::HostForUrl(t) + ":" + std::to_string(options_.tls_alpn01_port);
    const bool same_host = t.ip ? internal::CanonicalIp(next.host) == t.host : next.host == t.host;
    if (!same_host) return rule;
    if (next.scheme == "http" && next.port == options_.http01_port) return std::nullopt;
    if (next.scheme == "https" && next.port == options_.tls_alpn01_port) return std::nullopt;
    return rule;
  }

  ValidationFailure NoResolver(std::string_view what) const {
    return Failure("dns", std::string(what) + ": the CA has no usable DNS resolver configured");
  }

  const ValidatorOptions options_;
  net::AddressFilter filter_;
  std::unique_ptr<net::HttpsClient> http_;  // null if it could not be created
  std::optional<dns::DnsServer> resolver_;
  // Resolves http-01 and tls-alpn-01 names through resolver_ when --acme-resolver is set.
  net::NameResolver resolve_;
};

}  // namespace

std::unique_ptr<Validator> NewNetValidator(ValidatorOptions options) {
  return std::make_unique<NetValidator>(std::move(options));
}

}  // namespace certfleet::acme::server
