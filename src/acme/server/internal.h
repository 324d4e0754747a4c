// Shared by front_end.cc and core.cc only: the verified request, the reply before framing, URL
// and JSON helpers. Not part of the server's interface.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "acme/protocol/jws_verify.h"
#include "acme/server/server.h"
#include "store/acme_server.h"

namespace certfleet::acme::server {

struct AcmeServer::Authenticated {
  ParsedJws jws;
  std::string url;  // the request URL the JWS was signed for
  // "kid" requests: the signing account (status valid).
  std::optional<store::AcmeServerAccount> account;
  bool post_as_get() const { return jws.payload_b64.empty(); }
};

struct AcmeServer::Reply {
  int status = 200;
  std::string body;  // JSON unless content_type says otherwise
  std::string content_type = "application/json";
  std::string location;
  std::vector<std::pair<std::string, std::string>> links;  // (url, rel)
  std::optional<Seconds> retry_after;
};

// URLs of resources.
inline std::string AccountUrl(const std::string& base, const std::string& id) {
  return base + "/acme/acct/" + id;
}
inline std::string OrderUrl(const std::string& base, const std::string& id) {
  return base + "/acme/order/" + id;
}
inline std::string AuthzUrl(const std::string& base, const std::string& id) {
  return base + "/acme/authz/" + id;
}
inline std::string ChallengeUrl(const std::string& base, const std::string& id) {
  return base + "/acme/chall/" + id;
}
inline std::string CertificateUrl(const std::string& base, const std::string& order_id) {
  return base + "/acme/cert/" + order_id;
}

// The account object (RFC 8555 section 7.1.2).
nlohmann::json AccountJson(const store::AcmeServerAccount& a, const std::string& base);

}  // namespace certfleet::acme::server
