// HTTPS client (Boost.Beast/Asio, synchronous with deadlines): for the CLI, the agent, webhook
// delivery and the ACME client. Verifies the server certificate and host name against the given
// trust anchors (or the system store when none is given). Caps response bodies. Thread-safe: one
// client may be used from several threads; each call opens its own connection unless a kept-alive
// one to the same origin is free.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "base/error.h"
#include "base/secret_bytes.h"
#include "net/http.h"

namespace certfleet::net {

struct ClientOptions {
  std::string trust_pem;  // PEM bundle of trusted roots; empty = system default store
  std::string client_cert_pem;  // for mutual TLS, optional
  SecretBytes client_key_pem;
  std::chrono::milliseconds timeout{30000};  // per request: connect + write + read
  size_t max_response_bytes = 4 << 20;
  bool allow_plain_http = false;  // "http://" URLs are refused unless set (tests, webhooks)
};

struct Url {
  std::string scheme;  // "https" or "http"
  std::string host;
  uint16_t port = 443;
  std::string target = "/";  // path and query
};
Result<Url> ParseUrl(std::string_view url);

class HttpsClient {
 public:
  static Result<std::unique_ptr<HttpsClient>> Create(ClientOptions options);
  virtual ~HttpsClient() = default;
  // Unavailable (retryable) for connection failures and timeouts (message says which),
  // Forbidden for certificate verification failures, TooLarge if the body exceeds the cap,
  // InvalidArgument for a bad URL.
  virtual Result<HttpResponse> Do(const std::string& method, const std::string& url,
                                  const std::map<std::string, std::string>& headers,
                                  const std::string& body) = 0;
};

}  // namespace certfleet::net
