// AES-256-GCM authenticated encryption for sealing records at rest (secret store envelopes).
// Output layout of Seal: 12-byte random nonce || ciphertext || 16-byte tag.
// Open fails with Unauthorized if the key, nonce, ciphertext, tag or AAD do not match; it never
// returns partial plaintext. Thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "base/secret_bytes.h"

namespace certfleet::crypto {

inline constexpr size_t kAes256KeySize = 32;

Result<std::string> AesGcmSeal(const SecretBytes& key, std::string_view plaintext,
                               std::string_view aad);
Result<SecretBytes> AesGcmOpen(const SecretBytes& key, std::string_view sealed,
                               std::string_view aad);

}  // namespace certfleet::crypto
