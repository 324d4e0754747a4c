// The one ownership check (issue #13, section 5): "load it, or answer NotFound if it belongs to
// another account". Every route and service that loads a resource by a caller-supplied id or name
// goes through LoadVisible/LoadOwned, so that
//   - a malformed id, an unknown id and another account's resource all answer the SAME
//     NotFound text (NotFoundError), and existence never leaks across accounts;
//   - the next route cannot forget the check: the authorization matrix test
//     (api/authz_matrix_test.cc) counts OwnershipChecks() around every request that names a
//     resource and fails when a route answered without making one.
// Store errors other than NotFound pass through unchanged. Header-only templates plus a per-thread
// counter; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "base/error.h"
#include "base/ids.h"

namespace certfleet::store {

// NotFound("<kind> "<key>" not found"), the only answer for a missing, malformed or foreign
// resource.
Error NotFoundError(std::string_view kind, std::string_view key);

// Ownership checks made on this thread so far (only ever grows; tests compare two readings).
uint64_t OwnershipChecks();
void CountOwnershipCheck();

// Loads `key` with `load(key)` (which returns Result<T>) and returns the resource when
// `visible(resource)` is true. NotFoundError(kind, key) when `id_prefix` is non-empty and `key`
// is not a well-formed id of that kind, when `load` answers NotFound, or when the resource is not
// visible to the caller.
template <typename Load, typename Visible>
auto LoadVisible(std::string_view kind, const std::string& key, std::string_view id_prefix,
                 Load&& load, Visible&& visible) -> std::invoke_result_t<Load, const std::string&> {
  CountOwnershipCheck();
  if (!id_prefix.empty() && !IsValidId(key, id_prefix)) return NotFoundError(kind, key);
  auto loaded = std::forward<Load>(load)(key);
  if (!loaded.ok()) {
    if (loaded.error().code() == ErrorCode::kNotFound) return NotFoundError(kind, key);
    return loaded;
  }
  if (!std::forward<Visible>(visible)(*loaded)) return NotFoundError(kind, key);
  return loaded;
}

// The usual case: the resource is visible when its `account_id` is `account_id`.
template <typename Load>
auto LoadOwned(std::string_view kind, const std::string& key, std::string_view id_prefix,
               const std::string& account_id, Load&& load)
    -> std::invoke_result_t<Load, const std::string&> {
  return LoadVisible(kind, key, id_prefix, std::forward<Load>(load),
                     [&account_id](const auto& r) { return r.account_id == account_id; });
}

}  // namespace certfleet::store
