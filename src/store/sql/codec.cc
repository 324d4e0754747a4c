#include "store/sql/codec.h"

#include <limits>

#include <nlohmann/json.hpp>

#include "base/time_util.h"

namespace certfleet::store::sql {
namespace {

Error BadColumn(std::string_view column, const char* what) {
  return Internal("stored value of " + std::string(column) + " is not " + what);
}

// dump() throws type_error 316 on invalid UTF-8; refusing is better than silently rewriting a
// value the caller will later compare against.
template <typename T>
Result<std::string> Dump(const T& value, std::string_view column) {
  try {
    return nlohmann::json(value).dump();
  } catch (const nlohmann::json::exception&) {
    return InvalidArgument(std::string(column) + ": strings must be valid UTF-8");
  }
}

}  // namespace

Result<std::string> EncodeTags(const model::Tags& tags, std::string_view column) {
  return Dump(tags, column);
}

Result<model::Tags> DecodeTags(std::string_view json, std::string_view column) {
  try {
    auto j = nlohmann::json::parse(json);
    if (!j.is_object()) return BadColumn(column, "a JSON object");
    model::Tags tags;
    for (const auto& [k, v] : j.items()) {
      if (!v.is_string()) return BadColumn(column, "a JSON object of strings");
      tags.emplace(k, v.get<std::string>());
    }
    return tags;
  } catch (const nlohmann::json::exception&) {
    return BadColumn(column, "valid JSON");
  }
}

Result<std::string> EncodeStrings(const std::vector<std::string>& values, std::string_view column) {
  return Dump(values, column);
}

Result<std::vector<std::string>> DecodeStrings(std::string_view json, std::string_view column) {
  try {
    auto j = nlohmann::json::parse(json);
    if (!j.is_array()) return BadColumn(column, "a JSON array");
    std::vector<std::string> out;
    out.reserve(j.size());
    for (const auto& v : j) {
      if (!v.is_string()) return BadColumn(column, "a JSON array of strings");
      out.push_back(v.get<std::string>());
    }
    return out;
  } catch (const nlohmann::json::exception&) {
    return BadColumn(column, "valid JSON");
  }
}

int64_t EncodeTime(TimePoint t) { return ToUnixSeconds(t); }
TimePoint DecodeTime(int64_t unix_seconds) { return FromUnixSeconds(unix_seconds); }

std::optional<int64_t> EncodeTime(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return ToUnixSeconds(*t);
}

std::optional<TimePoint> DecodeTime(const std::optional<int64_t>& unix_seconds) {
  if (!unix_seconds) return std::nullopt;
  return FromUnixSeconds(*unix_seconds);
}

int64_t EncodeLimit(size_t limit) {
  constexpr auto kMax = static_cast<size_t>(std::numeric_limits<int64_t>::max());
  return static_cast<int64_t>(limit > kMax ? kMax : limit);
}

}  // namespace certfleet::store::sql
