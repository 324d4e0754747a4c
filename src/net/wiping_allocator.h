// An allocator that wipes memory before freeing it. Beast's header fields and read buffers are
// parameterized on it so that bearer tokens, passphrases and key bytes that pass through them do
// not linger in freed heap blocks (CONVENTIONS.md #5). Private to src/net.
#pragma once

#include <cstddef>
#include <memory>

#include "base/secret_bytes.h"

namespace certfleet::net::internal {

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

}  // namespace certfleet::net::internal
