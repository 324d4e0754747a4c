// The ACME wire layer under Client: GETs and signed POSTs over net::HttpsClient, the nonce pool,
// the badNonce retry, response caps and the header fields ACME reads (Location, Retry-After,
// Link, Replay-Nonce).
//
// Contract:
//  - Every response body is capped: `json_cap` bytes for BodyKind::kJson, `certificate_cap` for
//    kCertificate; a bigger body is TooLarge ("the CA's answer to <what> exceeds N bytes").
//  - Replay-Nonce values from every response go into a small pool (at most 16, only base64url
//    values of at most 256 characters); Post takes one, or fetches one from newNonce with HEAD
//    when the pool is empty (RFC 8555 section 7.2).
//  - Post retries a urn:ietf:params:acme:error:badNonce answer up to `bad_nonce_retries` times
//    with a fresh nonce (section 6.5), then gives up with the CA's problem.
//  - A non-2xx answer becomes an Error: ProblemError for a problem document, otherwise one that
//    names the HTTP status. Success means 2xx only.
//  - A Location header is checked with CheckServerUrl before it is returned.
//  - With http.address_allowed set (certfleetd: the account's net::OutboundPolicy filter), every
//    connection is checked on the addresses it uses; a refusal is net::PrivateDestinationRefused,
//    passed up unchanged (one generic message, no address or connection detail).
// Not thread-safe (the nonce pool is unguarded): one Transport per Client, used by one thread at
// a time.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/protocol/jws.h"
#include "base/clock.h"
#include "base/error.h"
#include "crypto/key.h"
#include "net/https_client.h"

namespace certfleet::acme {

enum class BodyKind { kJson, kCertificate };

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case keys
  std::string body;
  std::string location;  // "" when absent
  std::optional<std::chrono::seconds> retry_after;

  // URLs of the Link header fields with relation `rel` (RFC 8288), in order.
  std::vector<std::string> Links(std::string_view rel) const;
};

// Delta-seconds or an HTTP-date (RFC 9110 section 10.2.3) relative to `now`; nullopt for
// anything else. Capped at one year so later arithmetic cannot overflow.
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value, TimePoint now);

struct TransportOptions {
  net::ClientOptions http;  // trust, timeout, allow_plain_http; max_response_bytes is set below
  size_t json_cap = 64 << 10;
  size_t certificate_cap = 1 << 20;
  int bad_nonce_retries = 3;
  std::string user_agent = "certfleet-acme/0.1";
};

class Transport {
 public:
  // InvalidArgument for bad TLS options or zero caps (from net::HttpsClient::Create).
  static Result<std::unique_ptr<Transport>> Create(TransportOptions options, const Clock& clock);

  void set_new_nonce_url(std::string url) { new_nonce_url_ = std::move(url); }
  bool allow_plain_http() const { return allow_plain_http_; }

  // Unsigned GET (the directory, renewalInfo). `what` names the request in errors.
  Result<Response> Get(const std::string& url, BodyKind kind, std::string_view what);
  // A JWS-signed POST of `payload` ("" = POST-as-GET) to `url`, with the badNonce retry.
  Result<Response> Post(const std::string& url, const crypto::PrivateKey& key, const KeyId& id,
                        std::string_view payload, BodyKind kind, std::string_view what);
  // A signed POST whose JWS the caller builds for each nonce (key rollover's outer JWS).
  using JwsBuilder = std::function<Result<std::string>(std::string_view nonce)>;
  Result<Response> PostJws(const std::string& url, const JwsBuilder& build, BodyKind kind,
                           std::string_view what);

  size_t pooled_nonces() const { return nonces_.size(); }

 private:
  Transport(std::unique_ptr<net::HttpsClient> json, std::unique_ptr<net::HttpsClient> cert,
            const Clock& clock, TransportOptions options);
  Result<Response> Send(const std::string& method, const std::string& url,
                        std::map<std::string, std::string> headers, const std::string& body,
                        BodyKind kind, std::string_view what);
  Result<std::string> TakeNonce();

  std::unique_ptr<net::HttpsClient> json_client_;
  std::unique_ptr<net::HttpsClient> cert_client_;
  const Clock& clock_;
  TransportOptions options_;
  bool allow_plain_http_;
  std::string new_nonce_url_;
  std::deque<std::string> nonces_;
  bool last_bad_nonce_ = false;  // set by Send: the last answer was a badNonce problem
};

}  // namespace certfleet::acme
