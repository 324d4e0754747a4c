// API bearer tokens: "cft_" + 43 base64url characters (256 random bits). Only their SHA-256 is
// stored; the token itself is shown once, to whoever created it.
#pragma once

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

}  // namespace certfleet::lifecycle
