// HTTPS client (Boost.Beast/Asio, synchronous with deadlines): for the CLI, the agent, webhook
// delivery, the ACME client and the ACME server's http-01 validation. Verifies the server
// certificate and host name against the given trust anchors (or the system store when none is
// given), unless told not to (ClientOptions::verify_server_certificate). Caps response bodies.
// Thread-safe: one client may be used from several threads; each call opens its own connection
// (and sends "Connection: close"), so calls never share state beyond the immutable TLS context.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/error.h"
#include "base/secret_bytes.h"
#include "net/address_policy.h"
#include "net/http.h"

namespace certfleet::net {

struct ClientOptions {
  std::string trust_pem;        // PEM bundle of trusted roots; empty = system default store
  std::string client_cert_pem;  // for mutual TLS, optional
  SecretBytes client_key_pem;
  std::chrono::milliseconds timeout{30000};  // per request: connect + write + read
  size_t max_response_bytes = 4 << 20;
  bool allow_plain_http = false;  // "http://" URLs are refused unless set (tests, webhooks)
  // False: an https:// server's certificate is not checked at all (chain, name, validity). Only
  // for the ACME server's http-01 validation, which follows redirects to https:// on the
  // identifier's own host (RFC 8555 section 8.3, 10.2): there the key authorization in the body
  // proves control, not the certificate, and the host often has no valid certificate yet. Such a
  // client must send nothing secret; Create() refuses it with trust_pem or a client certificate.
  bool verify_server_certificate = true;
  // When set, every address the host resolves to must pass (numeric form, e.g. "10.0.0.1",
  // "::1"), or the call fails with Forbidden before connecting. Checked on the very addresses
  // the connection uses, so a DNS answer cannot change in between (webhooks' SSRF guard).
  // Called from the calling thread; must be thread-safe if the client is shared.
  std::function<bool(std::string_view ip)> address_allowed;
  // When set, host names (not IP literals) are resolved by this instead of the system resolver
  // (address_policy.h); `address_allowed` applies to what it returns.
  NameResolver resolve;
};

struct Url {
  std::string scheme;        // "https" or "http"
  std::string host;          // lower-case; an IPv6 literal without its brackets ("::1")
  uint16_t port = 443;       // the scheme's default when the URL names none
  std::string target = "/";  // path and query, never empty; the fragment is dropped
};
// Accepts absolute http(s) URLs only. InvalidArgument for other schemes, userinfo ("user@"),
// whitespace or control characters anywhere, non-ASCII bytes, a bad host or port.
Result<Url> ParseUrl(std::string_view url);

class HttpsClient {
 public:
  // Builds the TLS context once. InvalidArgument if trust_pem, the client certificate or key do
  // not parse or do not match (the key PEM is wiped once loaded), or if a limit is zero.
  static Result<std::unique_ptr<HttpsClient>> Create(ClientOptions options);
  virtual ~HttpsClient() = default;
  // Any HTTP status is a successful Result; the caller interprets it.
  // Unavailable (retryable) for connection failures and timeouts (message says which; when the
  // host name did not resolve, or not in time, its cause() is a NotFound error),
  // Forbidden for certificate verification failures (and when the server rejects our client
  // certificate), TooLarge if the body exceeds the cap, Malformed for an unparseable response,
  // InvalidArgument for a bad URL, a refused http:// URL, or a method or header with characters
  // HTTP does not allow. The timeout covers connect, TLS handshake, write and read; name
  // resolution is further bounded only by the system resolver's own timeouts.
  virtual Result<HttpResponse> Do(const std::string& method, const std::string& url,
                                  const std::map<std::string, std::string>& headers,
                                  const std::string& body) = 0;
};

}  // namespace certfleet::net
