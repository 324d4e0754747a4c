// certfleet's ACME server (issue #16, RFC 8555): every path under /acme/ on certfleetd's main
// listener. The front end (front_end.cc) turns HTTP requests into authenticated operations: the
// JWS checks of protocol/jws_verify.h, single-use nonces, the "url" header against the request,
// account lookup by "kid", problem documents for every refusal. The core (core.cc) keeps
// accounts, orders, authorizations and challenges in the store (store/acme_server.h) and hands
// policy, issuance and revocation to the inventory through the Issuance seam (issuance.h).
//
// Resources and their URLs (relative to the base URL):
//   GET  /acme/directory                 HEAD/GET /acme/new-nonce
//   POST /acme/new-account               POST /acme/acct/<id>          POST /acme/acct/<id>/orders
//   POST /acme/new-order                 POST /acme/order/<id>         POST
//   /acme/order/<id>/finalize POST /acme/authz/<id>                POST /acme/chall/<id> POST
//   /acme/cert/<order id> POST /acme/revoke-cert               POST /acme/key-change         GET
//   /acme/renewal-info/<id>
//
// Accounts bind to certfleet accounts through external account binding keys (CreateEabKey),
// required unless ServerOptions::eab_required is off, in which case every ACME account binds to
// ServerOptions::open_binding.
//
// Per certfleet account, counted in the store (so shared by replicas): new orders per hour,
// pending authorizations, failed validations per hour. Over a limit: rateLimited with
// Retry-After, and nothing is written.
//
// Thread-safe: Handle() and RunValidation() run on any number of threads.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "acme/protocol/jws_verify.h"
#include "acme/protocol/nonces.h"
#include "acme/server/issuance.h"
#include "acme/server/jwk_cache.h"
#include "acme/server/validator.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "net/http.h"
#include "secrets/secret_store.h"
#include "store/store.h"

namespace certfleet::acme::server {

struct Limits {
  int64_t orders_per_hour = 300;
  int64_t pending_authorizations = 1000;
  int64_t failed_validations_per_hour = 60;
};

struct ServerOptions {
  // The scheme, host and port every URL starts with ("https://certfleet.example.com:8443").
  // Empty: "https://" + the request's Host header.
  std::string base_url;
  bool eab_required = true;
  // Where accounts bind when EAB is not required (account_id and principal_id set by the
  // composition root from the server configuration).
  Binding open_binding;
  Seconds order_lifetime = std::chrono::hours(24 * 7);
  Seconds authz_lifetime = std::chrono::hours(24 * 7);
  Limits limits;
  // The profiles offered (draft-ietf-acme-profiles), each a certfleet CA profile, and the one an
  // order without "profile" gets.
  std::vector<std::string> profiles = {"tls-server", "tls-client", "short-lived"};
  std::string default_profile = "tls-server";
  // Directory meta.
  std::string website;
  std::vector<std::string> caa_identities;
  size_t nonce_capacity = 100'000;
  // Parsed account keys kept (jwk_cache.h); 0 parses the stored JWK on every request.
  size_t account_key_cache = 10'000;
  // Orders listed per page of an account's orders list (Link rel="next" to the rest).
  size_t orders_page = 100;
};

struct NewEabKey {
  std::string kid;
  std::string hmac_key;  // base64url of the raw key; shown once
  std::optional<TimePoint> expires_at;
};

class AcmeServer {
 public:
  // Every reference is borrowed and must outlive the server.
  AcmeServer(store::Store& store, secrets::SecretStore& secrets, const Clock& clock, Random& random,
             Validator& validator, Issuance& issuance, ServerOptions options);

  // Any request whose path starts with /acme/.
  net::HttpResponse Handle(const net::HttpRequest& request);

  // The validation job's step (Issuance::EnqueueValidation): checks a challenge in state
  // "processing" and records valid or invalid for it and its authorization. Does nothing for a
  // challenge in any other state, so a repeated run is harmless. Store errors are returned (the
  // job retries).
  Status RunValidation(const std::string& challenge_id);

  // A new EAB key for `account_id` (issuance as `principal_id`, certificates tagged `tags`),
  // valid for `lifetime` if set. The HMAC key is sealed in the store; the caller shows it once.
  Result<NewEabKey> CreateEabKey(const std::string& account_id, const std::string& principal_id,
                                 const model::Tags& tags, std::optional<Seconds> lifetime,
                                 const std::string& created_by);

  const ServerOptions& options() const { return options_; }

  // Defined in internal.h, for front_end.cc and core.cc only.
  struct Authenticated;  // a verified request: its JWS, and the account for "kid" requests
  struct Reply;          // what an operation answers before HTTP framing

 private:
  // Front end (front_end.cc).
  std::string BaseUrl(const net::HttpRequest& request) const;
  Result<Authenticated> Authenticate(const net::HttpRequest& request, const std::string& base,
                                     bool jwk_allowed, bool kid_allowed);
  net::HttpResponse Render(const Result<Reply>& reply, const std::string& base);
  net::HttpResponse Directory(const std::string& base) const;

  // Core (core.cc), one per resource.
  Result<Reply> NewAccount(const Authenticated& a, const std::string& base);
  Result<Reply> UpdateAccount(const Authenticated& a, const std::string& id,
                              const std::string& base);
  Result<Reply> ListOrders(const Authenticated& a, const std::string& id,
                           const net::HttpRequest& request, const std::string& base);
  Result<Reply> KeyChange(const Authenticated& a, const std::string& base);
  Result<Reply> NewOrder(const Authenticated& a, const std::string& base);
  Result<Reply> GetOrder(const Authenticated& a, const std::string& id, const std::string& base);
  Result<Reply> Finalize(const Authenticated& a, const std::string& id, const std::string& base);
  Result<Reply> GetAuthz(const Authenticated& a, const std::string& id, const std::string& base);
  Result<Reply> Challenge(const Authenticated& a, const std::string& id, const std::string& base);
  Result<Reply> Certificate(const Authenticated& a, const std::string& id);
  Result<Reply> Revoke(const Authenticated& a);
  Result<Reply> RenewalInfo(const std::string& cert_id);

  store::Store& store_;
  secrets::SecretStore& secrets_;
  const Clock& clock_;
  Random& random_;
  Validator& validator_;
  Issuance& issuance_;
  ServerOptions options_;
  NonceStore nonces_;
  JwkCache account_keys_;
};

}  // namespace certfleet::acme::server
