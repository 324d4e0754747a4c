// http-01 (RFC 8555 section 8.3) without the network: URLs and redirect targets. The fetching
// is validator.cc's, through net::HttpsClient.
#include "acme/server/validation_internal.h"

namespace certfleet::acme::server::internal {
namespace {

std::string Authority(const net::Url& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  const uint16_t default_port = url.scheme == "https" ? 443 : 80;
  if (url.port != default_port) host += ":" + std::to_string(url.port);
  return host;
}

// RFC 3986 section 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":", before
// any "/", "?" or "#".
bool HasScheme(std::string_view s) {
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > s.find_first_of("/?#")) {
    return false;
  }
  for (size_t i = 0; i < colon; ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alpha && (i == 0 || !((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string UrlText(const net::Url& url) {
  return url.scheme + "://" + Authority(url) + url.target;
}

Result<net::Url> ResolveRedirect(const net::Url& base, std::string_view location) {
  std::string absolute;
  if (HasScheme(location)) {
    absolute = std::string(location);  // "http://host/path"; ParseUrl refuses other schemes
  } else if (location.rfind("//", 0) == 0) {
    absolute = base.scheme + ":" + std::string(location);  // "//host/path"
  } else if (!location.empty() && location.front() == '/') {
    absolute = base.scheme + "://" + Authority(base) + std::string(location);
  } else {
    // "?q", "path" or "": relative to the base's path (RFC 3986 section 5.2.2 and 5.2.3).
    std::string path = base.target.substr(0, base.target.find('?'));
    if (location.empty()) {
      absolute = base.scheme + "://" + Authority(base) + base.target;
    } else if (location.front() == '?') {
      absolute = base.scheme + "://" + Authority(base) + path + std::string(location);
    } else {
      path = path.substr(0, path.rfind('/') + 1);
      absolute = base.scheme + "://" + Authority(base) + path + std::string(location);
    }
  }
  return net::ParseUrl(absolute);
}

}  // namespace certfleet::acme::server::internal
