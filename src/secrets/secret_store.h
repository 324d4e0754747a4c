// SecretStore: sealed, versioned, tagged secrets owned by one account, on top of the store's
// SecretRepo/BlobRepo and a Sealer. All calls work inside the caller's transaction (Tx), so a
// secret is created atomically with the state change that needs it.
// Access checks (tag-based, audited) sit above this class; it only stores and opens.
#pragma once

#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "model/model.h"
#include "secrets/sealer.h"
#include "store/store.h"

namespace certfleet::secrets {

struct NewSecret {
  std::string account_id;
  std::string name;
  model::SecretKind kind = model::SecretKind::kPassphrase;
  model::Tags tags;
  std::string description;
};

class SecretStore {
 public:
  SecretStore(Sealer& sealer, const Clock& clock, Random& random)
      : sealer_(sealer), clock_(clock), random_(random) {}

  // Creates the secret with version 1 holding `value`.
  Result<model::Secret> Create(store::Tx& tx, const NewSecret& spec, const SecretBytes& value);
  // Adds a new version and makes it current.
  Result<model::Secret> AddVersion(store::Tx& tx, const std::string& secret_id,
                                   const SecretBytes& value);
  // Opens a version (0 = current).
  Result<SecretBytes> Read(store::Tx& tx, const std::string& secret_id, int version = 0);

  // Seals a value into a standalone blob (private keys of certificate versions and CAs).
  Result<std::string> SealBlob(store::Tx& tx, const SecretBytes& value, const std::string& purpose);
  // The same, without a transaction: the caller inserts the blob (tx.blobs().Insert) in the
  // transaction that needs it, so sealing (a KEK wrap, possibly on an HSM) runs before the
  // writer is taken.
  Result<model::SealedBlob> Seal(const SecretBytes& value, const std::string& purpose);
  Result<SecretBytes> OpenBlob(store::Tx& tx, const std::string& blob_id);

 private:
  Sealer& sealer_;
  const Clock& clock_;
  Random& random_;
};

}  // namespace certfleet::secrets
