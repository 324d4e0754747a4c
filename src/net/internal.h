// Helpers shared by the server and the client, private to src/net and free of Beast, so that
// they compile once (in http.cc) instead of in both heavy translation units.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/secret_bytes.h"
#include "net/address_policy.h"
#include "net/http.h"

namespace certfleet::net::internal {

// `host`'s numeric addresses from a NameResolver (HttpsClient and ProbeTls). No address, or a
// failed lookup, is Unavailable (retryable) naming `origin` with a NotFound cause: the callers'
// "did not resolve". The resolver's own words (which may name it) are not passed on.
Result<std::vector<std::string>> ResolveNumeric(const NameResolver& resolve,
                                                const std::string& host, const std::string& origin);

// An allocator that wipes memory before freeing it. Beast's header fields and read buffers are
// parameterized on it so that bearer tokens, passphrases and key bytes that pass through them do
// not linger in freed heap blocks (CONVENTIONS.md #5).
template <typename T>
struct WipingAllocator {
  using value_type = T;

  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}  // NOLINT: rebinding must be implicit

  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) noexcept {
    SecureWipe(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }

  template <typename U>
  bool operator==(const WipingAllocator<U>&) const noexcept {
    return true;
  }
};

template <typename F>
class ScopeExit {
 public:
  explicit ScopeExit(F f) : f_(std::move(f)) {}
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  ~ScopeExit() { f_(); }

 private:
  F f_;
};

std::string ToLowerAscii(std::string_view s);
// RFC 9110 section 5.6.2 token: methods and field names.
bool IsToken(std::string_view s);
// False for CR, LF or NUL, which would let a value inject header fields or a second message.
bool IsSafeFieldValue(std::string_view s);
inline void WipeString(std::string& s) { SecureWipe(s.data(), s.size()); }

// 500 with a generic detail: the cause is logged, never shown (CONVENTIONS.md #2).
HttpResponse InternalProblem();

// The server's access to DeferredResponse::Attach (see http.h); handlers have no use for it.
struct DeferredAccess {
  static bool Attach(DeferredResponse& deferred, std::function<void(HttpResponse)> deliver) {
    return deferred.Attach(std::move(deliver));
  }
};

}  // namespace certfleet::net::internal
