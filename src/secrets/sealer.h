// Sealer: envelope encryption of single values into model::SealedBlob records.
// Each blob gets a fresh 256-bit data key (DEK). The value is sealed with AES-256-GCM under the
// DEK, with AAD = "certfleet blob v1|<blob id>|<purpose>", so a ciphertext cannot be moved to
// another record or reused for another purpose. The DEK is wrapped by the active KEK with
// AAD = "certfleet dek v1|<blob id>". Opening looks the blob's KEK up by id among the known
// KEKs (the active one first), so records written before a rotation keep reading.
// Thread-safe if the KEK providers are.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "model/model.h"
#include "secrets/kek.h"

namespace certfleet::secrets {

class Sealer {
 public:
  // `active` wraps new DEKs; `previous` only unwrap. Both are borrowed and must outlive this.
  Sealer(KekProvider& active, std::vector<KekProvider*> previous, const Clock& clock,
         Random& random)
      : active_(active), previous_(std::move(previous)), clock_(clock), random_(random) {}

  // Returns a new blob (id assigned) ready to insert with BlobRepo::Insert.
  Result<model::SealedBlob> Seal(const SecretBytes& value, const std::string& purpose);
  // Unauthorized if the blob was tampered with; Internal if its KEK is unknown here.
  Result<SecretBytes> Open(const model::SealedBlob& blob) const;
  // Re-wraps the DEK of `blob` under the active KEK (for rotation). Returns the new wrapped key.
  Result<std::string> Rewrap(const model::SealedBlob& blob) const;

  const KekProvider& active() const { return active_; }

 private:
  Result<SecretBytes> UnwrapDek(const model::SealedBlob& blob) const;
  KekProvider& active_;
  std::vector<KekProvider*> previous_;
  const Clock& clock_;
  Random& random_;
};

}  // namespace certfleet::secrets
