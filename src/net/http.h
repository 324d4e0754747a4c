// Plain HTTP message types shared by the server, the client and the handlers above them. They
// carry no Beast or Asio types, so code outside src/net never compiles Beast (RECIPES.md: a
// Beast+SSL translation unit costs about a minute and 1.8 GB to compile).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace certfleet::net {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // origin-form: path and optional query, as received
  std::map<std::string, std::string> headers;  // keys lower-case
  std::string body;
  std::string remote_address;  // "127.0.0.1:54321"
  // DER of the verified TLS client certificate (mutual TLS), if the peer presented one.
  std::optional<std::string> client_cert_der;

  // Path without the query string.
  std::string_view path() const;
  // Decoded value of a query parameter, if present.
  std::optional<std::string> query(std::string_view name) const;
  std::optional<std::string> header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::map<std::string, std::string> headers;  // keys as written
  std::string body;
};

// Percent-decoding for query values ('+' becomes a space); nullopt on a bad escape.
std::optional<std::string> UrlDecode(std::string_view s);
std::string UrlEncode(std::string_view s);

}  // namespace certfleet::net
