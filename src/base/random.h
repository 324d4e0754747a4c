// Random: a CSPRNG source as an injectable input. The system implementation reads getrandom(2)
// (the same kernel CSPRNG OpenSSL seeds from). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/secret_bytes.h"

namespace certfleet {

class Random {
 public:
  virtual ~Random() = default;
  virtual void Fill(void* out, size_t n) = 0;

  SecretBytes SecretOfSize(size_t n);
  std::string Bytes(size_t n);
  // Uniform in [0, bound), bound > 0, without modulo bias.
  uint64_t Uniform(uint64_t bound);
};

class SystemRandom final : public Random {
 public:
  void Fill(void* out, size_t n) override;
};

// The process-wide system source, for composition roots and for code paths that cannot take one
// by injection (none in business logic).
Random& SystemRandomSource();

}  // namespace certfleet
