// JSON Web Key and JSON Web Signature primitives for ACME account keys (RFC 7515, RFC 7517,
// RFC 7518, RFC 7638). Only the key-dependent parts live here, because they need OpenSSL
// (CONVENTIONS.md #4): the JSON framing of a JWS is src/acme's business.
//
// Supported keys: P-256 ("ES256"), P-384 ("ES384") and RSA ("RS256"). Ed25519 keys are refused
// with InvalidArgument: RFC 8555 CAs (Let's Encrypt, Pebble) do not accept EdDSA account keys.
// Pure functions over immutable keys; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "crypto/key.h"

namespace certfleet::crypto {

// The JWS "alg" value for a key of `type`; InvalidArgument for Ed25519.
Result<std::string> JwsAlgorithm(KeyType type);

// The public JWK of `key` as compact JSON holding only the required members in lexicographic
// order (RFC 7638 section 3.2), so the same string serves as the "jwk" header and as the input
// of the thumbprint: EC {"crv","kty","x","y"} with x and y padded to the field size, RSA
// {"e","kty","n"} with minimal big-endian integers. InvalidArgument for unsupported keys.
Result<std::string> PublicJwk(const PublicKey& key);

// RFC 7638 thumbprint: the raw 32-byte SHA-256 of PublicJwk(key) (callers base64url it).
Result<std::string> JwkThumbprint(const PublicKey& key);

// The JWS signature of `signing_input` (ASCII(b64u(protected) "." b64u(payload))) made with
// `key`: for ECDSA the fixed-width R||S octets of RFC 7518 section 3.4 (64 bytes for P-256, 96
// for P-384), for RSA the PKCS#1 v1.5 SHA-256 signature. InvalidArgument for unsupported keys,
// Internal if OpenSSL fails.
Result<std::string> JwsSign(const PrivateKey& key, std::string_view signing_input);

// Verifies a signature in the JWS form above. False for a wrong length, a bad signature or an
// unsupported key. For tests and for checking what a JWS peer sent.
bool JwsVerify(const PublicKey& key, std::string_view signing_input, std::string_view signature);

}  // namespace certfleet::crypto
