#include "base/time_util.h"

#include <charconv>
#include <cstdio>
#include <limits>

namespace certfleet {
namespace {

using std::chrono::days;
using std::chrono::sys_days;
using std::chrono::year_month_day;

bool ParseInt(std::string_view s, int& out) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

int64_t ToUnixSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixSeconds(int64_t s) { return TimePoint(std::chrono::seconds(s)); }

TimePoint UtcDate(int year, unsigned month, unsigned day) {
  return TimePoint(
      sys_days(std::chrono::year(year) / std::chrono::month(month) / std::chrono::day(day)));
}

std::string FormatRfc3339(TimePoint t) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t);
  auto day = std::chrono::floor<days>(secs);
  year_month_day ymd(day);
  std::chrono::hh_mm_ss hms(secs - day);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                int(hms.minutes().count()), int(hms.seconds().count()));
  return buf;
}

Result<TimePoint> ParseRfc3339(std::string_view s) {
  int y, mo, d, h = 0, mi = 0, se = 0;
  if (s.size() < 10 || s[4] != '-' || s[7] != '-' || !ParseInt(s.substr(0, 4), y) ||
      !ParseInt(s.substr(5, 2), mo) || !ParseInt(s.substr(8, 2), d)) {
    return InvalidArgument("invalid timestamp, expected RFC 3339 such as 2026-01-31T00:00:00Z");
  }
  year_month_day ymd{std::chrono::year(y), std::chrono::month(unsigned(mo)),
                     std::chrono::day(unsigned(d))};
  if (!ymd.ok()) return InvalidArgument("invalid calendar date in timestamp");
  std::chrono::seconds offset{0};
  if (s.size() > 10) {
    if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s.size() < 20 || s[13] != ':' ||
        s[16] != ':' || !ParseInt(s.substr(11, 2), h) || !ParseInt(s.substr(14, 2), mi) ||
        !ParseInt(s.substr(17, 2), se) || h > 23 || mi > 59 || se > 60) {
      return InvalidArgument("invalid time of day in timestamp");
    }
    std::string_view rest = s.substr(19);
    if (!rest.empty() && rest[0] == '.') {
      size_t i = 1;
      while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
      if (i == 1) return InvalidArgument("invalid fractional seconds in timestamp");
      rest.remove_prefix(i);
    }
    if (rest == "Z" || rest == "z") {
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
      int oh, om;
      if (!ParseInt(rest.substr(1, 2), oh) || !ParseInt(rest.substr(4, 2), om) || oh > 23 ||
          om > 59) {
        return InvalidArgument("invalid offset in timestamp");
      }
      offset = std::chrono::hours(oh) + std::chrono::minutes(om);
      if (rest[0] == '-') offset = -offset;
    } else {
      return InvalidArgument("timestamp needs a time zone (Z or +HH:MM)");
    }
  }
  return TimePoint(sys_days(ymd)) + std::chrono::hours(h) + std::chrono::minutes(mi) +
         std::chrono::seconds(se) - offset;
}

Result<std::chrono::seconds> ParseDuration(std::string_view s) {
  // One or more "<n><unit>" parts, units strictly decreasing (d, h, m, s), each once: "90d",
  // "1h30m", "59m30s", "1d12h". No sign, no spaces, no empty number.
  constexpr std::string_view kExpected = "expected e.g. 90d, 12h, 1h30m or 59m30s";
  if (s.empty() || s.size() > 64)
    return InvalidArgument(std::string("invalid duration, ") + std::string(kExpected));
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 1000;
  int64_t total = 0;
  int last_rank = -1;  // index in "dhms" of the previous unit
  size_t i = 0;
  while (i < s.size()) {
    size_t digits = i;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
    if (digits == i || digits == s.size()) {
      return InvalidArgument(std::string("invalid duration, ") + std::string(kExpected));
    }
    int rank;
    int64_t mult;
    switch (s[digits]) {
      case 'd':
        rank = 0, mult = 86400;
        break;
      case 'h':
        rank = 1, mult = 3600;
        break;
      case 'm':
        rank = 2, mult = 60;
        break;
      case 's':
        rank = 3, mult = 1;
        break;
      default:
        return InvalidArgument("invalid duration unit, expected s, m, h or d");
    }
    if (rank <= last_rank) {
      return InvalidArgument("invalid duration, units must go from largest to smallest, each once");
    }
    last_rank = rank;
    int64_t n = 0;
    auto [p, ec] = std::from_chars(s.data() + i, s.data() + digits, n);
    if (ec != std::errc() || p != s.data() + digits || n > (kMax - total) / mult) {
      return InvalidArgument("duration out of range");
    }
    total += n * mult;
    i = digits + 1;
  }
  if (total <= 0) return InvalidArgument("duration out of range");
  return std::chrono::seconds(total);
}

std::string FormatDuration(std::chrono::seconds d) {
  int64_t s = d.count();
  if (s != 0 && s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s != 0 && s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s != 0 && s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

}  // namespace certfleet
