// Client: directory, accounts, key rollover, revocation and ARI. Orders and polling are in
// order.cc.
#include "acme/client/client.h"

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "crypto/jws.h"

namespace certfleet::acme {
namespace {

using nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

Result<std::unique_ptr<Client>> Client::Create(ClientOptions options, const Clock& clock,
                                               Sleeper sleeper,
                                               std::shared_ptr<const crypto::PrivateKey> key) {
  if (!key) return InvalidArgument("ACME client: no account key");
  CF_TRY(crypto::JwsAlgorithm(key->type()));
  if (!sleeper) return InvalidArgument("ACME client: no sleeper");
  if (options.poll_min_interval.count() <= 0 ||
      options.poll_max_interval < options.poll_min_interval || options.max_polls <= 0 ||
      options.poll_timeout.count() <= 0) {
    return InvalidArgument("ACME client: poll bounds must be positive and min <= max");
  }
  TransportOptions t;
  t.http.trust_pem = options.trust_pem;
  t.http.allow_plain_http = options.allow_plain_http;
  t.http.timeout = options.request_timeout;
  t.http.address_allowed = options.address_allowed;
  t.json_cap = options.max_json_bytes;
  t.certificate_cap = options.max_certificate_bytes;
  t.bad_nonce_retries = options.bad_nonce_retries;
  CF_ASSIGN_OR_RETURN(auto transport, Transport::Create(std::move(t), clock));
  CF_ASSIGN_OR_RETURN(Response r,
                      transport->Get(options.directory_url, BodyKind::kJson, "directory"));
  CF_ASSIGN_OR_RETURN(Directory dir, ParseDirectory(r.body, options.allow_plain_http));
  transport->set_new_nonce_url(dir.new_nonce);
  std::unique_ptr<Client> client(new Client(std::move(options), clock, std::move(sleeper),
                                            std::move(key), std::move(transport)));
  client->directory_ = std::move(dir);
  return client;
}

Result<Response> Client::PostAsAccount(const std::string& url, std::string_view payload,
                                       BodyKind kind, std::string_view what) {
  if (account_url_.empty()) {
    return FailedPrecondition("ACME " + std::string(what) + ": no account (call NewAccount)");
  }
  return transport_->Post(url, *key_, KeyId{account_url_}, payload, kind, what);
}

Result<Account> Client::AccountFromResponse(Response r) {
  if (r.location.empty()) return Malformed("the CA's newAccount answer has no Location");
  CF_ASSIGN_OR_RETURN(Account account,
                      ParseAccount(r.body, r.location, transport_->allow_plain_http()));
  account_url_ = account.url;
  return account;
}

Result<Account> Client::NewAccount(const NewAccountRequest& request) {
  json payload = json::object();
  payload["termsOfServiceAgreed"] = request.terms_of_service_agreed;
  if (!request.contact.empty()) payload["contact"] = request.contact;
  if (request.eab_kid.empty() != request.eab_hmac_key.empty()) {
    return InvalidArgument("external account binding needs both a key id and an HMAC key");
  }
  if (!request.eab_kid.empty()) {
    CF_ASSIGN_OR_RETURN(std::string eab,
                        ExternalAccountBinding(key_->public_key(), request.eab_kid,
                                               request.eab_hmac_key, directory_.new_account));
    payload["externalAccountBinding"] = json::parse(eab, nullptr, /*allow_exceptions=*/false);
  } else if (directory_.external_account_required) {
    return FailedPrecondition(
        "the CA requires external account binding: configure an EAB key id and HMAC key");
  }
  CF_ASSIGN_OR_RETURN(Response r, transport_->Post(directory_.new_account, *key_, KeyId{},
                                                   Dump(payload), BodyKind::kJson, "newAccount"));
  return AccountFromResponse(std::move(r));
}

Result<Account> Client::FindAccount() {
  json payload = {{"onlyReturnExisting", true}};
  CF_ASSIGN_OR_RETURN(Response r,
                      transport_->Post(directory_.new_account, *key_, KeyId{}, Dump(payload),
                                       BodyKind::kJson, "newAccount (onlyReturnExisting)"));
  return AccountFromResponse(std::move(r));
}

Status Client::ChangeKey(std::shared_ptr<const crypto::PrivateKey> new_key) {
  if (!new_key) return InvalidArgument("key change: no new key");
  if (directory_.key_change.empty()) return FailedPrecondition("the CA offers no keyChange");
  if (account_url_.empty()) return FailedPrecondition("key change: no account");
  // Section 7.3.5: the inner JWS, signed by the new key with its JWK and no nonce, says which
  // account and which old key; the outer one is an ordinary request signed by the old key.
  CF_ASSIGN_OR_RETURN(std::string old_jwk, crypto::PublicJwk(key_->public_key()));
  json inner_payload = {{"account", account_url_},
                        {"oldKey", json::parse(old_jwk, nullptr, /*allow_exceptions=*/false)}};
  CF_ASSIGN_OR_RETURN(std::string inner,
                      SignJws(*new_key, KeyId{}, "", directory_.key_change, Dump(inner_payload)));
  const std::string& url = directory_.key_change;
  CF_TRY(transport_->PostJws(
      url,
      [&](std::string_view nonce) {
        return SignJws(*key_, KeyId{account_url_}, nonce, url, inner);
      },
      BodyKind::kJson, "keyChange"));
  key_ = std::move(new_key);
  return Ok();
}

Result<Account> Client::DeactivateAccount() {
  CF_ASSIGN_OR_RETURN(Response r, PostAsAccount(account_url_, R"({"status":"deactivated"})",
                                                BodyKind::kJson, "account deactivation"));
  return ParseAccount(r.body, account_url_, transport_->allow_plain_http());
}

Status Client::RevokeCertificate(std::string_view certificate_der, std::optional<int> reason,
                                 const crypto::PrivateKey* certificate_key) {
  if (directory_.revoke_cert.empty()) return FailedPrecondition("the CA offers no revokeCert");
  json payload = {{"certificate", Base64UrlEncode(certificate_der)}};
  if (reason) payload["reason"] = *reason;
  if (certificate_key != nullptr) {
    // Section 7.6: signed by the certificate's key, named by its JWK.
    CF_TRY(transport_->Post(directory_.revoke_cert, *certificate_key, KeyId{}, Dump(payload),
                            BodyKind::kJson, "revokeCert"));
    return Ok();
  }
  CF_TRY(PostAsAccount(directory_.revoke_cert, Dump(payload), BodyKind::kJson, "revokeCert"));
  return Ok();
}

Result<RenewalInfo> Client::GetRenewalInfo(const x509::Certificate& certificate) {
  if (directory_.renewal_info.empty()) {
    return FailedPrecondition("the CA offers no renewalInfo (ARI)");
  }
  CF_ASSIGN_OR_RETURN(std::string id, CertId(certificate));
  std::string base = directory_.renewal_info;
  if (!base.empty() && base.back() != '/') base += '/';
  CF_ASSIGN_OR_RETURN(Response r, transport_->Get(base + id, BodyKind::kJson, "renewalInfo"));
  return ParseRenewalInfo(r.body, transport_->allow_plain_http());
}

Result<std::string> Client::KeyAuthorization(std::string_view token) const {
  return acme::KeyAuthorization(token, key_->public_key());
}

Result<std::string> Client::Dns01TxtValue(std::string_view token) const {
  return acme::Dns01TxtValue(token, key_->public_key());
}

}  // namespace certfleet::acme
