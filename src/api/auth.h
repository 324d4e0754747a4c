// Bearer-token authentication (token format: lifecycle/tokens.h). Lookups hash the presented
// token and find the hash in the database, so there is no early-exit comparison on the secret.
#pragma once

#include <optional>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "lifecycle/caller.h"
#include "lifecycle/tokens.h"
#include "store/store.h"

namespace certfleet::api {

// Admins of this account manage every account (the management account of an organization).
inline constexpr char kSystemAccountName[] = "default";

class Authenticator {
 public:
  Authenticator(store::Store& store, const Clock& clock) : store_(store), clock_(clock) {}
  // From the Authorization header value. Unauthorized with a reason for a missing, malformed,
  // unknown, revoked or expired token or a disabled principal; the token never appears in it.
  Result<lifecycle::Caller> Authenticate(const std::optional<std::string>& authorization);

 private:
  store::Store& store_;
  const Clock& clock_;
};

// The reason label of a failed authentication for certfleet_auth_failures_total: one of
// missing, malformed, invalid, revoked, expired, disabled, agent_certificate (set by the caller
// for mutual TLS), other.
std::string_view AuthFailureReason(const Error& error);

}  // namespace certfleet::api
