// Hex and base64 (standard and URL-safe, RFC 4648) codecs. Decoders return Malformed on any
// character outside the alphabet. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

namespace certfleet {

std::string HexEncode(std::string_view bytes, bool upper = false);
Result<std::string> HexDecode(std::string_view hex);

std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);
// Unpadded base64url, as ACME and JOSE use it.
std::string Base64UrlEncode(std::string_view bytes);
Result<std::string> Base64UrlDecode(std::string_view text);
// True when every character is in the base64url alphabet (RFC 8555 section 8.1 tokens).
bool IsBase64Url(std::string_view text);

}  // namespace certfleet
