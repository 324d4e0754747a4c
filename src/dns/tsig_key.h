// TSIG keys (RFC 8945) for signing RFC 2136 updates, read from the BIND key file that
// `tsig-keygen -a hmac-sha256 NAME` writes:
//
//   key "NAME" {
//   	algorithm hmac-sha256;
//   	secret "BASE64";
//   };
//
// The parser is strict: exactly one key statement holding exactly one `algorithm` and one
// `secret`, nothing else besides comments (#, //, /* */) and whitespace; at most
// kMaxKeyFileBytes. Algorithms: hmac-sha256 and hmac-sha512 (ldns 1.8 cannot sign with
// hmac-sha384: it misspells the name internally; MD5 and SHA-1 are refused as too weak).
// On failure the result is Malformed/InvalidArgument/TooLarge with a message that names the
// problem and the line, never the secret. The secret lives only in SecretBytes; parse buffers that
// held it are wiped. Pure functions, thread-safe; a TsigKey is a move-only value.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "base/secret_bytes.h"

namespace certfleet::dns {

inline constexpr size_t kMaxKeyFileBytes = 4096;
// Decoded key length bounds: RFC 8945 section 6 asks for keys at least as long as the MAC is wide
// in practice; we refuse anything shorter than 16 bytes and longer than one HMAC-SHA512 block.
inline constexpr size_t kMinTsigKeyBytes = 16;
inline constexpr size_t kMaxTsigKeyBytes = 128;

enum class TsigAlgorithm { kHmacSha256, kHmacSha512 };

// "hmac-sha256", "hmac-sha512": the names BIND and ldns use (without the trailing dot).
std::string_view TsigAlgorithmName(TsigAlgorithm algorithm);

struct TsigKey {
  std::string name;  // canonical: lower case, no trailing dot (e.g. "acme-update")
  TsigAlgorithm algorithm = TsigAlgorithm::kHmacSha256;
  SecretBytes secret;  // the decoded key bytes

  TsigKey Clone() const { return {name, algorithm, secret.Clone()}; }
};

// Parses the text of a BIND key file (see above).
Result<TsigKey> ParseBindKeyFile(std::string_view text);
// Reads `path` (a regular file, no symlink, at most kMaxKeyFileBytes) and parses it. Errors name
// the path.
Result<TsigKey> ReadBindKeyFile(const std::string& path);

}  // namespace certfleet::dns
