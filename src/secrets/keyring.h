// KekRing: the active key-encryption key plus the retired ones that still unwrap older records,
// and RewrapAll, which moves every sealed record onto the active KEK (issue #3, KEK rotation).
//
// File layout under a data directory:
//   kek.key          the active file KEK (0600)
//   kek.d/<id>.key   retired file KEKs (0600), kept until no record uses them
// Rotation (RotateFileKek) retires kek.key into kek.d/, creates a fresh kek.key, and the caller
// then runs RewrapAll. A crash between the two leaves every record readable: retired keys are
// always loaded. Thread-safe after construction.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/random.h"
#include "secrets/kek.h"
#include "secrets/sealer.h"
#include "store/store.h"

namespace certfleet::secrets {

class KekRing {
 public:
  // `active` is the provider for new records (file or PKCS#11).
  explicit KekRing(std::unique_ptr<KekProvider> active) : active_(std::move(active)) {}
  void AddRetired(std::unique_ptr<KekProvider> k) { retired_.push_back(std::move(k)); }
  // Loads every kek.d/*.key (and, when the active provider is not the file KEK, kek.key) as
  // retired keys, skipping the active one.
  Status LoadRetiredFileKeks(const std::string& data_dir, Random& random, bool include_kek_key);

  KekProvider& active() { return *active_; }
  std::vector<KekProvider*> retired() const;

 private:
  std::unique_ptr<KekProvider> active_;
  std::vector<std::unique_ptr<KekProvider>> retired_;
};

// Moves <data_dir>/kek.key to <data_dir>/kek.d/<id>.key and creates a new kek.key.
Status RotateFileKek(const std::string& data_dir, Random& random);

// Re-wraps every blob not wrapped by the sealer's active KEK, in batches of `batch` per
// transaction. Returns how many records were re-wrapped.
Result<int64_t> RewrapAll(store::Store& store, const Sealer& sealer, size_t batch = 200);

}  // namespace certfleet::secrets
