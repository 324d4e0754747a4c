// The ACME server's order and authorization core: accounts (with external account binding),
// orders, authorizations, challenges and their validation, finalize, download, revocation, key
// rollover and renewal information (RFC 8555 section 7, RFC 9773), over store::AcmeServerRepo.
// Policy, issuance and revocation of certificates go through the Issuance seam.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "acme/protocol/jws_verify.h"
#include "acme/protocol/server_problem.h"
#include "acme/server/internal.h"
#include "acme/server/server.h"
#include "base/encoding.h"
#include "base/ids.h"
#include "base/ip.h"
#include "base/log.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "x509/certificate.h"
#include "x509/csr.h"

namespace certfleet::acme::server {
namespace {

constexpr size_t kMaxIdentifiers = 100;
constexpr size_t kMaxContacts = 10;
constexpr char kEabPurpose[] = "acme-eab-hmac";

// The payload of a non-POST-as-GET request as a JSON object.
Result<nlohmann::json> PayloadObject(const ParsedJws& jws) {
  nlohmann::json j = nlohmann::json::parse(jws.payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return AcmeError("malformed", "the JWS payload is not a JSON object");
  }
  return j;
}

// "mailto:" contacts only (RFC 8555 section 7.3: servers may restrict schemes), one address
// each, no header fields.
Result<std::vector<std::string>> ParseContacts(const nlohmann::json& payload) {
  std::vector<std::string> out;
  if (!payload.contains("contact")) return out;
  const nlohmann::json& c = payload["contact"];
  if (!c.is_array()) return AcmeError("malformed", "\"contact\" must be an array of URLs");
  if (c.size() > kMaxContacts) {
    return AcmeError("invalidContact",
                     "at most " + std::to_string(kMaxContacts) + " contacts are accepted");
  }
  for (const nlohmann::json& v : c) {
    if (!v.is_string()) return AcmeError("malformed", "each contact must be a string");
    const std::string s = v.get<std::string>();
    if (s.rfind("mailto:", 0) != 0) {
      return AcmeError("unsupportedContact", "only mailto: contacts are accepted");
    }
    const std::string addr = s.substr(7);
    const size_t at = addr.find('@');
    if (addr.empty() || addr.size() > 254 || at == std::string::npos || at == 0 ||
        at + 1 == addr.size() || addr.find_first_of(",?&%<> \"\\") != std::string::npos ||
        !IsPrintableAscii(addr)) {
      return AcmeError("invalidContact", "a contact is not one plain e-mail address");
    }
    out.push_back(s);
  }
  return out;
}

std::string NewToken(Random& random) { return Base64UrlEncode(random.Bytes(32)); }

nlohmann::json ProblemMember(const std::string& error_json) {
  nlohmann::json j = nlohmann::json::parse(error_json, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

nlohmann::json IdentifierJson(const store::AcmeServerIdentifier& id) {
  return {{"type", id.type}, {"value", id.value}};
}

bool AuthzFinal(const std::string& status) {
  return status == "invalid" || status == "deactivated" || status == "expired" ||
         status == "revoked";
}

Binding BindingOf(const store::AcmeServerAccount& a) {
  return Binding{.acme_account_id = a.id,
                 .account_id = a.account_id,
                 .principal_id = a.principal_id,
                 .tags = a.tags};
}

AcmeServer::Reply JsonReply(int status, const nlohmann::json& body, std::string location = {}) {
  AcmeServer::Reply r;
  r.status = status;
  r.body = body.dump();
  r.location = std::move(location);
  return r;
}

// The order's status as its authorizations and expiry make it now.
std::string EffectiveOrderStatus(const store::AcmeServerOrder& o,
                                 const std::vector<store::AcmeServerAuthz>& authzs, TimePoint now) {
  if (o.status != "pending" && o.status != "ready") return o.status;
  if (now >= o.expires_at) return "invalid";
  if (o.status == "ready") return "ready";
  bool all_valid = true;
  for (const auto& az : authzs) {
    if (AuthzFinal(az.status) || (az.status == "pending" && now >= az.expires_at)) {
      return "invalid";
    }
    if (az.status != "valid") all_valid = false;
  }
  return all_valid ? "ready" : "pending";
}

std::string EffectiveAuthzStatus(const store::AcmeServerAuthz& az, TimePoint now) {
  if (az.status == "pending" && now >= az.expires_at) return "expired";
  return az.status;
}

}  // namespace

// --- accounts ---------------------------------------------------------------------------------

Result<AcmeServer::Reply> AcmeServer::NewAccount(const Authenticated& a, const std::string& base) {
  CF_ASSIGN_OR_RETURN(nlohmann::json payload, PayloadObject(a.jws));
  CF_ASSIGN_OR_RETURN(std::string thumbprint, JwkThumbprintB64(*a.jws.jwk));
  const bool only_existing =
      payload.contains("onlyReturnExisting") && payload["onlyReturnExisting"] == true;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
    CF_ASSIGN_OR_RETURN(auto existing, tx->acme_server().FindAccountByThumbprint(thumbprint));
    if (existing.has_value()) {
      return JsonReply(200, AccountJson(*existing, base), AccountUrl(base, existing->id));
    }
  }
  if (only_existing) {
    return AcmeError("accountDoesNotExist", "no account has this key");
  }
  CF_ASSIGN_OR_RETURN(std::vector<std::string> contact, ParseContacts(payload));
  const bool has_eab = payload.contains("externalAccountBinding");
  if (options_.eab_required && !has_eab) {
    return AcmeError("externalAccountRequired",
                     "this server requires an external account binding: ask a certfleet admin "
                     "for one (certfleet acme eab create)");
  }
  const TimePoint now = clock_.Now();
  store::AcmeServerAccount account;
  account.id = NewId("acct", clock_, random_);
  account.jwk_thumbprint = thumbprint;
  account.jwk = a.jws.jwk_json;
  account.status = "valid";
  account.contact = std::move(contact);
  account.created_at = account.updated_at = now;

  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  if (has_eab) {
    if (!payload["externalAccountBinding"].is_object()) {
      return AcmeError("malformed", "\"externalAccountBinding\" must be a JWS object");
    }
    CF_ASSIGN_OR_RETURN(ParsedEab eab, ParseEab(payload["externalAccountBinding"].dump(),
                                                *a.jws.jwk, base + "/acme/new-account"));
    CF_ASSIGN_OR_RETURN(auto key, tx->acme_server().GetEabKey(eab.kid));
    if (!key.has_value()) {
      return AcmeError("unauthorized", "the external account binding's key id is unknown");
    }
    if (key->expires_at.has_value() && now >= *key->expires_at) {
      return AcmeError("unauthorized", "the external account binding's key has expired");
    }
    if (!key->bound_to.empty()) {
      return AcmeError("unauthorized", "the external account binding's key was used already");
    }
    CF_ASSIGN_OR_RETURN(SecretBytes hmac, secrets_.OpenBlob(*tx, key->hmac_blob_id));
    CF_TRY(VerifyEab(eab, hmac));
    account.account_id = key->account_id;
    account.principal_id = key->principal_id;
    account.tags = key->tags;
    account.eab_kid = key->kid;
  } else {
    if (options_.open_binding.account_id.empty()) {
      return AcmeError("externalAccountRequired", "no account is configured for open sign-up");
    }
    account.account_id = options_.open_binding.account_id;
    account.principal_id = options_.open_binding.principal_id;
    account.tags = options_.open_binding.tags;
  }
  Status inserted = tx->acme_server().InsertAccount(account);
  if (!inserted.ok()) {
    if (inserted.error().code() == ErrorCode::kConflict) {
      // Another request registered the same key meanwhile: RFC 8555 7.3.1 answers with it.
      CF_ASSIGN_OR_RETURN(auto again, store_.BeginRead());
      CF_ASSIGN_OR_RETURN(auto existing, again->acme_server().FindAccountByThumbprint(thumbprint));
      if (existing.has_value()) {
        return JsonReply(200, AccountJson(*existing, base), AccountUrl(base, existing->id));
      }
    }
    return inserted.error();
  }
  if (!account.eab_kid.empty()) {
    CF_ASSIGN_OR_RETURN(bool bound, tx->acme_server().BindEabKey(account.eab_kid, account.id, now));
    if (!bound) {
      return AcmeError("unauthorized", "the external account binding's key was used already");
    }
  }
  CF_TRY(issuance_.Audit(*tx, BindingOf(account), "acme.account.create", account.id));
  CF_TRY(tx->Commit());
  log::Info("acme account created", {{"acme_account", account.id},
                                     {"account", account.account_id},
                                     {"eab_kid", account.eab_kid}});
  return JsonReply(201, AccountJson(account, base), AccountUrl(base, account.id));
}

Result<AcmeServer::Reply> AcmeServer::UpdateAccount(const Authenticated& a, const std::string& id,
                                                    const std::string& base) {
  if (id != a.account->id) {
    return AcmeError("unauthorized", "requests about an account must be signed by it");
  }
  if (a.post_as_get()) {
    return JsonReply(200, AccountJson(*a.account, base), AccountUrl(base, id));
  }
  CF_ASSIGN_OR_RETURN(nlohmann::json payload, PayloadObject(a.jws));
  store::AcmeServerAccount updated = *a.account;
  if (payload.contains("contact")) {
    CF_ASSIGN_OR_RETURN(updated.contact, ParseContacts(payload));
  }
  if (payload.contains("status")) {
    if (payload["status"] != "deactivated") {
      return AcmeError("malformed", "an account's status can only be set to \"deactivated\"");
    }
    updated.status = "deactivated";
  }
  updated.updated_at = clock_.Now();
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(tx->acme_server().UpdateAccount(updated));
  CF_TRY(issuance_.Audit(
      *tx, BindingOf(updated),
      updated.status == "deactivated" ? "acme.account.deactivate" : "acme.account.update", id));
  CF_TRY(tx->Commit());
  if (updated.status == "deactivated") {
    log::Info("acme account deactivated", {{"acme_account", id}});
  }
  return JsonReply(200, AccountJson(updated, base), AccountUrl(base, id));
}

Result<AcmeServer::Reply> AcmeServer::ListOrders(const Authenticated& a, const std::string& id,
                                                 const net::HttpRequest& request,
                                                 const std::string& base) {
  if (id != a.account->id) {
    return AcmeError("unauthorized", "an account's orders are listed to that account only");
  }
  std::string after = request.query("cursor").value_or("");
  if (after.size() > 128) return AcmeError("malformed", "the cursor is not one of ours");
  CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
  CF_ASSIGN_OR_RETURN(auto orders,
                      tx->acme_server().ListOrders(id, after, options_.orders_page + 1));
  Reply r;
  nlohmann::json urls = nlohmann::json::array();
  for (size_t i = 0; i < orders.size() && i < options_.orders_page; ++i) {
    urls.push_back(OrderUrl(base, orders[i].id));
  }
  if (orders.size() > options_.orders_page) {
    r.links.emplace_back(
        AccountUrl(base, id) + "/orders?cursor=" + orders[options_.orders_page - 1].id, "next");
  }
  r.body = nlohmann::json{{"orders", urls}}.dump();
  return r;
}

Result<AcmeServer::Reply> AcmeServer::KeyChange(const Authenticated& a, const std::string& base) {
  CF_ASSIGN_OR_RETURN(ParsedJws inner, ParseJws(a.jws.payload, /*inner=*/true));
  if (inner.url != a.url) {
    return AcmeError("malformed", "the inner JWS's \"url\" must equal the outer one's");
  }
  CF_TRY(VerifyJws(inner, *inner.jwk));
  nlohmann::json p = nlohmann::json::parse(inner.payload, nullptr, false);
  if (p.is_discarded() || !p.is_object() || !p.contains("account") || !p["account"].is_string() ||
      !p.contains("oldKey") || !p["oldKey"].is_object()) {
    return AcmeError("malformed", "the key change payload needs \"account\" and \"oldKey\"");
  }
  if (p["account"].get<std::string>() != a.jws.kid) {
    return AcmeError("unauthorized", "the key change names another account");
  }
  CF_ASSIGN_OR_RETURN(crypto::PublicKey old_key, ParseJwk(p["oldKey"].dump()));
  CF_ASSIGN_OR_RETURN(std::string old_thumb, JwkThumbprintB64(old_key));
  if (old_thumb != a.account->jwk_thumbprint) {
    return AcmeError("unauthorized", "\"oldKey\" is not the account's current key");
  }
  CF_ASSIGN_OR_RETURN(std::string new_thumb, JwkThumbprintB64(*inner.jwk));
  store::AcmeServerAccount updated = *a.account;
  updated.jwk = inner.jwk_json;
  updated.jwk_thumbprint = new_thumb;
  updated.updated_at = clock_.Now();
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(auto taken, tx->acme_server().FindAccountByThumbprint(new_thumb));
  if (taken.has_value()) {
    // RFC 8555 section 7.3.5: "the server SHOULD use status code 409 (Conflict) and provide the
    // URL of that account in the Location header field" (the inner JWS proved the new key).
    Reply r;
    r.status = 409;
    r.content_type = "application/problem+json";
    r.body =
        ToProblemJson(Error(ErrorCode::kConflict, "the new key belongs to an account already"));
    r.location = AccountUrl(base, taken->id);
    return r;
  }
  CF_TRY(tx->acme_server().UpdateAccount(updated));
  CF_TRY(issuance_.Audit(*tx, BindingOf(updated), "acme.account.key_change", updated.id));
  CF_TRY(tx->Commit());
  log::Info("acme account key changed", {{"acme_account", updated.id}});
  return JsonReply(200, AccountJson(updated, base), AccountUrl(base, updated.id));
}

Result<NewEabKey> AcmeServer::CreateEabKey(const std::string& account_id,
                                           const std::string& principal_id, const model::Tags& tags,
                                           std::optional<Seconds> lifetime,
                                           const std::string& created_by) {
  CF_TRY(ValidateTags(tags));
  if (lifetime.has_value() && *lifetime <= Seconds(0)) {
    return InvalidArgument("expires must be a positive duration");
  }
  const TimePoint now = clock_.Now();
  SecretBytes hmac = random_.SecretOfSize(32);
  store::AcmeEabKey key;
  key.kid = NewId("eab", clock_, random_);
  key.account_id = account_id;
  key.principal_id = principal_id;
  key.tags = tags;
  key.created_by = created_by;
  key.created_at = now;
  if (lifetime.has_value()) key.expires_at = now + *lifetime;
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(key.hmac_blob_id, secrets_.SealBlob(*tx, hmac, kEabPurpose));
  CF_TRY(tx->acme_server().InsertEabKey(key));
  CF_TRY(tx->Commit());
  return NewEabKey{
      .kid = key.kid, .hmac_key = Base64UrlEncode(hmac.view()), .expires_at = key.expires_at};
}

// --- orders -----------------------------------------------------------------------------------

namespace {

struct OrderView {
  store::AcmeServerOrder order;
  std::vector<store::AcmeServerAuthz> authzs;
};

nlohmann::json OrderJson(const OrderView& v, const std::string& base) {
  const store::AcmeServerOrder& o = v.order;
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& id : o.identifiers) ids.push_back(IdentifierJson(id));
  nlohmann::json authz = nlohmann::json::array();
  for (const auto& az : v.authzs) authz.push_back(AuthzUrl(base, az.id));
  nlohmann::json j = {{"status", o.status},
                      {"expires", FormatRfc3339(o.expires_at)},
                      {"identifiers", ids},
                      {"authorizations", authz},
                      {"finalize", OrderUrl(base, o.id) + "/finalize"}};
  if (!o.profile.empty()) j["profile"] = o.profile;
  if (!o.replaces.empty()) j["replaces"] = o.replaces;
  if (o.status == "valid") j["certificate"] = CertificateUrl(base, o.id);
  if (!o.error_json.empty()) j["error"] = ProblemMember(o.error_json);
  return j;
}

// A DNS identifier as the order holds it: lower case, "*." kept for a wildcard.
Result<store::AcmeServerIdentifier> ParseIdentifier(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string() || !j.contains("value") ||
      !j["value"].is_string()) {
    return AcmeError("malformed", "each identifier needs a string \"type\" and \"value\"");
  }
  store::AcmeServerIdentifier id{j["type"].get<std::string>(), j["value"].get<std::string>()};
  if (id.type == "ip") {
    // RFC 8738: an IPv4 or IPv6 address in text form, held in canonical form (RFC 5952) so that
    // the same address is one identifier however the client writes it.
    std::optional<std::string> canonical = CanonicalIp(id.value);
    if (!canonical.has_value()) {
      const std::string detail = "an \"ip\" identifier must be an IPv4 or IPv6 address";
      return AcmeError("malformed", detail,
                       {Subproblem{.type = std::string(kAcmeErrorPrefix) + "malformed",
                                   .detail = detail,
                                   .identifier = QuoteForMessage(id.value)}});
    }
    id.value = *canonical;
    return id;
  }
  if (id.type != "dns") {
    return AcmeError("unsupportedIdentifier",
                     "identifier type " + QuoteForMessage(id.type) + " is not supported");
  }
  std::transform(id.value.begin(), id.value.end(), id.value.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  Status valid = ValidateDnsName(id.value, /*allow_wildcard=*/true);
  if (!valid.ok()) {
    return AcmeError("rejectedIdentifier", valid.error().message(),
                     {Subproblem{.type = std::string(kAcmeErrorPrefix) + "rejectedIdentifier",
                                 .detail = valid.error().message(),
                                 .identifier = QuoteForMessage(id.value)}});
  }
  return id;
}

}  // namespace

Result<AcmeServer::Reply> AcmeServer::NewOrder(const Authenticated& a, const std::string& base) {
  CF_ASSIGN_OR_RETURN(nlohmann::json payload, PayloadObject(a.jws));
  if (!payload.contains("identifiers") || !payload["identifiers"].is_array() ||
      payload["identifiers"].empty()) {
    return AcmeError("malformed", "a new order needs a non-empty \"identifiers\" array");
  }
  if (payload["identifiers"].size() > kMaxIdentifiers) {
    return AcmeError("rejectedIdentifier", "an order may hold at most " +
                                               std::to_string(kMaxIdentifiers) + " identifiers");
  }
  if (payload.contains("notBefore") || payload.contains("notAfter")) {
    return AcmeError("malformed",
                     "notBefore and notAfter are not supported: the profile sets the validity");
  }
  std::vector<store::AcmeServerIdentifier> ids;
  for (const nlohmann::json& j : payload["identifiers"]) {
    CF_ASSIGN_OR_RETURN(store::AcmeServerIdentifier id, ParseIdentifier(j));
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(std::move(id));
  }
  std::string profile = options_.default_profile;
  if (payload.contains("profile")) {
    if (!payload["profile"].is_string()) {
      return AcmeError("malformed", "\"profile\" must be a string");
    }
    profile = payload["profile"].get<std::string>();
    if (std::find(options_.profiles.begin(), options_.profiles.end(), profile) ==
        options_.profiles.end()) {
      return AcmeError("invalidProfile",
                       "profile " + QuoteForMessage(profile) + " is not offered by this server");
    }
  }
  std::string replaces;
  if (payload.contains("replaces")) {
    if (!payload["replaces"].is_string()) {
      return AcmeError("malformed", "\"replaces\" must be a string");
    }
    replaces = payload["replaces"].get<std::string>();
    if (replaces.empty() || replaces.size() > 512 ||
        replaces.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_.") != std::string::npos) {
      return AcmeError("malformed", "\"replaces\" is not an ARI certificate identifier");
    }
  }
  const store::AcmeServerAccount& acct = *a.account;
  const Binding binding = BindingOf(acct);
  const TimePoint now = clock_.Now();

  // Limits, counted in the store.
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
    auto& repo = tx->acme_server();
    CF_ASSIGN_OR_RETURN(int64_t orders,
                        repo.CountOrdersSince(acct.account_id, now - std::chrono::hours(1)));
    if (orders >= options_.limits.orders_per_hour) {
      return AcmeError("rateLimited", "too many new orders for this account in the last hour")
          .WithRetry(std::chrono::seconds(600));
    }
    CF_ASSIGN_OR_RETURN(int64_t pending, repo.CountPendingAuthzs(acct.account_id, now));
    if (pending + static_cast<int64_t>(ids.size()) > options_.limits.pending_authorizations) {
      return AcmeError("rateLimited", "too many pending authorizations for this account")
          .WithRetry(std::chrono::seconds(600));
    }
    CF_ASSIGN_OR_RETURN(int64_t failed, repo.CountFailedChallengesSince(
                                            acct.account_id, now - std::chrono::hours(1)));
    if (failed >= options_.limits.failed_validations_per_hour) {
      return AcmeError("rateLimited",
                       "too many failed validations for this account in the "
                       "last hour")
          .WithRetry(std::chrono::seconds(600));
    }
  }
  CF_TRY(issuance_.CheckOrder(binding, ids, profile));

  OrderView v;
  v.order.id = NewId("ord", clock_, random_);
  v.order.acme_account_id = acct.id;
  v.order.account_id = acct.account_id;
  v.order.identifiers = ids;
  v.order.profile = profile;
  v.order.replaces = replaces;
  v.order.expires_at = now + options_.order_lifetime;
  v.order.created_at = v.order.updated_at = now;
  std::vector<store::AcmeServerChallenge> challenges;
  bool all_valid = true;
  for (const store::AcmeServerIdentifier& id : ids) {
    store::AcmeServerAuthz az;
    az.id = NewId("az", clock_, random_);
    az.order_id = v.order.id;
    az.acme_account_id = acct.id;
    az.account_id = acct.account_id;
    az.wildcard = IsWildcard(id.value);
    az.identifier = {id.type, az.wildcard ? id.value.substr(2) : id.value};
    az.expires_at = std::min(now + options_.authz_lifetime, v.order.expires_at);
    az.created_at = az.updated_at = now;
    if (issuance_.AuthorizedWithoutChallenge(binding, id)) {
      az.status = "valid";
    } else {
      az.status = "pending";
      all_valid = false;
      std::vector<std::string> types = {"dns-01"};
      if (!az.wildcard) types = {"http-01", "dns-01", "tls-alpn-01"};
      // RFC 8738 section 7: dns-01 cannot prove control of an address.
      if (id.type == "ip") types = {"http-01", "tls-alpn-01"};
      for (const std::string& type : types) {
        store::AcmeServerChallenge ch;
        ch.id = NewId("ch", clock_, random_);
        ch.authz_id = az.id;
        ch.account_id = acct.account_id;
        ch.type = type;
        ch.token = NewToken(random_);
        ch.status = "pending";
        ch.updated_at = now;
        challenges.push_back(std::move(ch));
      }
    }
    v.authzs.push_back(std::move(az));
  }
  v.order.status = all_valid ? "ready" : "pending";
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(tx->acme_server().InsertOrder(v.order));
  for (const auto& az : v.authzs) CF_TRY(tx->acme_server().InsertAuthz(az));
  for (const auto& ch : challenges) CF_TRY(tx->acme_server().InsertChallenge(ch));
  CF_TRY(tx->Commit());
  log::Info("acme order created", {{"order", v.order.id},
                                   {"acme_account", acct.id},
                                   {"account", acct.account_id},
                                   {"identifiers", std::to_string(ids.size())}});
  return JsonReply(201, OrderJson(v, base), OrderUrl(base, v.order.id));
}

namespace {

// Loads an order of `acme_account_id` with its authorizations, bringing its status up to date
// (ready once every authorization is valid, invalid once one failed or it expired).
Result<OrderView> LoadOrder(store::Store& store, const std::string& acme_account_id,
                            const std::string& id, TimePoint now) {
  OrderView v;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store.BeginRead());
    CF_ASSIGN_OR_RETURN(auto order, tx->acme_server().GetOrder(id));
    if (!order.has_value() || order->acme_account_id != acme_account_id) {
      return Error(ErrorCode::kNotFound, "no such order");
    }
    v.order = std::move(*order);
    CF_ASSIGN_OR_RETURN(v.authzs, tx->acme_server().ListAuthzsByOrder(id));
  }
  const std::string status = EffectiveOrderStatus(v.order, v.authzs, now);
  if (status != v.order.status) {
    v.order.status = status;
    v.order.updated_at = now;
    if (status == "invalid" && v.order.error_json.empty()) {
      v.order.error_json = ToProblemJson(
          AcmeError("unauthorized", now >= v.order.expires_at
                                        ? "the order expired"
                                        : "an authorization of the order is not valid"));
    }
    CF_ASSIGN_OR_RETURN(auto tx, store.Begin());
    CF_TRY(tx->acme_server().UpdateOrder(v.order));
    CF_TRY(tx->Commit());
  }
  return v;
}

}  // namespace

Result<AcmeServer::Reply> AcmeServer::GetOrder(const Authenticated& a, const std::string& id,
                                               const std::string& base) {
  if (!a.post_as_get()) return AcmeError("malformed", "an order is read with POST-as-GET");
  CF_ASSIGN_OR_RETURN(OrderView v, LoadOrder(store_, a.account->id, id, clock_.Now()));
  Reply r = JsonReply(200, OrderJson(v, base));
  if (v.order.status == "processing") r.retry_after = Seconds(1);
  return r;
}

Result<AcmeServer::Reply> AcmeServer::Finalize(const Authenticated& a, const std::string& id,
                                               const std::string& base) {
  CF_ASSIGN_OR_RETURN(nlohmann::json payload, PayloadObject(a.jws));
  const TimePoint now = clock_.Now();
  CF_ASSIGN_OR_RETURN(OrderView v, LoadOrder(store_, a.account->id, id, now));
  if (v.order.status != "ready") {
    return AcmeError("orderNotReady", "the order is " + v.order.status + ", not ready");
  }
  if (!payload.contains("csr") || !payload["csr"].is_string()) {
    return AcmeError("malformed", "finalize needs a \"csr\"");
  }
  Result<std::string> der = Base64UrlDecode(payload["csr"].get<std::string>());
  if (!der.ok()) return AcmeError("badCSR", "\"csr\" is not base64url");
  Result<x509::Csr> csr = x509::Csr::FromDer(*der);
  if (!csr.ok()) return AcmeError("badCSR", "the CSR cannot be parsed: " + csr.error().message());
  if (!csr->VerifySignature().ok()) return AcmeError("badCSR", "the CSR's signature is wrong");

  // The CSR asks for exactly the order's names (the CN, if any, among them).
  std::set<std::string> wanted;
  for (const auto& i : v.order.identifiers) wanted.insert(i.value);
  std::set<std::string> asked;
  for (std::string n : csr->dns_names()) {
    std::transform(n.begin(), n.end(), n.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    asked.insert(n);
  }
  // iPAddress entries are canonical text already; an address must not come as a dNSName.
  for (const std::string& ip : csr->ip_addresses()) asked.insert(ip);
  for (const std::string& n : csr->dns_names()) {
    if (ParseIpLiteral(n).has_value()) {
      return AcmeError("badCSR", "an IP address must be an iPAddress, not a dNSName, in the CSR");
    }
  }
  std::string cn = csr->common_name();
  std::transform(cn.begin(), cn.end(), cn.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (std::optional<std::string> ip = CanonicalIp(cn)) cn = *ip;
  if (!cn.empty() && !wanted.contains(cn)) {
    return AcmeError("badCSR", "the CSR's common name is not an identifier of the order");
  }
  if (!cn.empty()) asked.insert(cn);
  if (asked != wanted) {
    return AcmeError("badCSR", "the CSR must name exactly the order's identifiers");
  }
  CF_ASSIGN_OR_RETURN(crypto::PublicKey account_key, account_keys_.Get(a.account->jwk));
  if (csr->public_key().spki_der() == account_key.spki_der()) {
    return AcmeError("badCSR", "the certificate key must not be the account key");
  }
  // CAA, just before issuance (RFC 8659 section 3; RFC 8555 section 7.4 step "checks").
  for (const auto& i : v.order.identifiers) {
    if (i.type == "ip") continue;  // CAA is a DNS record: there is none for an address
    const bool wildcard = IsWildcard(i.value);
    auto failure = validator_.CheckCaa(wildcard ? i.value.substr(2) : i.value, wildcard);
    if (failure.has_value()) {
      Error e = AcmeError(failure->type, failure->detail);
      CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
      v.order.status = "invalid";
      v.order.error_json = ToProblemJson(e);
      v.order.updated_at = clock_.Now();
      CF_TRY(tx->acme_server().UpdateOrder(v.order));
      CF_TRY(tx->Commit());
      return e;
    }
  }
  {
    // "processing" first: a crash while signing leaves an order the client sees in progress
    // instead of one it could finalize twice.
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(auto current, tx->acme_server().GetOrder(id));
    if (!current.has_value() || current->status != "ready") {
      return AcmeError("orderNotReady", "the order is being finalized already");
    }
    v.order.status = "processing";
    v.order.updated_at = now;
    CF_TRY(tx->acme_server().UpdateOrder(v.order));
    CF_TRY(tx->Commit());
  }
  Result<store::AcmeServerOrder> issued = issuance_.Finalize(BindingOf(*a.account), v.order, *csr);
  if (!issued.ok()) {
    const Error& e = issued.error();
    // A CSR the policy refuses (a key type): the client may try again with another key.
    const bool retry_csr = AcmeTypeOf(e) == "badCSR";
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    v.order.status = retry_csr ? "ready" : "invalid";
    v.order.error_json = retry_csr ? "" : ToProblemJson(e);
    v.order.updated_at = clock_.Now();
    CF_TRY(tx->acme_server().UpdateOrder(v.order));
    CF_TRY(tx->Commit());
    return e;
  }
  v.order = std::move(*issued);
  log::Info("acme order finalized", {{"order", v.order.id},
                                     {"certificate", v.order.certificate_id},
                                     {"version", v.order.version_id}});
  return JsonReply(200, OrderJson(v, base), OrderUrl(base, v.order.id));
}

Result<AcmeServer::Reply> AcmeServer::Certificate(const Authenticated& a, const std::string& id) {
  if (!a.post_as_get()) return AcmeError("malformed", "a certificate is read with POST-as-GET");
  CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
  CF_ASSIGN_OR_RETURN(auto order, tx->acme_server().GetOrder(id));
  if (!order.has_value() || order->acme_account_id != a.account->id || order->status != "valid") {
    return Error(ErrorCode::kNotFound, "no such certificate");
  }
  CF_ASSIGN_OR_RETURN(std::string pem, issuance_.CertificateChain(*order));
  Reply r;
  r.content_type = "application/pem-certificate-chain";
  r.body = std::move(pem);
  return r;
}

// --- authorizations and challenges ------------------------------------------------------------

namespace {

nlohmann::json ChallengeJson(const store::AcmeServerChallenge& ch, const std::string& base) {
  nlohmann::json j = {{"type", ch.type},
                      {"url", ChallengeUrl(base, ch.id)},
                      {"status", ch.status},
                      {"token", ch.token}};
  if (ch.validated_at.has_value()) j["validated"] = FormatRfc3339(*ch.validated_at);
  if (!ch.error_json.empty()) j["error"] = ProblemMember(ch.error_json);
  return j;
}

}  // namespace

Result<AcmeServer::Reply> AcmeServer::GetAuthz(const Authenticated& a, const std::string& id,
                                               const std::string& base) {
  const TimePoint now = clock_.Now();
  store::AcmeServerAuthz az;
  std::vector<store::AcmeServerChallenge> challenges;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
    CF_ASSIGN_OR_RETURN(auto found, tx->acme_server().GetAuthz(id));
    if (!found.has_value() || found->acme_account_id != a.account->id) {
      return Error(ErrorCode::kNotFound, "no such authorization");
    }
    az = std::move(*found);
    CF_ASSIGN_OR_RETURN(challenges, tx->acme_server().ListChallengesByAuthz(id));
  }
  if (!a.post_as_get()) {
    CF_ASSIGN_OR_RETURN(nlohmann::json payload, PayloadObject(a.jws));
    if (!payload.contains("status") || payload["status"] != "deactivated") {
      return AcmeError("malformed", "an authorization's status can only be set to \"deactivated\"");
    }
    if (az.status != "pending" && az.status != "valid") {
      return AcmeError("malformed", "the authorization is " + az.status);
    }
    az.status = "deactivated";
    az.updated_at = now;
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_TRY(tx->acme_server().UpdateAuthz(az));
    CF_TRY(tx->Commit());
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto& ch : challenges) list.push_back(ChallengeJson(ch, base));
  nlohmann::json j = {{"status", EffectiveAuthzStatus(az, now)},
                      {"expires", FormatRfc3339(az.expires_at)},
                      {"identifier", IdentifierJson(az.identifier)},
                      {"challenges", list}};
  if (az.wildcard) j["wildcard"] = true;
  return JsonReply(200, j);
}

Result<AcmeServer::Reply> AcmeServer::Challenge(const Authenticated& a, const std::string& id,
                                                const std::string& base) {
  const TimePoint now = clock_.Now();
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(auto ch, tx->acme_server().GetChallenge(id));
  if (!ch.has_value()) return Error(ErrorCode::kNotFound, "no such challenge");
  CF_ASSIGN_OR_RETURN(auto az, tx->acme_server().GetAuthz(ch->authz_id));
  if (!az.has_value() || az->acme_account_id != a.account->id) {
    return Error(ErrorCode::kNotFound, "no such challenge");
  }
  if (!a.post_as_get()) {
    CF_ASSIGN_OR_RETURN(nlohmann::json payload, PayloadObject(a.jws));
    (void)payload;  // RFC 8555 7.5.1: "{}"; members are ignored
    if (ch->status == "pending") {
      if (EffectiveAuthzStatus(*az, now) != "pending") {
        return AcmeError("malformed", "the authorization is " + EffectiveAuthzStatus(*az, now));
      }
      ch->status = "processing";
      ch->updated_at = now;
      CF_TRY(tx->acme_server().UpdateChallenge(*ch));
      CF_TRY(issuance_.EnqueueValidation(*tx, ch->account_id, ch->id));
      CF_TRY(tx->Commit());
      issuance_.ValidationQueued();
    }
  }
  Reply r = JsonReply(200, ChallengeJson(*ch, base));
  r.links.emplace_back(AuthzUrl(base, az->id), "up");
  if (ch->status == "processing") r.retry_after = Seconds(1);
  return r;
}

Status AcmeServer::RunValidation(const std::string& challenge_id) {
  store::AcmeServerChallenge ch;
  store::AcmeServerAuthz az;
  std::string thumbprint;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
    CF_ASSIGN_OR_RETURN(auto found, tx->acme_server().GetChallenge(challenge_id));
    if (!found.has_value() || found->status != "processing") return Ok();
    ch = std::move(*found);
    CF_ASSIGN_OR_RETURN(auto authz, tx->acme_server().GetAuthz(ch.authz_id));
    if (!authz.has_value()) return Ok();
    az = std::move(*authz);
    CF_ASSIGN_OR_RETURN(auto account, tx->acme_server().GetAccount(az.acme_account_id));
    if (!account.has_value()) return Ok();
    thumbprint = account->jwk_thumbprint;
  }
  ValidationRequest req{.identifier_type = az.identifier.type,
                        .identifier = az.identifier.value,
                        .token = ch.token,
                        .key_authorization = ch.token + "." + thumbprint};
  std::optional<ValidationFailure> failure;
  if (EffectiveAuthzStatus(az, clock_.Now()) != "pending") {
    failure = ValidationFailure{"unauthorized", "the authorization is no longer pending"};
  } else if (ch.type == "http-01") {
    failure = validator_.ValidateHttp01(req);
  } else if (ch.type == "dns-01") {
    failure = validator_.ValidateDns01(req);
  } else if (ch.type == "tls-alpn-01") {
    failure = validator_.ValidateTlsAlpn01(req);
  } else {
    failure = ValidationFailure{"malformed", "unknown challenge type"};
  }
  const TimePoint now = clock_.Now();
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(auto current, tx->acme_server().GetChallenge(challenge_id));
  if (!current.has_value() || current->status != "processing") return Ok();
  ch = std::move(*current);
  ch.updated_at = now;
  if (failure.has_value()) {
    ch.status = "invalid";
    ch.error_json = ToProblemJson(AcmeError(failure->type, failure->detail));
  } else {
    ch.status = "valid";
    ch.validated_at = now;
  }
  CF_TRY(tx->acme_server().UpdateChallenge(ch));
  CF_ASSIGN_OR_RETURN(auto authz, tx->acme_server().GetAuthz(ch.authz_id));
  if (authz.has_value() && authz->status == "pending") {
    authz->status = failure.has_value() ? "invalid" : "valid";
    authz->updated_at = now;
    CF_TRY(tx->acme_server().UpdateAuthz(*authz));
  }
  CF_TRY(tx->Commit());
  log::Info("acme challenge validated",
            {{"challenge", ch.id}, {"type", ch.type}, {"status", ch.status}});
  return Ok();
}

// --- revocation and renewal information -------------------------------------------------------

Result<AcmeServer::Reply> AcmeServer::Revoke(const Authenticated& a) {
  CF_ASSIGN_OR_RETURN(nlohmann::json payload, PayloadObject(a.jws));
  if (!payload.contains("certificate") || !payload["certificate"].is_string()) {
    return AcmeError("malformed", "revocation needs a \"certificate\"");
  }
  Result<std::string> der = Base64UrlDecode(payload["certificate"].get<std::string>());
  if (!der.ok()) return AcmeError("malformed", "\"certificate\" is not base64url");
  Result<x509::Certificate> leaf = x509::Certificate::FromDer(*der);
  if (!leaf.ok()) return AcmeError("malformed", "\"certificate\" is not a DER certificate");
  int reason = 0;
  if (payload.contains("reason")) {
    if (!payload["reason"].is_number_integer()) {
      return AcmeError("badRevocationReason", "\"reason\" must be an RFC 5280 reason code");
    }
    reason = payload["reason"].get<int>();
    // unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation and
    // privilegeWithdrawn: the codes a subscriber may give for a leaf.
    static const std::set<int> kAllowed = {0, 1, 3, 4, 5, 9};
    if (!kAllowed.contains(reason)) {
      return AcmeError("badRevocationReason", "reason " + std::to_string(reason) +
                                                  " is not accepted (0, 1, 3, 4, 5 or 9)");
    }
  }
  std::optional<Binding> binding;
  if (a.account.has_value()) {
    binding = BindingOf(*a.account);
  } else {
    CF_ASSIGN_OR_RETURN(crypto::PublicKey cert_key, leaf->public_key());
    if (cert_key.spki_der() != a.jws.jwk->spki_der()) {
      return AcmeError("unauthorized",
                       "a revocation signed with a JWK must be signed by the certificate's key");
    }
  }
  CF_TRY(issuance_.Revoke(binding, *leaf, reason));
  return Reply{};
}

Result<AcmeServer::Reply> AcmeServer::RenewalInfo(const std::string& cert_id) {
  if (cert_id.empty() || cert_id.size() > 512 ||
      cert_id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                "0123456789-_.") != std::string::npos) {
    return AcmeError("malformed", "not an ARI certificate identifier");
  }
  Result<RenewalWindow> w = issuance_.RenewalInfo(cert_id);
  if (!w.ok()) {
    if (w.error().code() == ErrorCode::kNotFound) {
      return Error(ErrorCode::kNotFound, "no certificate of this server has that identifier");
    }
    return w.error();
  }
  Reply r = JsonReply(
      200,
      {{"suggestedWindow", {{"start", FormatRfc3339(w->start)}, {"end", FormatRfc3339(w->end)}}}});
  r.retry_after = std::chrono::hours(6);
  return r;
}

}  // namespace certfleet::acme::server
