// PKCS#12 bundles for Java- and Windows-style consumers: key, leaf and chain, protected with
// AES-256-CBC + PBKDF2-HMAC-SHA256 (PBES2) and an HMAC-SHA256 MAC, readable by
// `openssl pkcs12 -info` and Java's keytool.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/secret_bytes.h"
#include "crypto/key.h"

namespace certfleet::crypto {

struct Pkcs12Contents {
  PrivateKey key;
  std::string leaf_der;
  std::vector<std::string> chain_der;
};

// `leaf_der` and `chain_der` are DER certificates; chain order is preserved. `iterations` applies
// to PBKDF2 for both bags and to the MAC KDF. InvalidArgument for an empty passphrase or one
// containing NUL, fewer than 10,000 iterations, an undecodable certificate, or a leaf that does
// not match `key`. ParsePkcs12: Unauthorized on a wrong passphrase (message never includes it),
// Malformed for undecodable input or a bundle without a MAC, a key or a matching leaf;
// InvalidArgument for an unsupported key type.
Result<std::string> BuildPkcs12(const PrivateKey& key, std::string_view leaf_der,
                                const std::vector<std::string>& chain_der,
                                const SecretBytes& passphrase, std::string_view friendly_name,
                                int iterations = 600000);
Result<Pkcs12Contents> ParsePkcs12(std::string_view der, const SecretBytes& passphrase);

}  // namespace certfleet::crypto
