// The protocol core of certfleet's ACME client (RFC 8555, RFC 9773 ARI, the draft profiles
// extension): one Client speaks for one ACME account of one CA. Issuers and solvers sit above it
// (the acme issuer decides which challenges to answer and plants the values; this class only
// computes them and drives the protocol).
//
// Contract:
//  - Create fetches and checks the directory (every URL https://, or http:// only with
//    allow_plain_http for tests) and returns InvalidArgument/Unavailable/Malformed/TooLarge as
//    the fetch fails; nothing is signed before that.
//  - Every call returns the parsed resource on success. A problem document from the CA becomes an
//    Error whose message reads "the CA refused: <type>: <detail> (<request>)" (problem.h).
//    Bodies are capped (64 KiB JSON, 1 MiB certificates by default): TooLarge. Undecodable JSON
//    and missing members: Malformed. URLs the CA hands out that are not https: InvalidArgument.
//    Challenge tokens outside the base64url alphabet: Malformed, before any use.
//  - badNonce answers are retried (bad_nonce_retries, default 3) with a fresh nonce.
//  - Waits (WaitAuthorization, WaitOrder) go through the injected Sleeper and read the injected
//    Clock: each pause honours Retry-After but is clamped to [poll_min_interval,
//    poll_max_interval], so "Retry-After: 10 years" cannot stall, and the whole wait is bounded
//    by poll_timeout and max_polls (Timeout, retryable, naming the last status).
//  - Downloaded chains must hold only CERTIFICATE PEM blocks (a PRIVATE KEY block is Malformed)
//    and at least one certificate.
// Ownership: the Client owns its HTTPS clients and shares the account key (rotated by
// ChangeKey); the Clock must outlive it. Not thread-safe: use one Client from one thread at a
// time (the nonce pool and the account key are unguarded).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/client/transport.h"
#include "acme/protocol/ari.h"
#include "acme/protocol/resources.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/secret_bytes.h"
#include "crypto/key.h"
#include "x509/certificate.h"

namespace certfleet::acme {

struct ClientOptions {
  std::string directory_url;
  std::string trust_pem;          // PEM roots for the CA's TLS listener; empty = system store
  bool allow_plain_http = false;  // tests only: accept http:// from the CA
  // Every connection (the directory and every URL it leads to) is checked on the addresses it
  // actually uses (net::ClientOptions::address_allowed); empty: no check (tests). certfleetd
  // passes the account's net::OutboundPolicy filter (issue #13).
  std::function<bool(std::string_view ip)> address_allowed;
  std::chrono::milliseconds request_timeout{30000};
  size_t max_json_bytes = 64 << 10;
  size_t max_certificate_bytes = 1 << 20;
  int bad_nonce_retries = 3;
  std::chrono::milliseconds poll_min_interval{1000};
  std::chrono::milliseconds poll_max_interval{60000};
  std::chrono::seconds poll_timeout{600};
  int max_polls = 600;
};

// Pauses the calling thread; tests pass one that advances a FakeClock instead.
using Sleeper = std::function<void(std::chrono::milliseconds)>;

struct NewAccountRequest {
  std::vector<std::string> contact;  // "mailto:..." URLs
  bool terms_of_service_agreed = false;
  // External account binding (RFC 8555 section 7.3.4): both or neither. The raw HMAC key bytes.
  std::string eab_kid;
  SecretBytes eab_hmac_key;
};

struct NewOrderRequest {
  std::vector<Identifier> identifiers;
  // ARI (RFC 9773 section 5): the CertID of the certificate this order replaces. Sent only when
  // the directory offers renewalInfo.
  std::string replaces;
  // A profile the directory lists in meta.profiles; InvalidArgument otherwise.
  std::string profile;
};

struct CertificateChain {
  std::vector<x509::Certificate> certificates;  // leaf first
  std::string pem;                              // as downloaded (CERTIFICATE blocks only)
  std::vector<std::string> alternates;          // Link rel="alternate" URLs (section 7.4.2)
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> Create(ClientOptions options, const Clock& clock,
                                                Sleeper sleeper,
                                                std::shared_ptr<const crypto::PrivateKey> key);

  const Directory& directory() const { return directory_; }
  const crypto::PrivateKey& account_key() const { return *key_; }
  // The account URL ("kid"): set by NewAccount/FindAccount, or by the caller for a known account.
  const std::string& account_url() const { return account_url_; }
  void set_account_url(std::string url) { account_url_ = std::move(url); }

  // --- Accounts (section 7.3) ---
  // Creates the account, or returns the existing one for this key. FailedPrecondition if the
  // directory requires external account binding and none is given.
  Result<Account> NewAccount(const NewAccountRequest& request);
  // newAccount with onlyReturnExisting: the account of this key; Unauthorized
  // (accountDoesNotExist) if there is none.
  Result<Account> FindAccount();
  // Key rollover (section 7.3.5): on success the client signs with `new_key` from then on.
  Status ChangeKey(std::shared_ptr<const crypto::PrivateKey> new_key);
  // Deactivation (section 7.3.6): irreversible.
  Result<Account> DeactivateAccount();

  // --- Orders (section 7.4) ---
  Result<Order> NewOrder(const NewOrderRequest& request);
  Result<Order> GetOrder(const std::string& url);
  Result<Authorization> GetAuthorization(const std::string& url);
  // Tells the CA to validate `challenge` (POST {} to its URL).
  Result<Challenge> RespondToChallenge(const Challenge& challenge);
  // Polls until the authorization leaves "pending": the authorization when "valid";
  // an Error carrying the challenge's problem when "invalid"; Timeout past the bounds.
  Result<Authorization> WaitAuthorization(const std::string& url);
  // Sends the CSR (DER). FailedPrecondition unless the order is "ready".
  Result<Order> Finalize(const Order& order, std::string_view csr_der);
  // Polls until the order leaves "pending"/"processing": the order when "ready" or "valid";
  // an Error carrying the order's problem when "invalid"; Timeout past the bounds.
  Result<Order> WaitOrder(const std::string& url);
  // Downloads a chain (the order's certificate URL or one of the alternates).
  Result<CertificateChain> DownloadCertificate(const std::string& url);

  // --- Revocation (section 7.6) ---
  // Signed by the account key, or, when `certificate_key` is given, by the certificate's own key
  // (JWK in the header). `reason` is an RFC 5280 CRLReason code.
  Status RevokeCertificate(std::string_view certificate_der, std::optional<int> reason = {},
                           const crypto::PrivateKey* certificate_key = nullptr);

  // --- ARI (RFC 9773) ---
  // FailedPrecondition if the directory offers no renewalInfo.
  Result<RenewalInfo> GetRenewalInfo(const x509::Certificate& certificate);

  // --- Challenge values (section 8) for the current account key ---
  Result<std::string> KeyAuthorization(std::string_view token) const;
  Result<std::string> Dns01TxtValue(std::string_view token) const;

 private:
  Client(ClientOptions options, const Clock& clock, Sleeper sleeper,
         std::shared_ptr<const crypto::PrivateKey> key, std::unique_ptr<Transport> transport)
      : options_(std::move(options)),
        clock_(clock),
        sleeper_(std::move(sleeper)),
        key_(std::move(key)),
        transport_(std::move(transport)) {}
  Result<Response> PostAsAccount(const std::string& url, std::string_view payload, BodyKind kind,
                                 std::string_view what);
  Result<Account> AccountFromResponse(Response r);
  // The pause before poll number `attempt` (0-based): Retry-After when given, otherwise
  // poll_min_interval doubled per attempt; always within [poll_min_interval, poll_max_interval].
  std::chrono::milliseconds NextDelay(std::optional<std::chrono::seconds> retry_after,
                                      int attempt) const;

  ClientOptions options_;
  const Clock& clock_;
  Sleeper sleeper_;
  std::shared_ptr<const crypto::PrivateKey> key_;
  std::unique_ptr<Transport> transport_;
  Directory directory_;
  std::string account_url_;
};

}  // namespace certfleet::acme
