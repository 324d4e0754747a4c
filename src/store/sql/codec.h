// Column encodings shared by the SQL row mappers of both backends (CONVENTIONS.md #7: row shapes
// stay inside the backend). Tags are a JSON object of strings, domains a JSON array of strings,
// times INTEGER Unix seconds, enums their model names. Decoding failures mean the stored row is not
// what this code wrote: they are Internal errors naming the column, never its value.
// Pure functions, thread-safe. nlohmann exceptions are caught here and do not escape.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "model/model.h"

namespace certfleet::store::sql {

// InvalidArgument naming `column` if a string is not valid UTF-8 (JSON cannot carry it).
Result<std::string> EncodeTags(const model::Tags& tags, std::string_view column);
Result<model::Tags> DecodeTags(std::string_view json, std::string_view column);

Result<std::string> EncodeStrings(const std::vector<std::string>& values, std::string_view column);
Result<std::vector<std::string>> DecodeStrings(std::string_view json, std::string_view column);

int64_t EncodeTime(TimePoint t);
TimePoint DecodeTime(int64_t unix_seconds);
std::optional<int64_t> EncodeTime(const std::optional<TimePoint>& t);
std::optional<TimePoint> DecodeTime(const std::optional<int64_t>& unix_seconds);

// Wraps an enum parse failure as Internal naming the column.
template <typename T>
Result<T> DecodeEnum(Result<T> parsed, std::string_view column) {
  if (!parsed.ok()) {
    return Internal("stored value of " + std::string(column) + " is invalid")
        .WithCause(std::move(parsed).error());
  }
  return parsed;
}

// Clamps a size_t row limit into SQLite's signed 64-bit LIMIT.
int64_t EncodeLimit(size_t limit);

}  // namespace certfleet::store::sql
