// The http-01 token map. The responder that serves it lives in net/http01_responder.cc.
#include "acme/http01.h"

#include <string>

#include "acme/jws.h"
#include "base/encoding.h"

namespace certfleet::acme {

Http01Solver::~Http01Solver() = default;

// --- Http01TokenMap ---

Status Http01TokenMap::Present(std::string_view token, std::string_view key_authorization) {
  if (!IsValidToken(token)) return InvalidArgument("http-01 token is not a valid ACME token");
  // Section 8.1: keyAuthorization = token || '.' || base64url(Thumbprint(accountKey)).
  if (key_authorization.size() > kMaxKeyAuthorizationBytes ||
      key_authorization.size() <= token.size() + 1 ||
      key_authorization.substr(0, token.size()) != token ||
      key_authorization[token.size()] != '.' ||
      !IsBase64Url(key_authorization.substr(token.size() + 1))) {
    return InvalidArgument("http-01 key authorization is not \"<token>.<thumbprint>\"");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(token);
  if (it != entries_.end()) {
    it->second = std::string(key_authorization);
    return Ok();
  }
  if (entries_.size() >= max_entries_) {
    return TooLarge("http-01 token map is full (" + std::to_string(max_entries_) + " tokens)");
  }
  entries_.emplace(std::string(token), std::string(key_authorization));
  return Ok();
}

Status Http01TokenMap::CleanUp(std::string_view token) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(token);
  if (it != entries_.end()) entries_.erase(it);
  return Ok();
}

std::optional<std::string> Http01TokenMap::Find(std::string_view token) const {
  if (!IsValidToken(token)) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(token);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

size_t Http01TokenMap::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace certfleet::acme
