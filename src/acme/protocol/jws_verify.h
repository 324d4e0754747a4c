// The server's side of ACME request authentication (RFC 8555 section 6.2, 6.4, 7.3.4, 7.3.5):
// parsing a flattened JWS JSON body, its protected header, the embedded JWK, and checking
// signatures and external account bindings.
//
// Contract:
//  - Every failure is an acme::AcmeError (server_problem.h) with the RFC's type: "malformed"
//    for anything structurally wrong (not JSON, missing or extra members, a member name twice,
//    bad base64url, both or neither of "jwk"/"kid", a "kid" not a string, a compact or general
//    serialization, an unprotected "header", any "crit"), "badSignatureAlgorithm" for an "alg"
//    outside {ES256, ES384, RS256, EdDSA} (so never "none" and never a MAC), "badPublicKey" for a
//    JWK that is not a supported public key (RSA other than 2048, 3072 or 4096 bits -- the sizes
//    crypto::KeyType holds, and Let's Encrypt's -- or with an exponent that is even, below 65537
//    or over 64 bits, an EC curve other than P-256/P-384 or a point not on it, an OKP curve other
//    than Ed25519, a JWK with private members "d"/"p"/"q"/..., see crypto::PublicKeyFromJwk),
//    "badNonce" for a missing or empty "nonce" (RFC 8555 section 6.5; one that is not base64url
//    is malformed, section 6.5.1), and "unauthorized" for a signature that does not verify. The
//    one exception is a body over kMaxJwsBytes: a TooLarge Error, which AcmeTypeOf reads as
//    malformed and AcmeStatusOf as 413. The detail never echoes more than a bounded, sanitized
//    piece of the input.
//  - The "alg" must agree with the key: ES256 with P-256, ES384 with P-384, RS256 with RSA,
//    EdDSA with Ed25519; a mismatch is malformed (as Boulder answers it). ParseJws checks it for
//    an embedded "jwk", VerifyJws for every key.
//  - Nothing here knows nonces or URLs beyond extracting them: the front end checks "nonce"
//    (NonceStore) and "url" (against the request) itself.
// Pure functions over values; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/secret_bytes.h"
#include "crypto/key.h"

namespace certfleet::acme {

// Bodies larger than this are refused before parsing (the front end answers 413 malformed).
inline constexpr size_t kMaxJwsBytes = 64 * 1024;

// The "alg" values a request's JWS may use; a badSignatureAlgorithm problem lists them
// (RFC 8555 section 6.2: its "algorithms" field).
inline constexpr std::array<std::string_view, 4> kJwsAlgorithms = {"ES256", "ES384", "RS256",
                                                                   "EdDSA"};

// A flattened JWS JSON object (RFC 7515 section 7.2.2) with its protected header decoded.
struct ParsedJws {
  std::string protected_b64;  // as sent
  std::string payload_b64;    // as sent ("" for POST-as-GET)
  std::string signature;      // decoded bytes
  std::string payload;        // decoded payload text ("" for POST-as-GET)
  // The protected header.
  std::string alg;
  std::string nonce;  // empty if absent (a key change's inner JWS carries none)
  std::string url;
  std::string kid;                       // set when the header has "kid"
  std::optional<crypto::PublicKey> jwk;  // set when the header has "jwk"
  std::string jwk_json;                  // the canonical JWK (crypto::PublicJwk) when "jwk"
  // The ASCII signing input: protected_b64 "." payload_b64.
  std::string signing_input() const;
};

// Parses `body` (refusing more than kMaxJwsBytes) and its protected header. Requires "alg",
// "url", exactly one of "jwk"/"kid"; requires "nonce" unless `inner` (the inner JWS of a key
// change, section 7.3.5, which must have "jwk", no "nonce" and no "kid"). Unknown header members
// other than those are refused only if listed in "crit". Does not verify the signature.
Result<ParsedJws> ParseJws(std::string_view body, bool inner = false);

// Checks `jws.signature` with `key` under `jws.alg` (which must agree with the key type).
Status VerifyJws(const ParsedJws& jws, const crypto::PublicKey& key);

// Parses a JWK JSON object text into a public key, with the checks listed above.
Result<crypto::PublicKey> ParseJwk(std::string_view jwk_json);

// The base64url RFC 7638 thumbprint of `key`.
Result<std::string> JwkThumbprintB64(const crypto::PublicKey& key);

// An externalAccountBinding member (section 7.3.4) of a newAccount request whose outer JWS
// carried `account_jwk_json` and was sent to `new_account_url`.
struct ParsedEab {
  std::string kid;            // the EAB key id from the protected header
  std::string protected_b64;  // kept for the MAC check
  std::string payload_b64;
  std::string mac;  // decoded
};
// Parses the binding: a flattened JWS with alg HS256 (anything else: badSignatureAlgorithm),
// a "kid", the "url" equal to `new_account_url` (unauthorized otherwise), no "nonce", and a
// payload equal to the outer JWK (the same key, compared as keys: unauthorized otherwise; a
// payload that is no JWK at all is refused as ParseJwk refuses it).
Result<ParsedEab> ParseEab(std::string_view eab_json, const crypto::PublicKey& account_key,
                           std::string_view new_account_url);
// Checks the MAC of `eab` with the raw HMAC key, in constant time: unauthorized if it differs,
// serverInternal for an empty key (which anyone could MAC with).
Status VerifyEab(const ParsedEab& eab, const SecretBytes& hmac_key);

}  // namespace certfleet::acme
