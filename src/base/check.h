// CF_CHECK: always-on invariant checks (CONVENTIONS.md #3). A failed check means continuing
// would corrupt state; it logs the location and aborts. Never use it for input or environment
// conditions: those are Errors.
#pragma once

namespace certfleet::internal {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line);
}  // namespace certfleet::internal

#define CF_CHECK(cond)                                                          \
  do {                                                                          \
    if (!(cond)) ::certfleet::internal::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (0)
