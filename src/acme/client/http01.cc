// The http-01 token map. The responder that serves it lives in net/http01_responder.cc.
#include "acme/client/http01.h"

#include <cctype>
#include <string>

#include "acme/protocol/jws.h"
#include "base/encoding.h"
#include "base/validate.h"

namespace certfleet::acme {

Http01Solver::~Http01Solver() = default;
Http01Tokens::~Http01Tokens() = default;

// --- Http01TokenMap ---

namespace {

// The identifier as the map keys it (lower case, no trailing dot), or "" when it is no DNS name.
std::string MapIdentifier(std::string_view identifier) {
  std::string id(identifier);
  for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!id.empty() && id.back() == '.') id.pop_back();
  if (!ValidateDnsName(id, /*allow_wildcard=*/false).ok()) return "";
  return id;
}

// One account's view of a shared token store (Http01TokenMap or StoreHttp01Tokens).
template <typename Tokens>
class AccountSolver final : public Http01Solver {
 public:
  AccountSolver(Tokens& map, std::string owner) : map_(map), owner_(std::move(owner)) {}
  Status Present(std::string_view identifier, std::string_view token,
                 std::string_view key_authorization) override {
    return map_.Put(owner_, identifier, token, key_authorization);
  }
  Status CleanUp(std::string_view identifier, std::string_view token) override {
    return map_.Remove(owner_, identifier, token);
  }

 private:
  Tokens& map_;
  const std::string owner_;
};

}  // namespace

Result<std::string> CheckHttp01Entry(std::string_view identifier, std::string_view token,
                                     std::string_view key_authorization) {
  if (!IsValidToken(token)) return InvalidArgument("http-01 token is not a valid ACME token");
  std::string id = MapIdentifier(identifier);
  if (id.empty()) return InvalidArgument("http-01 identifier is not a DNS name");
  // Section 8.1: keyAuthorization = token || '.' || base64url(Thumbprint(accountKey)).
  if (key_authorization.size() > Http01TokenMap::kMaxKeyAuthorizationBytes ||
      key_authorization.size() <= token.size() + 1 ||
      key_authorization.substr(0, token.size()) != token ||
      key_authorization[token.size()] != '.' ||
      !IsBase64Url(key_authorization.substr(token.size() + 1))) {
    return InvalidArgument("http-01 key authorization is not \"<token>.<thumbprint>\"");
  }
  return id;
}

Status Http01TokenMap::Present(std::string_view identifier, std::string_view token,
                               std::string_view key_authorization) {
  return Put("", identifier, token, key_authorization);
}

Status Http01TokenMap::CleanUp(std::string_view identifier, std::string_view token) {
  return Remove("", identifier, token);
}

std::unique_ptr<Http01Solver> Http01TokenMap::ForAccount(std::string owner) {
  return std::make_unique<AccountSolver<Http01TokenMap>>(*this, std::move(owner));
}

Status Http01TokenMap::Put(std::string_view owner, std::string_view identifier,
                           std::string_view token, std::string_view key_authorization) {
  CF_ASSIGN_OR_RETURN(const std::string id, CheckHttp01Entry(identifier, token, key_authorization));
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_pair(id, std::string(token));
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    // Tokens are random per authorization; the same (name, token) from another account is
    // either a collision or an attempt to take over the name's answer. Neither is served.
    if (it->second.owner != owner) {
      return Conflict("http-01 token for " + id + " is held by another account");
    }
    it->second.key_authorization = std::string(key_authorization);
    return Ok();
  }
  if (entries_.size() >= max_entries_) {
    return TooLarge("http-01 token map is full (" + std::to_string(max_entries_) + " tokens)");
  }
  entries_.emplace(std::move(key), Entry{std::string(owner), std::string(key_authorization)});
  return Ok();
}

Status Http01TokenMap::Remove(std::string_view owner, std::string_view identifier,
                              std::string_view token) {
  const std::string id = MapIdentifier(identifier);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(std::make_pair(id, std::string(token)));
  if (it != entries_.end() && it->second.owner == owner) entries_.erase(it);
  return Ok();
}

std::optional<std::string> Http01TokenMap::Find(std::string_view host,
                                                std::string_view token) const {
  if (!IsValidToken(token)) return std::nullopt;
  const std::string id = net::NormalizeHttp01Host(host);
  if (id.empty()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(std::make_pair(id, std::string(token)));
  if (it == entries_.end()) return std::nullopt;
  return it->second.key_authorization;
}

std::optional<std::string> Http01TokenMap::OwnerOf(std::string_view identifier,
                                                   std::string_view token) const {
  const std::string id = MapIdentifier(identifier);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(std::make_pair(id, std::string(token)));
  if (it == entries_.end()) return std::nullopt;
  return it->second.owner;
}

size_t Http01TokenMap::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

// --- StoreHttp01Tokens ---

namespace {
// A token presented this long ago belongs to an authorization that has long expired.
constexpr Seconds kStaleTokenAge = std::chrono::hours(24);
}  // namespace

std::unique_ptr<Http01Solver> StoreHttp01Tokens::ForAccount(std::string owner) {
  return std::make_unique<AccountSolver<StoreHttp01Tokens>>(*this, std::move(owner));
}

Status StoreHttp01Tokens::Put(std::string_view owner, std::string_view identifier,
                              std::string_view token, std::string_view key_authorization) {
  CF_ASSIGN_OR_RETURN(const std::string id, CheckHttp01Entry(identifier, token, key_authorization));
  const TimePoint now = std::chrono::time_point_cast<Seconds>(clock_.Now());
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto& tokens = tx->http01_tokens();
  CF_ASSIGN_OR_RETURN(int64_t swept, tokens.DeleteCreatedBefore(now - kStaleTokenAge));
  (void)swept;
  CF_ASSIGN_OR_RETURN(auto existing, tokens.Get(id, std::string(token)));
  if (existing && existing->owner != owner) {
    return Conflict("http-01 token for " + id + " is held by another account");
  }
  if (!existing) {
    CF_ASSIGN_OR_RETURN(int64_t n, tokens.Count());
    if (n >= static_cast<int64_t>(max_entries_)) {
      return TooLarge("http-01 token store is full (" + std::to_string(max_entries_) + " tokens)");
    }
  }
  CF_TRY(tokens.Put({.identifier = id,
                     .token = std::string(token),
                     .owner = std::string(owner),
                     .key_authorization = std::string(key_authorization),
                     .created_at = now}));
  return tx->Commit();
}

Status StoreHttp01Tokens::Remove(std::string_view owner, std::string_view identifier,
                                 std::string_view token) {
  const std::string id = MapIdentifier(identifier);
  if (id.empty() || !IsValidToken(token)) return Ok();
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(tx->http01_tokens().Delete(id, std::string(token), std::string(owner)));
  return tx->Commit();
}

std::optional<std::string> StoreHttp01Tokens::Find(std::string_view host,
                                                   std::string_view token) const {
  if (!IsValidToken(token)) return std::nullopt;
  const std::string id = net::NormalizeHttp01Host(host);
  if (id.empty()) return std::nullopt;
  auto tx = store_.BeginRead();
  if (!tx.ok()) return std::nullopt;
  auto row = (*tx)->http01_tokens().Get(id, std::string(token));
  if (!row.ok() || !row->has_value()) return std::nullopt;
  return (*row)->key_authorization;
}

}  // namespace certfleet::acme
