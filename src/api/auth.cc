#include "api/auth.h"

namespace certfleet::api {

Result<lifecycle::Caller> Authenticator::Authenticate(
    const std::optional<std::string>& authorization) {
  if (!authorization) return Unauthorized("missing bearer token (Authorization: Bearer ...)");
  std::string_view v = *authorization;
  constexpr std::string_view kBearer = "Bearer ";
  if (v.size() <= kBearer.size() || v.substr(0, kBearer.size()) != kBearer) {
    return Unauthorized("the Authorization header must use the Bearer scheme");
  }
  return AuthenticateToken(v.substr(kBearer.size()));
}

Result<lifecycle::Caller> Authenticator::AuthenticateToken(std::string_view token) {
  if (!lifecycle::LooksLikeApiToken(token)) return Unauthorized("invalid bearer token");
  return AuthenticateHash(lifecycle::HashApiToken(token));
}

Result<lifecycle::Caller> Authenticator::AuthenticateHash(const std::string& hash) {
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(hash);
    if (it != cache_.end()) {
      const Cached& c = it->second;
      const bool fresh = c.generation == lifecycle::CredentialsGeneration() &&
                         std::chrono::steady_clock::now() - c.cached_at < kCacheTtl;
      if (!fresh) {
        cache_.erase(it);
      } else if (c.expires_at && *c.expires_at <= clock_.Now()) {
        cache_.erase(it);
        return Unauthorized("bearer token has expired");
      } else {
        ++hits_;
        return c.caller;
      }
    }
  }
  return Lookup(hash);
}

Result<lifecycle::Caller> Authenticator::Lookup(const std::string& hash) {
  // Read before the store: a change committed after this read bumps the generation, so what is
  // cached below is stale at once.
  const uint64_t generation = lifecycle::CredentialsGeneration();
  {
    std::lock_guard lock(mu_);
    ++lookups_;
  }
  CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
  auto rec = tx->tokens().GetByHash(hash);
  if (!rec.ok()) {
    if (rec.error().code() == ErrorCode::kNotFound) return Unauthorized("invalid bearer token");
    return std::move(rec).error();
  }
  if (rec->revoked) return Unauthorized("bearer token has been revoked");
  if (rec->expires_at && *rec->expires_at <= clock_.Now()) {
    return Unauthorized("bearer token has expired");
  }
  CF_ASSIGN_OR_RETURN(model::Principal p, tx->principals().Get(rec->principal_id));
  if (p.disabled) return Unauthorized("principal is disabled");
  CF_ASSIGN_OR_RETURN(model::Account account, tx->accounts().Get(p.account_id));
  lifecycle::Caller caller{
      .principal_id = p.id,
      .account_id = p.account_id,
      .role = p.role,
      .tags = p.tags,
      .system_admin = p.role == model::Role::kAdmin && account.name == kSystemAccountName,
      .system_auditor = p.role == model::Role::kAuditor && account.name == kSystemAccountName};
  std::lock_guard lock(mu_);
  if (cache_.size() >= kCacheCapacity) cache_.clear();  // rare; the next requests refill it
  cache_[hash] = Cached{caller, rec->expires_at, std::chrono::steady_clock::now(), generation};
  return caller;
}

uint64_t Authenticator::cache_hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

uint64_t Authenticator::store_lookups() const {
  std::lock_guard lock(mu_);
  return lookups_;
}

std::string_view AuthFailureReason(const Error& error) {
  // The messages above are this file's own; the label set is closed (docs/metrics.md).
  const std::string& m = error.message();
  if (m.rfind("missing", 0) == 0) return "missing";
  if (m.find("Bearer scheme") != std::string::npos) return "malformed";
  if (m.find("revoked") != std::string::npos) return "revoked";
  if (m.find("expired") != std::string::npos) return "expired";
  if (m.find("disabled") != std::string::npos) return "disabled";
  if (m.find("invalid bearer token") != std::string::npos) return "invalid";
  if (m.find("session") != std::string::npos) return "session";
  return "other";
}

}  // namespace certfleet::api
