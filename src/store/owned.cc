#include "store/owned.h"

#include "base/validate.h"

namespace certfleet::store {
namespace {

thread_local uint64_t checks = 0;

}  // namespace

Error NotFoundError(std::string_view kind, std::string_view key) {
  return NotFound(std::string(kind) + " " + QuoteForMessage(key) + " not found");
}

uint64_t OwnershipChecks() { return checks; }

void CountOwnershipCheck() { ++checks; }

}  // namespace certfleet::store
