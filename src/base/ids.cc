#include "base/ids.h"

#include <chrono>
#include <cstdint>

namespace certfleet {
namespace {
constexpr char kCrockford[] = "0123456789abcdefghjkmnpqrstvwxyz";
}

std::string NewId(std::string_view prefix, const Clock& clock, Random& random) {
  uint64_t ms =
      uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
                   .count());
  uint8_t rnd[10];
  random.Fill(rnd, sizeof rnd);
  // 128 bits: 48 time bits then 80 random bits, emitted 5 bits at a time (130 bits, top 2 zero).
  unsigned __int128 v = (unsigned __int128)(ms & 0xFFFFFFFFFFFFull) << 80;
  for (int i = 0; i < 10; ++i) v |= (unsigned __int128)rnd[i] << (8 * (9 - i));
  std::string out(prefix);
  out += '_';
  char body[26];
  for (int i = 25; i >= 0; --i) {
    body[i] = kCrockford[uint8_t(v & 31)];
    v >>= 5;
  }
  out.append(body, 26);
  return out;
}

bool IsValidId(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + 1 + 26) return false;
  if (id.substr(0, prefix.size()) != prefix || id[prefix.size()] != '_') return false;
  for (char c : id.substr(prefix.size() + 1)) {
    bool ok = false;
    for (const char* p = kCrockford; *p; ++p) ok |= (*p == c);
    if (!ok) return false;
  }
  return true;
}

}  // namespace certfleet
