#include "api/sessions.h"

#include <algorithm>

#include "base/encoding.h"
#include "crypto/hash.h"

namespace certfleet::api {
namespace {

constexpr size_t kCookieBytes = 32;
constexpr size_t kCsrfBytes = 32;

std::string Key(std::string_view cookie) { return crypto::Sha256Hex(cookie); }

}  // namespace

SessionStore::SessionStore(const Clock& clock, Random& random, SessionOptions options)
    : clock_(clock), random_(random), options_(options) {}

TimePoint SessionStore::ExpiresAt(const Session& s) const {
  return std::min(s.last_used_at + options_.idle, s.created_at + options_.max);
}

SessionStore::Created SessionStore::Create(std::string token_hash) {
  const TimePoint now = clock_.Now();
  Created out;
  out.cookie = Base64UrlEncode(random_.Bytes(kCookieBytes));
  out.session.token_hash = std::move(token_hash);
  out.session.csrf_token = Base64UrlEncode(random_.Bytes(kCsrfBytes));
  out.session.created_at = now;
  out.session.last_used_at = now;
  out.session.expires_at = ExpiresAt(out.session);
  std::lock_guard lock(mu_);
  if (sessions_.size() >= options_.capacity) {
    std::erase_if(sessions_, [&](const auto& kv) { return ExpiresAt(kv.second) <= now; });
  }
  while (!sessions_.empty() && sessions_.size() >= options_.capacity) {
    // Bounded memory: the oldest login goes first (linear, only when full).
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.created_at < b.second.created_at;
    });
    sessions_.erase(oldest);
  }
  sessions_[Key(out.cookie)] = out.session;
  return out;
}

Result<Session> SessionStore::Use(std::string_view cookie) {
  const Error none = Unauthorized("no valid console session (log in again)");
  if (cookie.empty()) return none;
  const TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = sessions_.find(Key(cookie));
  if (it == sessions_.end()) return none;
  if (ExpiresAt(it->second) <= now) {
    sessions_.erase(it);
    return none;
  }
  it->second.last_used_at = now;
  it->second.expires_at = ExpiresAt(it->second);
  return it->second;
}

bool SessionStore::Remove(std::string_view cookie) {
  std::lock_guard lock(mu_);
  return sessions_.erase(Key(cookie)) > 0;
}

size_t SessionStore::size() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

std::string CookieValue(std::string_view header, std::string_view name) {
  // RFC 6265 section 5.4: "name=value" pairs separated by "; ".
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    return std::string(pair.substr(eq + 1));
  }
  return "";
}

}  // namespace certfleet::api
