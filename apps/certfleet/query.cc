#include "query.h"

#include "net/http.h"

namespace certfleet::cli {

QueryString& QueryString::Add(std::string_view name, std::string_view value) {
  if (value.empty()) return *this;
  query_ += query_.empty() ? '?' : '&';
  query_ += net::UrlEncode(name);
  query_ += '=';
  query_ += net::UrlEncode(value);
  return *this;
}

std::string QueryString::str() const { return query_; }

std::string QueryString::Append(std::string_view path) const { return std::string(path) + query_; }

}  // namespace certfleet::cli
