// JSON Web Key and JSON Web Signature primitives for ACME account keys (RFC 7515, RFC 7517,
// RFC 7518, RFC 7638). Only the key-dependent parts live here, because they need OpenSSL
// (CONVENTIONS.md #4): the JSON framing of a JWS is src/acme's business.
//
// Supported keys: P-256 ("ES256"), P-384 ("ES384") and RSA ("RS256") everywhere. Ed25519
// ("EdDSA", RFC 8037) only on the verifying side (PublicJwk, JwkThumbprint, JwsVerify,
// PublicKeyFromJwk), for certfleet's ACME server: JwsAlgorithm and JwsSign refuse Ed25519 with
// InvalidArgument, because RFC 8555 CAs (Let's Encrypt, Pebble) do not accept EdDSA account keys
// and the ACME client must not make one.
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
// {"e","kty","n"} with minimal big-endian integers, Ed25519 {"crv":"Ed25519","kty":"OKP","x"}
// (RFC 8037 section 2). InvalidArgument for unsupported keys.
Result<std::string> PublicJwk(const PublicKey& key);

// RFC 7638 thumbprint: the raw 32-byte SHA-256 of PublicJwk(key) (callers base64url it).
Result<std::string> JwkThumbprint(const PublicKey& key);

// The JWS signature of `signing_input` (ASCII(b64u(protected) "." b64u(payload))) made with
// `key`: for ECDSA the fixed-width R||S octets of RFC 7518 section 3.4 (64 bytes for P-256, 96
// for P-384), for RSA the PKCS#1 v1.5 SHA-256 signature. InvalidArgument for unsupported keys,
// Internal if OpenSSL fails.
Result<std::string> JwsSign(const PrivateKey& key, std::string_view signing_input);

// Verifies a signature in the JWS form above (for Ed25519: the 64-byte RFC 8032 signature,
// "EdDSA" of RFC 8037 section 3.1). False for a wrong length, a bad signature or an unsupported
// key. For tests and for checking what a JWS peer sent.
bool JwsVerify(const PublicKey& key, std::string_view signing_input, std::string_view signature);

// The key members of a public JWK, already base64url-decoded by the caller (the JSON is
// src/acme's business). Which members count depends on `kty`; the others are ignored.
struct JwkMembers {
  std::string kty;  // "EC", "RSA" or "OKP"
  std::string crv;  // EC: "P-256" or "P-384"; OKP: "Ed25519"
  std::string x;    // EC: the big-endian x coordinate; OKP: the raw 32-byte public key
  std::string y;    // EC: the big-endian y coordinate
  std::string n;    // RSA: the big-endian modulus
  std::string e;    // RSA: the big-endian public exponent
};

// The public key a JWK sent by a peer names (RFC 7518 section 6.2 and 6.3, RFC 8037 section 2),
// checked so that only keys KeyType can hold come out:
//  - EC: crv P-256 or P-384, x and y each exactly the field size (32 or 48 bytes), the point on
//    the curve (both curves have cofactor 1, so that makes it a point of the group);
//  - RSA: n and e minimal (no leading zero octet, RFC 7518 section 2 "Base64urlUInt"), n odd and
//    of exactly 2048, 3072 or 4096 bits (the sizes KeyType has; Let's Encrypt accepts the same
//    three), e odd with 65537 <= e < 2^64 (FIPS 186-5 appendix A.1.1's lower bound; OpenSSL
//    refuses exponents over 64 bits for moduli above 3072 bits, so a larger one could never
//    verify);
//  - OKP: crv Ed25519 and x exactly 32 bytes. (OpenSSL does not decode the point on import; a
//    key that is not a curve point verifies nothing.)
// InvalidArgument (saying which rule failed, never echoing key bytes) for anything else.
Result<PublicKey> PublicKeyFromJwk(const JwkMembers& jwk);

}  // namespace certfleet::crypto
