// The TLS policy of both ends in one place, private to src/net: TLS 1.2 or later, no
// compression, no renegotiation, only forward-secret AEAD suites for TLS 1.2, and OpenSSL never
// prompts for a passphrase. Uses Asio's ssl::context (not Beast), so it compiles in seconds.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <string>

#include "base/error.h"
#include "net/https_client.h"
#include "net/https_server.h"

namespace certfleet::net::internal {

// Loads the server chain and key (then wipes options.key_pem) and, if options.client_ca_pem is
// set, requests and verifies client certificates. InvalidArgument for bad or mismatched PEM.
Status ConfigureServerTls(boost::asio::ssl::context& context, ServerOptions& options);

// Verifies servers against options.trust_pem (or the system store) and loads the optional
// client certificate and key (then wipes options.client_key_pem). InvalidArgument for bad PEM.
Status ConfigureClientTls(boost::asio::ssl::context& context, ClientOptions& options);

// The common TLS policy without any verification of the server, for tls_probe.h (the caller
// checks the certificate it gets).
Status ConfigureProbeTls(boost::asio::ssl::context& context);

// ec.message() for an error Asio took from OpenSSL, leaving the thread's OpenSSL error queue
// empty (CONVENTIONS.md #4).
std::string TakeOpenSslMessage(const boost::system::error_code& ec);

}  // namespace certfleet::net::internal
