// Building the query strings of list endpoints (docs/api.md: "?account=&principal=&since=...").
// Values are percent-encoded (RFC 3986 unreserved characters pass as they are), so an account
// name or a timestamp such as "2026-01-01T00:00:00+02:00" reaches the server unchanged.
// Pure value type; thread-compatible.
#pragma once

#include <string>
#include <string_view>

namespace certfleet::cli {

class QueryString {
 public:
  // Adds name=value; an empty value is skipped (the CLI's "flag not given").
  QueryString& Add(std::string_view name, std::string_view value);
  // "" when nothing was added, else "?a=1&b=2" in the order added.
  std::string str() const;
  // path + str().
  std::string Append(std::string_view path) const;

 private:
  std::string query_;
};

}  // namespace certfleet::cli
