// Small helpers on Result shared by the lifecycle services.
#pragma once

#include "base/error.h"

namespace certfleet::lifecycle {

// The outcome of `r` without its value (for CF_TRY on calls whose value is not needed).
template <typename T>
Status AsStatus(const Result<T>& r) {
  if (r.ok()) return Ok();
  return r.error();
}

}  // namespace certfleet::lifecycle
