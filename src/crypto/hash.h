// Digests and MACs. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/secret_bytes.h"

namespace certfleet::crypto {

std::string Sha256(std::string_view data);  // 32 raw bytes
std::string Sha256Hex(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);  // 32 raw bytes
std::string HmacSha256(const SecretBytes& key, std::string_view data);
// Constant-time comparison of two byte strings.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace certfleet::crypto
