// API bearer tokens: "cft_" + 43 base64url characters (256 random bits). Only their SHA-256 is
// stored; the token itself is shown once, to whoever created it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/random.h"
#include "base/secret_bytes.h"

namespace certfleet::lifecycle {

inline constexpr char kTokenPrefix[] = "cft_";

struct NewToken {
  SecretBytes token;     // shown once
  std::string hash_hex;  // stored
};
NewToken GenerateApiToken(Random& random);
std::string HashApiToken(std::string_view token);
// Syntax only: prefix and alphabet.
bool LooksLikeApiToken(std::string_view token);

// One-time agent enrollment tokens: "cfe_" + 43 base64url characters, stored as SHA-256 too.
inline constexpr char kEnrollmentTokenPrefix[] = "cfe_";
NewToken GenerateEnrollmentToken(Random& random);
bool LooksLikeEnrollmentToken(std::string_view token);

// Credential changes that must reach cached authentications at once (api/auth.h caches who a
// token belongs to): a token revoked, a principal disabled or re-enabled, a role or tags
// changed. Whoever commits such a change calls NoteCredentialsChanged() after the commit; every
// cache in the process drops what it holds. Other processes sharing the store notice within
// their cache's time to live.
void NoteCredentialsChanged();
uint64_t CredentialsGeneration();

}  // namespace certfleet::lifecycle
