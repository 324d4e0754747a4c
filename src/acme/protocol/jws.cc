#include "acme/protocol/jws.h"

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "crypto/hash.h"
#include "crypto/jws.h"

namespace certfleet::acme {
namespace {

using nlohmann::json;

// dump() throws on invalid UTF-8 by default; replacing such bytes keeps this exception-free
// (inputs come from configuration and from URLs already checked to be ASCII).
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// "<b64u(protected)>.<b64u(payload)>" and the flattened serialization around a signature
// (RFC 7515 section 7.2.2).
std::string SigningInput(const std::string& protected_b64, const std::string& payload_b64) {
  return protected_b64 + "." + payload_b64;
}

std::string Flattened(const std::string& protected_b64, const std::string& payload_b64,
                      std::string_view signature) {
  json out = {{"protected", protected_b64},
              {"payload", payload_b64},
              {"signature", Base64UrlEncode(signature)}};
  return Dump(out);
}

}  // namespace

bool IsValidToken(std::string_view token) {
  return !token.empty() && token.size() <= 256 && IsBase64Url(token);
}

Result<std::string> SignJws(const crypto::PrivateKey& key, const KeyId& id, std::string_view nonce,
                            std::string_view url, std::string_view payload) {
  CF_ASSIGN_OR_RETURN(std::string alg, crypto::JwsAlgorithm(key.type()));
  json header = {{"alg", alg}, {"url", std::string(url)}};
  if (!nonce.empty()) header["nonce"] = std::string(nonce);
  if (id.kid.empty()) {
    CF_ASSIGN_OR_RETURN(std::string jwk, crypto::PublicJwk(key.public_key()));
    header["jwk"] = json::parse(jwk, nullptr, /*allow_exceptions=*/false);  // our own JSON
  } else {
    header["kid"] = id.kid;
  }
  std::string protected_b64 = Base64UrlEncode(Dump(header));
  std::string payload_b64 = Base64UrlEncode(payload);
  CF_ASSIGN_OR_RETURN(std::string sig,
                      crypto::JwsSign(key, SigningInput(protected_b64, payload_b64)));
  return Flattened(protected_b64, payload_b64, sig);
}

Result<std::string> ExternalAccountBinding(const crypto::PublicKey& account_key,
                                           std::string_view eab_kid, const SecretBytes& hmac_key,
                                           std::string_view new_account_url) {
  if (eab_kid.empty() || hmac_key.empty()) {
    return InvalidArgument("external account binding needs a key id and an HMAC key");
  }
  CF_ASSIGN_OR_RETURN(std::string jwk, crypto::PublicJwk(account_key));
  json header = {
      {"alg", "HS256"}, {"kid", std::string(eab_kid)}, {"url", std::string(new_account_url)}};
  std::string protected_b64 = Base64UrlEncode(Dump(header));
  std::string payload_b64 = Base64UrlEncode(jwk);
  std::string mac = crypto::HmacSha256(hmac_key, SigningInput(protected_b64, payload_b64));
  return Flattened(protected_b64, payload_b64, mac);
}

Result<std::string> Thumbprint(const crypto::PublicKey& account_key) {
  CF_ASSIGN_OR_RETURN(std::string raw, crypto::JwkThumbprint(account_key));
  return Base64UrlEncode(raw);
}

Result<std::string> KeyAuthorization(std::string_view token, const crypto::PublicKey& account_key) {
  if (!IsValidToken(token)) {
    return InvalidArgument("challenge token is not 1 to 256 base64url characters");
  }
  CF_ASSIGN_OR_RETURN(std::string thumb, Thumbprint(account_key));
  return std::string(token) + "." + thumb;
}

Result<std::string> Dns01TxtValue(std::string_view token, const crypto::PublicKey& account_key) {
  CF_ASSIGN_OR_RETURN(std::string key_auth, KeyAuthorization(token, account_key));
  return Base64UrlEncode(crypto::Sha256(key_auth));
}

}  // namespace certfleet::acme
