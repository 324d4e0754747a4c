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
  // Keys lower-case; a field sent several times is joined with ", " (RFC 9110 section 5.3).
  std::map<std::string, std::string> headers;
  std::string body;
  std::string remote_address;  // "127.0.0.1:54321"
  // DER of the verified TLS client certificate (mutual TLS), if the peer presented one.
  std::optional<std::string> client_cert_der;

  // Path without the query string.
  std::string_view path() const;
  // Decoded value of the first query parameter with this (decoded) name; "" for "?name" without
  // "=". nullopt if absent or badly escaped.
  std::optional<std::string> query(std::string_view name) const;
  std::optional<std::string> header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  // From a handler: keys as written. The server owns framing: it sets Content-Length, Connection
  // and Cache-Control: no-store itself and drops a handler's Content-Length, Transfer-Encoding,
  // Connection and any field with CR, LF or NUL in it.
  // From HttpsClient::Do: keys lower-case, repeated fields joined with ", ".
  std::map<std::string, std::string> headers;
  std::string body;
};

// Percent-decoding for query values ('+' becomes a space); nullopt on a bad escape.
std::optional<std::string> UrlDecode(std::string_view s);
// Percent-encodes everything except the RFC 3986 unreserved characters (ALPHA DIGIT - . _ ~), so
// the result is safe as one path segment or one query value. Space becomes "%20".
std::string UrlEncode(std::string_view s);

}  // namespace certfleet::net
