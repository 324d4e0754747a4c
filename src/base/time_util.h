// Time formatting and parsing: RFC 3339 timestamps (UTC, "Z") and the compact durations the CLI
// and config use ("90d", "12h", "1h30m", "30s"). Pure functions, thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/error.h"

namespace certfleet {

// "2026-11-27T03:52:41Z" (whole seconds, UTC).
std::string FormatRfc3339(TimePoint t);
// Accepts "YYYY-MM-DDTHH:MM:SSZ", optional fractional seconds, a numeric offset, or a bare
// date "YYYY-MM-DD" (midnight UTC).
Result<TimePoint> ParseRfc3339(std::string_view text);
// "<n><unit>" parts with unit in d, h, m, s, largest first, each unit at most once ("90d",
// "1h30m", "59m30s"); the total must be positive.
Result<std::chrono::seconds> ParseDuration(std::string_view text);
// Inverse of ParseDuration, choosing the largest unit that divides evenly.
std::string FormatDuration(std::chrono::seconds d);
// Seconds since the Unix epoch.
int64_t ToUnixSeconds(TimePoint t);
TimePoint FromUnixSeconds(int64_t s);
// A calendar date in UTC, for CA/Browser Forum effective-date rules.
TimePoint UtcDate(int year, unsigned month, unsigned day);

}  // namespace certfleet
