// Strict reading of JSON request bodies: the body must be an object; each field is read with its
// expected type; fields nobody asked for are an error (typos must not pass silently). nlohmann's
// exceptions stop here (CONVENTIONS.md #1).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/secret_bytes.h"

namespace certfleet::api {

class JsonBody {
 public:
  // Malformed for invalid JSON or a non-object. An empty body reads as {}.
  static Result<JsonBody> Parse(const std::string& body);

  Result<std::optional<std::string>> OptString(const std::string& key, size_t max_len = 1024);
  Result<std::string> String(const std::string& key, size_t max_len = 1024);
  // Reads a secret string and wipes it from the parsed document.
  Result<std::optional<SecretBytes>> OptSecret(const std::string& key, size_t max_len = 1024);
  Result<std::optional<bool>> OptBool(const std::string& key);
  // An integer (no fraction, no string) within [min, max].
  Result<std::optional<int64_t>> OptInt(const std::string& key, int64_t min, int64_t max);
  Result<std::optional<std::vector<std::string>>> OptStringArray(const std::string& key,
                                                                 size_t max_items,
                                                                 size_t max_len = 1024);
  Result<std::optional<std::map<std::string, std::string>>> OptStringMap(const std::string& key);
  // InvalidArgument naming the first field that no reader consumed.
  Status NoOtherFields() const;

 private:
  explicit JsonBody(nlohmann::json j) : j_(std::move(j)) {}
  nlohmann::json j_;
  std::set<std::string> consumed_;
};

}  // namespace certfleet::api
