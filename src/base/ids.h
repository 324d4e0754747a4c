// Resource ids: "<prefix>_<26 chars>", opaque, sortable by creation time (48-bit millisecond
// timestamp then 80 random bits, Crockford base32, like ULID). Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/random.h"

namespace certfleet {

std::string NewId(std::string_view prefix, const Clock& clock, Random& random);
// True for "<prefix>_" followed by exactly 26 Crockford base32 characters.
bool IsValidId(std::string_view id, std::string_view prefix);

}  // namespace certfleet
