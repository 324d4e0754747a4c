// Logging: JSON lines on stderr (docs/architecture.md, "Logs"). Fields are added as key/value
// string pairs and JSON-escaped. SecretBytes cannot be passed (it has no printer). Thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace certfleet::log {

enum class Level { kDebug, kInfo, kWarn, kError };

using Field = std::pair<std::string_view, std::string>;

void SetMinLevel(Level level);
void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});
inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kDebug, m, f);
}
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, m, f);
}
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, m, f);
}
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kError, m, f);
}

// JSON string escaping (RFC 8259), exposed for tests.
std::string JsonEscape(std::string_view s);

}  // namespace certfleet::log
