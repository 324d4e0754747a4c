// Small helpers shared by the lifecycle services.
#pragma once

#include <string>

#include "base/error.h"
#include "model/model.h"

namespace certfleet::lifecycle {

// The outcome of `r` without its value (for CF_TRY on calls whose value is not needed).
template <typename T>
Status AsStatus(const Result<T>& r) {
  if (r.ok()) return Ok();
  return r.error();
}

// A tag selector in messages: "k1=v1,k2=v2" (keys in order).
inline std::string SelectorText(const model::Tags& selector) {
  std::string out;
  for (const auto& [k, v] : selector) {
    if (!out.empty()) out += ",";
    out += k + "=" + v;
  }
  return out;
}

}  // namespace certfleet::lifecycle
