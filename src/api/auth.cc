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
      .system_admin = p.role == model::Role::kAdmin && account.name == kSystemAccountName,
      .system_auditor = p.role == model::Role::kAuditor && account.name == kSystemAccountName};
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
  return "other";
}

}  // namespace certfleet::api
