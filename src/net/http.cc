// Beast-free helpers: request accessors, percent-encoding (RFC 3986 section 2.1) and URL parsing.
// Kept out of the two Beast translation units so that changes here rebuild in a second.
#include "net/http.h"

#include <arpa/inet.h>

#include <charconv>

#include "net/https_client.h"
#include "net/internal.h"
#include "net/problem.h"

namespace certfleet::net {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

char LowerChar(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// Registered names (RFC 3986 section 3.2.2) restricted to what DNS and our certificates use.
bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::string_view HttpRequest::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::optional<std::string> HttpRequest::query(std::string_view name) const {
  std::string_view t = target;
  size_t q = t.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = t.substr(q + 1);
  // A fragment is never sent by conforming clients, but do not let one leak into a value.
  rest = rest.substr(0, rest.find('#'));
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    auto key = UrlDecode(pair.substr(0, eq));
    if (!key || *key != name) continue;
    if (eq == std::string_view::npos) return std::string();
    return UrlDecode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::optional<std::string> HttpRequest::header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (IsUnreserved(c)) {
      out.push_back(c);
    } else {
      auto b = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xf]);
    }
  }
  return out;
}

Result<Url> ParseUrl(std::string_view url) {
  // Whitespace, controls and non-ASCII bytes are refused outright rather than encoded: a URL
  // carrying them comes from a bug or an injection attempt (CR/LF would split the request line).
  for (char c : url) {
    auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b >= 0x7f) {
      return InvalidArgument("URL contains whitespace, a control or a non-ASCII character");
    }
  }
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return InvalidArgument("URL has no scheme");
  Url out;
  for (char c : url.substr(0, sep)) out.scheme.push_back(LowerChar(c));
  if (out.scheme == "https") {
    out.port = 443;
  } else if (out.scheme == "http") {
    out.port = 80;
  } else {
    return InvalidArgument("URL scheme must be https or http");
  }

  std::string_view rest = url.substr(sep + 3);
  size_t auth_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view tail =
      auth_end == std::string_view::npos ? std::string_view() : rest.substr(auth_end);
  // Userinfo is deprecated (RFC 9110 section 4.2.4) and a classic phishing vector
  // ("https://good.example@evil.example/").
  if (authority.find('@') != std::string_view::npos) {
    return InvalidArgument("URL must not contain userinfo");
  }

  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgument("URL has an unclosed IPv6 literal");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return InvalidArgument("URL has junk after the IPv6 literal");
      port = after.substr(1);
      if (port.empty()) return InvalidArgument("URL has an empty port");
    }
    in6_addr addr;
    std::string literal(host);
    if (inet_pton(AF_INET6, literal.c_str(), &addr) != 1) {
      return InvalidArgument("URL has an invalid IPv6 literal");
    }
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return InvalidArgument("URL has an empty port");
    }
    if (host.empty()) return InvalidArgument("URL has no host");
    for (char c : host) {
      if (!IsHostNameChar(LowerChar(c))) return InvalidArgument("URL host has a bad character");
    }
  }
  for (char c : host) out.host.push_back(LowerChar(c));

  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return InvalidArgument("URL has an invalid port");
    }
    out.port = static_cast<uint16_t>(value);
  }

  // The fragment is client-side only (RFC 9110 section 4.2.5): never send it.
  tail = tail.substr(0, tail.find('#'));
  if (tail.empty()) {
    out.target = "/";
  } else if (tail.front() == '?') {
    out.target = "/" + std::string(tail);
  } else {
    out.target = std::string(tail);
  }
  return out;
}

namespace internal {

std::string ToLowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = LowerChar(c);
  return out;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool IsSafeFieldValue(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

HttpResponse InternalProblem() {
  return EncodeProblem(ErrorCode::kInternal, "the server could not complete the request");
}

}  // namespace internal
namespace internal {

Result<std::vector<std::string>> ResolveNumeric(const NameResolver& resolve,
                                                const std::string& host,
                                                const std::string& origin) {
  Result<std::vector<std::string>> ips = resolve(host);
  if (!ips.ok() || ips->empty()) {
    return Unavailable("resolving " + origin + " failed: " +
                       (ips.ok() ? "the name has no address" : "the DNS lookup failed"))
        .WithRetry()
        .WithCause(NotFound("cannot resolve " + host));
  }
  return ips;
}

}  // namespace internal
}  // namespace certfleet::net
