// Console sessions (issue #17, docs/console.md "Server side"): a browser logs in once with an API
// token (POST /v1/session) and then authenticates with an HttpOnly cookie instead of holding the
// token in script-reachable storage. A session is nothing but a pointer to the token it was made
// from: each use re-checks that token (Authenticator::AuthenticateHash), so the session acts as
// the token's principal and ends when the token is revoked or expires or the principal is
// disabled.
//
// Sessions live in this process's memory, keyed by the SHA-256 of the cookie value (the value
// itself is never kept, logged or audited). With several replicas behind a load balancer each
// replica knows only its own sessions: the balancer must be sticky, or a user logs in again
// where the request lands. A restart ends every session.
//
// Lifetime: a session ends after `idle` without use (each use renews it) or `max` after login,
// whichever comes first, on the injected Clock. At most `capacity` sessions are kept; a login
// beyond that first forgets ended sessions, then the oldest.
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"

namespace certfleet::api {

inline constexpr char kSessionCookie[] = "certfleet_session";

struct SessionOptions {
  Seconds idle{15 * 60};
  Seconds max{8 * 3600};
  size_t capacity = 10000;
};

struct Session {
  std::string token_hash;  // lifecycle::HashApiToken of the token logged in with
  std::string csrf_token;  // sent back in X-CSRF-Token on every change
  TimePoint created_at;
  TimePoint last_used_at;
  TimePoint expires_at;  // min(last_used_at + idle, created_at + max)
};

class SessionStore {
 public:
  SessionStore(const Clock& clock, Random& random, SessionOptions options);

  struct Created {
    std::string cookie;  // 32 random bytes, base64url: the Set-Cookie value
    Session session;
  };
  // A new session for the token with this hash.
  Created Create(std::string token_hash);
  // The session this cookie value names, renewed (last_used_at = now). Unauthorized (the
  // message mentions "session") when there is none or it has ended; an ended one is removed.
  Result<Session> Use(std::string_view cookie);
  // Ends the session; false if there was none.
  bool Remove(std::string_view cookie);
  size_t size() const;
  const SessionOptions& options() const { return options_; }

 private:
  TimePoint ExpiresAt(const Session& s) const;

  const Clock& clock_;
  Random& random_;
  const SessionOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Session> sessions_;  // by SHA-256 (hex) of the cookie; guarded by mu_
};

// The value of cookie `name` in a Cookie header ("a=1; certfleet_session=xyz"); empty if absent.
std::string CookieValue(std::string_view cookie_header, std::string_view name);

}  // namespace certfleet::api
