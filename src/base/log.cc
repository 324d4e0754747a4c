#include "base/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "base/time_util.h"

namespace certfleet::log {
namespace {
std::atomic<Level> g_min{Level::kInfo};
std::mutex g_mu;

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}
}  // namespace

void SetMinLevel(Level level) { g_min = level; }

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  return out;
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (level < g_min.load()) return;
  std::string line = "{\"ts\":\"" + FormatRfc3339(std::chrono::system_clock::now()) +
                     "\",\"level\":\"" + LevelName(level) + "\",\"msg\":\"" + JsonEscape(msg) +
                     "\"";
  for (const auto& [k, v] : fields) {
    line += ",\"" + JsonEscape(k) + "\":\"" + JsonEscape(v) + "\"";
  }
  line += "}\n";
  std::lock_guard lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace certfleet::log
