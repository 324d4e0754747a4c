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
  std::string_view token = v.substr(kBearer.size());
  if (!lifecycle::LooksLikeApiToken(token)) return Unauthorized("invalid bearer token");
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto rec = tx->tokens().GetByHash(lifecycle::HashApiToken(token));
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
  return lifecycle::Caller{
      .principal_id = p.id,
      .account_id = p.account_id,
      .role = p.role,
      .tags = p.tags,
      .system_admin = p.role == model::Role::kAdmin && account.name == kSystemAccountName};
}

}  // namespace certfleet::api
