#include "base/random.h"

#include <sys/random.h>

#include <cerrno>

#include "base/check.h"

namespace certfleet {

void SystemRandom::Fill(void* out, size_t n) {
  auto* p = static_cast<uint8_t*>(out);
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      CF_CHECK(errno == EINTR);  // any other failure means no entropy source at all
      continue;
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
}

SecretBytes Random::SecretOfSize(size_t n) {
  SecretBytes s(n);
  Fill(s.data(), n);
  return s;
}

std::string Random::Bytes(size_t n) {
  std::string s(n, '\0');
  Fill(s.data(), n);
  return s;
}

uint64_t Random::Uniform(uint64_t bound) {
  CF_CHECK(bound > 0);
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  uint64_t v;
  do {
    Fill(&v, sizeof v);
  } while (v >= limit);
  return v % bound;
}

Random& SystemRandomSource() {
  static SystemRandom r;
  return r;
}

}  // namespace certfleet
