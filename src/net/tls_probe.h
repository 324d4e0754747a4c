// A TLS handshake and nothing more, for the ACME server's tls-alpn-01 validation (RFC 8737,
// issue #16): connect to host:port, offer the given ALPN protocols and SNI name, accept whatever
// certificate the server presents (tls-alpn-01 certificates are self-signed; the caller checks
// them), and report the negotiated protocol and the server's certificate. The connection is
// closed right after the handshake; no application data is exchanged.
//
// The connection rules are HttpsClient's: the host is resolved with the system resolver, every
// address it resolves to must pass `address_allowed` before anything is dialled (otherwise
// PrivateDestinationRefused, naming the host only), and `timeout` bounds connect and handshake
// together. TLS 1.2 or later, with the policy of the rest of the module (tls_context.h).
//
// Errors: InvalidArgument for a bad request (empty host, port 0, an ALPN protocol of 0 or more
// than 255 bytes, a bad SNI name); Forbidden as above; Unavailable (retryable) when the host does
// not resolve (then with a NotFound cause(), as HttpsClient), the connection is refused or the
// deadline passes (the message says which, naming host:port and never a resolved address);
// FailedPrecondition when the TLS handshake fails (an
// alert such as no_application_protocol, no common version or cipher, a peer that does not speak
// TLS, a close during the handshake). Thread-safe: each call has its own context and connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "net/address_policy.h"

namespace certfleet::net {

struct TlsProbeRequest {
  std::string host;  // a DNS name or an IP literal (IPv6 without brackets)
  uint16_t port = 443;
  std::string server_name;        // SNI (RFC 6066); empty: none is sent
  std::vector<std::string> alpn;  // protocols offered, in order (RFC 7301); empty: no ALPN
  std::chrono::milliseconds timeout{5000};
  AddressFilter address_allowed;  // empty: every address
  // When set, a host name (not an IP literal) is resolved by this instead of the system resolver.
  NameResolver resolve;
};

struct TlsProbeResult {
  std::string alpn;                  // the protocol the server selected; empty if none
  std::string peer_certificate_der;  // the server's own certificate (never empty on success)
};

Result<TlsProbeResult> ProbeTls(const TlsProbeRequest& request);

}  // namespace certfleet::net
