// What certfleet's own ACME server keeps (issue #16, RFC 8555): external account binding keys,
// ACME accounts bound to certfleet accounts, orders, authorizations and challenges. Included by
// store.h (Tx::acme_server()); a header of its own because only the ACME server and its tests
// need these types.
//
// Every row names the certfleet account it belongs to (`account_id`), so per-account limits are
// counted in the store and shared by every replica. Nothing here is secret: the EAB HMAC key is a
// sealed blob (BlobRepo, purpose "acme-eab-hmac") referenced by id, and JWKs are public keys.
//
// Errors as in store.h. Inserts are FailedPrecondition when the row's owner does not exist: an
// EAB key's or ACME account's certfleet account, an order's ACME account, an authorization's
// order, a challenge's authorization (so a chain is written parents first). The account_id (and
// acme_account_id) a row copies from its owner, and references to blobs, EAB keys,
// certificates and versions, are not checked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "model/model.h"

namespace certfleet::store {

// An external account binding key (RFC 8555 section 7.3.4), made by
// `certfleet acme eab create`. Single use: the first newAccount that presents it binds it.
struct AcmeEabKey {
  std::string kid;           // public key identifier, "eab_..."
  std::string account_id;    // the certfleet account ACME accounts made with it belong to
  std::string principal_id;  // the principal issuance runs as
  std::string hmac_blob_id;  // SealedBlob holding the raw HMAC key
  model::Tags tags;          // given to every certificate issued through it
  std::string created_by;    // principal id
  TimePoint created_at;
  std::optional<TimePoint> expires_at;  // unset: does not expire
  std::string bound_to;                 // AcmeServerAccount id; empty while unused
  std::optional<TimePoint> bound_at;
};

struct AcmeServerAccount {
  std::string id;  // "acct_..."; the account URL is <base>/acme/acct/<id>
  std::string account_id;
  std::string principal_id;
  std::string eab_kid;         // empty when the directory requires no EAB
  std::string jwk_thumbprint;  // base64url RFC 7638 thumbprint; unique across accounts
  std::string jwk;             // the public JWK, canonical JSON (crypto::PublicJwk)
  std::string status;          // "valid", "deactivated", "revoked"
  std::vector<std::string> contact;
  model::Tags tags;
  TimePoint created_at;
  TimePoint updated_at;
};

struct AcmeServerIdentifier {
  std::string type;  // "dns" or "ip"
  std::string value;
  bool operator==(const AcmeServerIdentifier&) const = default;
};

struct AcmeServerOrder {
  std::string id;  // "ord_..."
  std::string acme_account_id;
  std::string account_id;
  std::string status;  // "pending", "ready", "processing", "valid", "invalid"
  std::vector<AcmeServerIdentifier> identifiers;
  std::string profile;   // certfleet profile name ("tls-server", ...)
  std::string replaces;  // ARI certificate id of the certificate this order replaces, or ""
  TimePoint expires_at;
  std::string error_json;      // the problem document that made it invalid, or ""
  std::string certificate_id;  // the certfleet certificate, once valid
  std::string version_id;      // the version this order issued, once valid
  TimePoint created_at;
  TimePoint updated_at;
};

struct AcmeServerAuthz {
  std::string id;  // "az_..."
  std::string order_id;
  std::string acme_account_id;
  std::string account_id;
  AcmeServerIdentifier identifier;  // without the "*." of a wildcard
  bool wildcard = false;
  std::string status;  // "pending", "valid", "invalid", "deactivated", "expired", "revoked"
  TimePoint expires_at;
  TimePoint created_at;
  TimePoint updated_at;
};

struct AcmeServerChallenge {
  std::string id;  // "ch_..."
  std::string authz_id;
  std::string account_id;
  std::string type;  // "http-01", "dns-01", "tls-alpn-01"
  std::string token;
  std::string status;  // "pending", "processing", "valid", "invalid"
  std::optional<TimePoint> validated_at;
  std::string error_json;  // the problem document of a failed validation, or ""
  TimePoint updated_at;
};

class AcmeServerRepo {
 public:
  virtual ~AcmeServerRepo() = default;

  // External account binding keys. Conflict if the kid exists.
  virtual Status InsertEabKey(const AcmeEabKey& k) = 0;
  virtual Result<std::optional<AcmeEabKey>> GetEabKey(const std::string& kid) = 0;
  // Binds an unused key to `acme_account_id`: true if it was unused and is bound now, false if
  // it was bound already (nothing changes). NotFound for an unknown kid; InvalidArgument for an
  // empty acme_account_id (empty means unused).
  virtual Result<bool> BindEabKey(const std::string& kid, const std::string& acme_account_id,
                                  TimePoint at) = 0;
  // The account's keys ordered by kid.
  virtual Result<std::vector<AcmeEabKey>> ListEabKeys(const std::string& account_id) = 0;
  // NotFound if absent.
  virtual Status DeleteEabKey(const std::string& kid) = 0;

  // Accounts. Conflict if the id or the thumbprint exists.
  virtual Status InsertAccount(const AcmeServerAccount& a) = 0;
  virtual Result<std::optional<AcmeServerAccount>> GetAccount(const std::string& id) = 0;
  virtual Result<std::optional<AcmeServerAccount>> FindAccountByThumbprint(
      const std::string& thumbprint) = 0;
  // Replaces jwk, jwk_thumbprint, status, contact, tags and updated_at. NotFound if absent;
  // Conflict if the new thumbprint belongs to another account (key rollover).
  virtual Status UpdateAccount(const AcmeServerAccount& a) = 0;

  // Orders. Conflict if the id exists.
  virtual Status InsertOrder(const AcmeServerOrder& o) = 0;
  virtual Result<std::optional<AcmeServerOrder>> GetOrder(const std::string& id) = 0;
  // Replaces status, error_json, certificate_id, version_id and updated_at. NotFound if absent.
  virtual Status UpdateOrder(const AcmeServerOrder& o) = 0;
  // The ACME account's orders with id > after_id, ordered by id, at most `limit`.
  virtual Result<std::vector<AcmeServerOrder>> ListOrders(const std::string& acme_account_id,
                                                          const std::string& after_id,
                                                          size_t limit) = 0;
  // Orders the certfleet account created at or after `since` (rate limits).
  virtual Result<int64_t> CountOrdersSince(const std::string& account_id, TimePoint since) = 0;

  // Authorizations. Conflict if the id exists.
  virtual Status InsertAuthz(const AcmeServerAuthz& a) = 0;
  virtual Result<std::optional<AcmeServerAuthz>> GetAuthz(const std::string& id) = 0;
  // Replaces status and updated_at. NotFound if absent.
  virtual Status UpdateAuthz(const AcmeServerAuthz& a) = 0;
  // Ordered by id.
  virtual Result<std::vector<AcmeServerAuthz>> ListAuthzsByOrder(const std::string& order_id) = 0;
  // The certfleet account's authorizations that are pending and expire after `now`.
  virtual Result<int64_t> CountPendingAuthzs(const std::string& account_id, TimePoint now) = 0;

  // Challenges. Conflict if the id exists.
  virtual Status InsertChallenge(const AcmeServerChallenge& c) = 0;
  virtual Result<std::optional<AcmeServerChallenge>> GetChallenge(const std::string& id) = 0;
  // Replaces status, validated_at, error_json and updated_at. NotFound if absent.
  virtual Status UpdateChallenge(const AcmeServerChallenge& c) = 0;
  // Ordered by id.
  virtual Result<std::vector<AcmeServerChallenge>> ListChallengesByAuthz(
      const std::string& authz_id) = 0;
  // The certfleet account's challenges that became invalid at or after `since` (rate limits).
  virtual Result<int64_t> CountFailedChallengesSince(const std::string& account_id,
                                                     TimePoint since) = 0;
};

}  // namespace certfleet::store
