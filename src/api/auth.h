// Bearer-token authentication. Tokens are "cft_" + 43 base64url characters (256 random bits).
// Only their SHA-256 is stored; lookups hash the presented token and compare in the database
// (a hash lookup, so there is no early-exit string comparison on the secret itself).
#pragma once

#include <optional>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "lifecycle/caller.h"
#include "store/store.h"

namespace certfleet::api {

inline constexpr char kTokenPrefix[] = "cft_";

struct NewToken {
  SecretBytes token;    // shown once
  std::string hash_hex;  // stored
};
NewToken GenerateApiToken(Random& random);
std::string HashApiToken(std::string_view token);

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

}  // namespace certfleet::api
