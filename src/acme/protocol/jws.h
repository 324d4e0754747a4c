// ACME request signing (RFC 8555 section 6.2): flattened JSON JWS objects whose protected header
// carries "alg", "nonce", "url" and either "jwk" (newAccount, revocation by certificate key) or
// "kid" (every other request); the external account binding of section 7.3.4; and the values
// derived from the account key that challenges need (section 8.1, 8.4).
//
// Contract: functions return the serialized JWS JSON on success; InvalidArgument for a key type
// ACME cannot use (Ed25519) and Internal when signing fails. An empty `payload` produces the
// POST-as-GET form (section 6.3): an empty payload string, not "{}". Nothing here keeps state;
// keys are borrowed for the duration of the call. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "base/secret_bytes.h"
#include "crypto/key.h"

namespace certfleet::acme {

// How the signer names itself in the protected header.
struct KeyId {
  std::string kid;  // the account URL; empty means: embed the public JWK instead
};

// Signs `payload` (JSON text, or "" for POST-as-GET) for `url`. `nonce` may be empty only for
// the inner JWS of a key change (section 7.3.5), which carries none.
Result<std::string> SignJws(const crypto::PrivateKey& key, const KeyId& id, std::string_view nonce,
                            std::string_view url, std::string_view payload);

// The externalAccountBinding member of a newAccount payload (section 7.3.4): a JWS over the
// account's public JWK with alg HS256, the CA-assigned `eab_kid` and `new_account_url`, MACed
// with `hmac_key` (the raw key bytes; CAs usually hand it out base64url-encoded, so decode it
// first). InvalidArgument for an empty kid or key.
Result<std::string> ExternalAccountBinding(const crypto::PublicKey& account_key,
                                           std::string_view eab_kid, const SecretBytes& hmac_key,
                                           std::string_view new_account_url);

// base64url(JWK thumbprint) of the account key (RFC 7638).
Result<std::string> Thumbprint(const crypto::PublicKey& account_key);
// "<token>.<thumbprint>" (section 8.1). InvalidArgument unless `token` passes IsValidToken.
Result<std::string> KeyAuthorization(std::string_view token, const crypto::PublicKey& account_key);
// The TXT value for _acme-challenge.<name>: base64url(SHA-256(key authorization)) (section 8.4).
Result<std::string> Dns01TxtValue(std::string_view token, const crypto::PublicKey& account_key);

// Challenge tokens are used in file paths (http-01) and DNS values: only the base64url alphabet,
// 1 to 256 characters (RFC 8555 section 8.1 asks for at least 128 bits of entropy; we refuse only
// what is unsafe, not what is merely short).
bool IsValidToken(std::string_view token);

}  // namespace certfleet::acme
