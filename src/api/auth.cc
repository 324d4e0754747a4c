#include "api/auth.h"

#include "base/encoding.h"
#include "crypto/hash.h"

namespace certfleet::api {

NewToken GenerateApiToken(Random& random) {
  std::string raw = random.Bytes(32);
  std::string text = kTokenPrefix + Base64UrlEncode(raw);
  SecureWipe(raw.data(), raw.size());
  NewToken t{SecretBytes(), HashApiToken(text)};
  t.token = SecretBytes::FromString(std::move(text));
  return t;
}

std::string HashApiToken(std::string_view token) { return crypto::Sha256Hex(token); }

Result<lifecycle::Caller> Authenticator::Authenticate(
    const std::optional<std::string>& authorization) {
  if (!authorization) return Unauthorized("missing bearer token (Authorization: Bearer ...)");
  std::string_view v = *authorization;
  constexpr std::string_view kBearer = "Bearer ";
  if (v.size() <= kBearer.size() || v.substr(0, kBearer.size()) != kBearer) {
    return Unauthorized("the Authorization header must use the Bearer scheme");
  }
  std::string_view token = v.substr(kBearer.size());
  if (token.size() != 4 + 43 || token.substr(0, 4) != kTokenPrefix ||
      !IsBase64Url(token.substr(4))) {
    return Unauthorized("invalid bearer token");
  }
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto rec = tx->tokens().GetByHash(HashApiToken(token));
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
  return lifecycle::Caller{.principal_id = p.id,
                           .account_id = p.account_id,
                           .role = p.role,
                           .tags = p.tags};
}

}  // namespace certfleet::api
