// certfleet's own ACME server (issue #16, store/acme_server.h; SQLite migration
// kMigrationAcmeServer, PostgreSQL migration 3): EAB keys, ACME accounts, orders, authorizations
// and challenges, in the acme_srv_* tables.
#include <nlohmann/json.hpp>

#include "store/sql/codec.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

// An order's identifiers: a JSON array of {"type": ..., "value": ...} objects (codec.h's
// conventions: InvalidArgument for what JSON cannot carry, Internal naming the column for a
// stored value this code did not write).
constexpr std::string_view kIdentifiersColumn = "acme_srv_orders.identifiers";

Result<std::string> EncodeIdentifiers(const std::vector<AcmeServerIdentifier>& ids) {
  nlohmann::json j = nlohmann::json::array();
  for (const AcmeServerIdentifier& id : ids) {
    j.push_back(nlohmann::json::object({{"type", id.type}, {"value", id.value}}));
  }
  try {
    return j.dump();
  } catch (const nlohmann::json::exception&) {
    return InvalidArgument(std::string(kIdentifiersColumn) + ": strings must be valid UTF-8");
  }
}

Result<std::vector<AcmeServerIdentifier>> DecodeIdentifiers(std::string_view json) {
  const auto bad = [](const char* what) {
    return Internal("stored value of " + std::string(kIdentifiersColumn) + " is not " + what);
  };
  try {
    const auto j = nlohmann::json::parse(json);
    if (!j.is_array()) return bad("a JSON array");
    std::vector<AcmeServerIdentifier> out;
    out.reserve(j.size());
    for (const auto& v : j) {
      if (!v.is_object() || !v.contains("type") || !v.contains("value") ||
          !v.at("type").is_string() || !v.at("value").is_string()) {
        return bad("a JSON array of identifiers");
      }
      out.push_back(
          {.type = v.at("type").get<std::string>(), .value = v.at("value").get<std::string>()});
    }
    return out;
  } catch (const nlohmann::json::exception&) {
    return bad("valid JSON");
  }
}

// Reads at most one row: an empty optional when there is none.
template <typename T, typename F>
Result<std::optional<T>> OptionalRow(Stmt& s, F read) {
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<T>();
  CF_ASSIGN_OR_RETURN(T v, read(static_cast<const Stmt&>(s)));
  return std::optional<T>(std::move(v));
}

Result<int64_t> Count(Stmt& s, const char* table) {
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Internal(std::string(table) + ": COUNT returned no row");
  return s.Int(0);
}

std::string Select(std::string_view cols, std::string_view rest) {
  return "SELECT " + std::string(cols) + " " + std::string(rest);
}

// ---- column lists and readers

constexpr std::string_view kEabCols =
    "kid, account_id, principal_id, hmac_blob_id, tags, created_by, created_at, expires_at, "
    "bound_to, bound_at";

Result<AcmeEabKey> ReadEabKey(const Stmt& s) {
  AcmeEabKey k;
  k.kid = s.Text(0);
  k.account_id = s.Text(1);
  k.principal_id = s.Text(2);
  k.hmac_blob_id = s.Text(3);
  CF_ASSIGN_OR_RETURN(k.tags, DecodeTags(s.Text(4), "acme_srv_eab_keys.tags"));
  k.created_by = s.Text(5);
  k.created_at = DecodeTime(s.Int(6));
  k.expires_at = DecodeTime(s.OptInt(7));
  k.bound_to = s.Text(8);
  k.bound_at = DecodeTime(s.OptInt(9));
  return k;
}

constexpr std::string_view kAccountCols =
    "id, account_id, principal_id, eab_kid, jwk_thumbprint, jwk, status, contact, tags, "
    "created_at, updated_at";

Result<AcmeServerAccount> ReadAccount(const Stmt& s) {
  AcmeServerAccount a;
  a.id = s.Text(0);
  a.account_id = s.Text(1);
  a.principal_id = s.Text(2);
  a.eab_kid = s.Text(3);
  a.jwk_thumbprint = s.Text(4);
  a.jwk = s.Text(5);
  a.status = s.Text(6);
  CF_ASSIGN_OR_RETURN(a.contact, DecodeStrings(s.Text(7), "acme_srv_accounts.contact"));
  CF_ASSIGN_OR_RETURN(a.tags, DecodeTags(s.Text(8), "acme_srv_accounts.tags"));
  a.created_at = DecodeTime(s.Int(9));
  a.updated_at = DecodeTime(s.Int(10));
  return a;
}

constexpr std::string_view kOrderCols =
    "id, acme_account_id, account_id, status, identifiers, profile, replaces, expires_at, "
    "error_json, certificate_id, version_id, created_at, updated_at";

Result<AcmeServerOrder> ReadOrder(const Stmt& s) {
  AcmeServerOrder o;
  o.id = s.Text(0);
  o.acme_account_id = s.Text(1);
  o.account_id = s.Text(2);
  o.status = s.Text(3);
  CF_ASSIGN_OR_RETURN(o.identifiers, DecodeIdentifiers(s.Text(4)));
  o.profile = s.Text(5);
  o.replaces = s.Text(6);
  o.expires_at = DecodeTime(s.Int(7));
  o.error_json = s.Text(8);
  o.certificate_id = s.Text(9);
  o.version_id = s.Text(10);
  o.created_at = DecodeTime(s.Int(11));
  o.updated_at = DecodeTime(s.Int(12));
  return o;
}

constexpr std::string_view kAuthzCols =
    "id, order_id, acme_account_id, account_id, identifier_type, identifier_value, wildcard, "
    "status, expires_at, created_at, updated_at";

Result<AcmeServerAuthz> ReadAuthz(const Stmt& s) {
  AcmeServerAuthz a;
  a.id = s.Text(0);
  a.order_id = s.Text(1);
  a.acme_account_id = s.Text(2);
  a.account_id = s.Text(3);
  a.identifier = {.type = s.Text(4), .value = s.Text(5)};
  a.wildcard = s.Int(6) != 0;
  a.status = s.Text(7);
  a.expires_at = DecodeTime(s.Int(8));
  a.created_at = DecodeTime(s.Int(9));
  a.updated_at = DecodeTime(s.Int(10));
  return a;
}

constexpr std::string_view kChallengeCols =
    "id, authz_id, account_id, type, token, status, validated_at, error_json, updated_at";

Result<AcmeServerChallenge> ReadChallenge(const Stmt& s) {
  AcmeServerChallenge c;
  c.id = s.Text(0);
  c.authz_id = s.Text(1);
  c.account_id = s.Text(2);
  c.type = s.Text(3);
  c.token = s.Text(4);
  c.status = s.Text(5);
  c.validated_at = DecodeTime(s.OptInt(6));
  c.error_json = s.Text(7);
  c.updated_at = DecodeTime(s.Int(8));
  return c;
}

}  // namespace

// ---- EAB keys

Status SqlAcmeServer::InsertEabKey(const AcmeEabKey& k) {
  // A duplicate kid is Conflict (primary key), an unknown account FailedPrecondition (foreign
  // key).
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(k.tags, "acme_srv_eab_keys.tags"));
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO acme_srv_eab_keys (" + std::string(kEabCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                                         "acme_srv_eab_keys"));
  return s.Bind(1, k.kid)
      .Bind(2, k.account_id)
      .Bind(3, k.principal_id)
      .Bind(4, k.hmac_blob_id)
      .Bind(5, tags)
      .Bind(6, k.created_by)
      .Bind(7, EncodeTime(k.created_at))
      .Bind(8, EncodeTime(k.expires_at))
      .Bind(9, k.bound_to)
      .Bind(10, EncodeTime(k.bound_at))
      .Run();
}

Result<std::optional<AcmeEabKey>> SqlAcmeServer::GetEabKey(const std::string& kid) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kEabCols, "FROM acme_srv_eab_keys WHERE kid = ?1"),
                                         "acme_srv_eab_keys"));
  s.Bind(1, kid);
  return OptionalRow<AcmeEabKey>(s, ReadEabKey);
}

Result<bool> SqlAcmeServer::BindEabKey(const std::string& kid, const std::string& acme_account_id,
                                       TimePoint at) {
  // '' is what "unused" is stored as: binding to it would leave the key usable again.
  if (acme_account_id.empty()) {
    return InvalidArgument("acme_srv_eab_keys: an EAB key is bound to an ACME account id");
  }
  // Compare-and-set in one statement, as EnrollmentTokenRepo::MarkUsed: of two newAccount
  // requests racing with the same key exactly one changes the row (on PostgreSQL the second
  // UPDATE re-checks bound_to once the first commits). Zero changes means absent or bound
  // already; a read-only statement tells which.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE acme_srv_eab_keys SET bound_to = ?2, bound_at = "
                                         "?3 WHERE kid = ?1 AND bound_to = ''",
                                         "acme_srv_eab_keys"));
  CF_TRY(s.Bind(1, kid).Bind(2, acme_account_id).Bind(3, EncodeTime(at)).Run());
  if (s_.db().Changes() == 1) return true;
  CF_ASSIGN_OR_RETURN(auto exists, s_.Prepare("SELECT 1 FROM acme_srv_eab_keys WHERE kid = ?1",
                                              "acme_srv_eab_keys"));
  exists.Bind(1, kid);
  CF_ASSIGN_OR_RETURN(bool found, exists.Step());
  if (!found) return NotFound("EAB key " + kid + " not found");
  return false;
}

Result<std::vector<AcmeEabKey>> SqlAcmeServer::ListEabKeys(const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kEabCols,
                                        "FROM acme_srv_eab_keys WHERE account_id = ?1 ORDER BY "
                                        "kid"),
                                 "acme_srv_eab_keys"));
  s.Bind(1, account_id);
  return CollectRows<AcmeEabKey>(s, ReadEabKey);
}

Status SqlAcmeServer::DeleteEabKey(const std::string& kid) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("DELETE FROM acme_srv_eab_keys WHERE kid = ?1", "acme_srv_eab_keys"));
  CF_TRY(s.Bind(1, kid).Run());
  if (s_.db().Changes() == 0) return NotFound("EAB key " + kid + " not found");
  return Ok();
}

// ---- accounts

Status SqlAcmeServer::InsertAccount(const AcmeServerAccount& a) {
  // A duplicate id (primary key) or thumbprint (UNIQUE) is Conflict; an unknown certfleet
  // account FailedPrecondition.
  CF_ASSIGN_OR_RETURN(auto contact, EncodeStrings(a.contact, "acme_srv_accounts.contact"));
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(a.tags, "acme_srv_accounts.tags"));
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("INSERT INTO acme_srv_accounts (" + std::string(kAccountCols) +
                                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                                 "acme_srv_accounts"));
  return s.Bind(1, a.id)
      .Bind(2, a.account_id)
      .Bind(3, a.principal_id)
      .Bind(4, a.eab_kid)
      .Bind(5, a.jwk_thumbprint)
      .Bind(6, a.jwk)
      .Bind(7, a.status)
      .Bind(8, contact)
      .Bind(9, tags)
      .Bind(10, EncodeTime(a.created_at))
      .Bind(11, EncodeTime(a.updated_at))
      .Run();
}

Result<std::optional<AcmeServerAccount>> SqlAcmeServer::GetAccount(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kAccountCols, "FROM acme_srv_accounts WHERE id = ?1"),
                                 "acme_srv_accounts"));
  s.Bind(1, id);
  return OptionalRow<AcmeServerAccount>(s, ReadAccount);
}

Result<std::optional<AcmeServerAccount>> SqlAcmeServer::FindAccountByThumbprint(
    const std::string& thumbprint) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare(Select(kAccountCols, "FROM acme_srv_accounts WHERE jwk_thumbprint = ?1"),
                         "acme_srv_accounts"));
  s.Bind(1, thumbprint);
  return OptionalRow<AcmeServerAccount>(s, ReadAccount);
}

Status SqlAcmeServer::UpdateAccount(const AcmeServerAccount& a) {
  // The SET list is the whole of what may change (acme_server.h). A thumbprint another account
  // holds violates the UNIQUE index: Conflict, and nothing changes.
  CF_ASSIGN_OR_RETURN(auto contact, EncodeStrings(a.contact, "acme_srv_accounts.contact"));
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(a.tags, "acme_srv_accounts.tags"));
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE acme_srv_accounts SET jwk = ?2, jwk_thumbprint = "
                                         "?3, status = ?4, contact = ?5, tags = ?6, updated_at = "
                                         "?7 WHERE id = ?1",
                                         "acme_srv_accounts"));
  CF_TRY(s.Bind(1, a.id)
             .Bind(2, a.jwk)
             .Bind(3, a.jwk_thumbprint)
             .Bind(4, a.status)
             .Bind(5, contact)
             .Bind(6, tags)
             .Bind(7, EncodeTime(a.updated_at))
             .Run());
  if (s_.db().Changes() == 0) return NotFound("ACME account " + a.id + " not found");
  return Ok();
}

// ---- orders

Status SqlAcmeServer::InsertOrder(const AcmeServerOrder& o) {
  // An unknown ACME account is FailedPrecondition (foreign key).
  CF_ASSIGN_OR_RETURN(auto identifiers, EncodeIdentifiers(o.identifiers));
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO acme_srv_orders (" + std::string(kOrderCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                             "?11, ?12, ?13)",
                                         "acme_srv_orders"));
  return s.Bind(1, o.id)
      .Bind(2, o.acme_account_id)
      .Bind(3, o.account_id)
      .Bind(4, o.status)
      .Bind(5, identifiers)
      .Bind(6, o.profile)
      .Bind(7, o.replaces)
      .Bind(8, EncodeTime(o.expires_at))
      .Bind(9, o.error_json)
      .Bind(10, o.certificate_id)
      .Bind(11, o.version_id)
      .Bind(12, EncodeTime(o.created_at))
      .Bind(13, EncodeTime(o.updated_at))
      .Run();
}

Result<std::optional<AcmeServerOrder>> SqlAcmeServer::GetOrder(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kOrderCols, "FROM acme_srv_orders WHERE id = ?1"),
                                         "acme_srv_orders"));
  s.Bind(1, id);
  return OptionalRow<AcmeServerOrder>(s, ReadOrder);
}

Status SqlAcmeServer::UpdateOrder(const AcmeServerOrder& o) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE acme_srv_orders SET status = ?2, error_json = ?3, "
                                         "certificate_id = ?4, version_id = ?5, updated_at = ?6 "
                                         "WHERE id = ?1",
                                         "acme_srv_orders"));
  CF_TRY(s.Bind(1, o.id)
             .Bind(2, o.status)
             .Bind(3, o.error_json)
             .Bind(4, o.certificate_id)
             .Bind(5, o.version_id)
             .Bind(6, EncodeTime(o.updated_at))
             .Run());
  if (s_.db().Changes() == 0) return NotFound("ACME order " + o.id + " not found");
  return Ok();
}

Result<std::vector<AcmeServerOrder>> SqlAcmeServer::ListOrders(const std::string& acme_account_id,
                                                               const std::string& after_id,
                                                               size_t limit) {
  // A range scan of acme_srv_orders_by_acme_account (keyset pagination).
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kOrderCols,
                                                "FROM acme_srv_orders WHERE acme_account_id = ?1 "
                                                "AND id > ?2 ORDER BY id LIMIT ?3"),
                                         "acme_srv_orders"));
  s.Bind(1, acme_account_id).Bind(2, after_id).Bind(3, EncodeLimit(limit));
  return CollectRows<AcmeServerOrder>(s, ReadOrder);
}

Result<int64_t> SqlAcmeServer::CountOrdersSince(const std::string& account_id, TimePoint since) {
  // acme_srv_orders_by_account.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT COUNT(*) FROM acme_srv_orders WHERE account_id "
                                         "= ?1 AND created_at >= ?2",
                                         "acme_srv_orders"));
  s.Bind(1, account_id).Bind(2, EncodeTime(since));
  return Count(s, "acme_srv_orders");
}

// ---- authorizations

Status SqlAcmeServer::InsertAuthz(const AcmeServerAuthz& a) {
  // An unknown order is FailedPrecondition (foreign key).
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO acme_srv_authzs (" + std::string(kAuthzCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                             "?11)",
                                         "acme_srv_authzs"));
  return s.Bind(1, a.id)
      .Bind(2, a.order_id)
      .Bind(3, a.acme_account_id)
      .Bind(4, a.account_id)
      .Bind(5, a.identifier.type)
      .Bind(6, a.identifier.value)
      .Bind(7, a.wildcard)
      .Bind(8, a.status)
      .Bind(9, EncodeTime(a.expires_at))
      .Bind(10, EncodeTime(a.created_at))
      .Bind(11, EncodeTime(a.updated_at))
      .Run();
}

Result<std::optional<AcmeServerAuthz>> SqlAcmeServer::GetAuthz(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kAuthzCols, "FROM acme_srv_authzs WHERE id = ?1"),
                                         "acme_srv_authzs"));
  s.Bind(1, id);
  return OptionalRow<AcmeServerAuthz>(s, ReadAuthz);
}

Status SqlAcmeServer::UpdateAuthz(const AcmeServerAuthz& a) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE acme_srv_authzs SET status = ?2, updated_at = ?3 "
                                         "WHERE id = ?1",
                                         "acme_srv_authzs"));
  CF_TRY(s.Bind(1, a.id).Bind(2, a.status).Bind(3, EncodeTime(a.updated_at)).Run());
  if (s_.db().Changes() == 0) return NotFound("ACME authorization " + a.id + " not found");
  return Ok();
}

Result<std::vector<AcmeServerAuthz>> SqlAcmeServer::ListAuthzsByOrder(const std::string& order_id) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare(Select(kAuthzCols, "FROM acme_srv_authzs WHERE order_id = ?1 ORDER BY id"),
                         "acme_srv_authzs"));
  s.Bind(1, order_id);
  return CollectRows<AcmeServerAuthz>(s, ReadAuthz);
}

Result<int64_t> SqlAcmeServer::CountPendingAuthzs(const std::string& account_id, TimePoint now) {
  // The literal status matches acme_srv_authzs_pending's WHERE, so both planners use that partial
  // index.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT COUNT(*) FROM acme_srv_authzs WHERE account_id "
                                         "= ?1 AND status = 'pending' AND expires_at > ?2",
                                         "acme_srv_authzs"));
  s.Bind(1, account_id).Bind(2, EncodeTime(now));
  return Count(s, "acme_srv_authzs");
}

// ---- challenges

Status SqlAcmeServer::InsertChallenge(const AcmeServerChallenge& c) {
  // An unknown authorization is FailedPrecondition (foreign key).
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("INSERT INTO acme_srv_challenges (" + std::string(kChallengeCols) +
                                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                                 "acme_srv_challenges"));
  return s.Bind(1, c.id)
      .Bind(2, c.authz_id)
      .Bind(3, c.account_id)
      .Bind(4, c.type)
      .Bind(5, c.token)
      .Bind(6, c.status)
      .Bind(7, EncodeTime(c.validated_at))
      .Bind(8, c.error_json)
      .Bind(9, EncodeTime(c.updated_at))
      .Run();
}

Result<std::optional<AcmeServerChallenge>> SqlAcmeServer::GetChallenge(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kChallengeCols, "FROM acme_srv_challenges WHERE id = ?1"),
                                 "acme_srv_challenges"));
  s.Bind(1, id);
  return OptionalRow<AcmeServerChallenge>(s, ReadChallenge);
}

Status SqlAcmeServer::UpdateChallenge(const AcmeServerChallenge& c) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE acme_srv_challenges SET status = ?2, "
                                         "validated_at = ?3, error_json = ?4, updated_at = ?5 "
                                         "WHERE id = ?1",
                                         "acme_srv_challenges"));
  CF_TRY(s.Bind(1, c.id)
             .Bind(2, c.status)
             .Bind(3, EncodeTime(c.validated_at))
             .Bind(4, c.error_json)
             .Bind(5, EncodeTime(c.updated_at))
             .Run());
  if (s_.db().Changes() == 0) return NotFound("ACME challenge " + c.id + " not found");
  return Ok();
}

Result<std::vector<AcmeServerChallenge>> SqlAcmeServer::ListChallengesByAuthz(
    const std::string& authz_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kChallengeCols,
                                                "FROM acme_srv_challenges WHERE authz_id = ?1 "
                                                "ORDER BY id"),
                                         "acme_srv_challenges"));
  s.Bind(1, authz_id);
  return CollectRows<AcmeServerChallenge>(s, ReadChallenge);
}

Result<int64_t> SqlAcmeServer::CountFailedChallengesSince(const std::string& account_id,
                                                          TimePoint since) {
  // acme_srv_challenges_by_status: a challenge's updated_at is when it last changed, i.e. when it
  // became invalid (an invalid challenge changes no more).
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT COUNT(*) FROM acme_srv_challenges WHERE "
                                         "account_id = ?1 AND status = 'invalid' AND updated_at "
                                         ">= ?2",
                                         "acme_srv_challenges"));
  s.Bind(1, account_id).Bind(2, EncodeTime(since));
  return Count(s, "acme_srv_challenges");
}

}  // namespace certfleet::store::sql
