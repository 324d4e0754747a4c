#include "secrets/sealer.h"

#include "base/ids.h"
#include "crypto/aead.h"

namespace certfleet::secrets {
namespace {

std::string BlobAad(const model::SealedBlob& b) {
  return "certfleet blob v1|" + b.id + "|" + b.purpose;
}
std::string DekAad(const std::string& blob_id) { return "certfleet dek v1|" + blob_id; }

}  // namespace

Result<model::SealedBlob> Sealer::Seal(const SecretBytes& value, const std::string& purpose) {
  model::SealedBlob blob;
  blob.id = NewId(model::kBlobPrefix, clock_, random_);
  blob.purpose = purpose;
  blob.created_at = std::chrono::floor<std::chrono::seconds>(clock_.Now());
  blob.kek_id = active_.id();
  SecretBytes dek = random_.SecretOfSize(crypto::kAes256KeySize);
  CF_ASSIGN_OR_RETURN(blob.ciphertext, crypto::AesGcmSeal(dek, value.view(), BlobAad(blob)));
  CF_ASSIGN_OR_RETURN(blob.wrapped_dek, active_.Wrap(dek, DekAad(blob.id)));
  return blob;
}

Result<SecretBytes> Sealer::UnwrapDek(const model::SealedBlob& blob) const {
  if (blob.kek_id == active_.id()) return active_.Unwrap(blob.wrapped_dek, DekAad(blob.id));
  for (KekProvider* k : previous_) {
    if (k->id() == blob.kek_id) return k->Unwrap(blob.wrapped_dek, DekAad(blob.id));
  }
  // The server's own key problem, not the caller's: Internal (the API answers 500 without the
  // words; the log keeps them). Usually a replica that missed a KEK rotation.
  return Internal("sealed record " + blob.id + " is wrapped by unknown key-encryption key " +
                  blob.kek_id +
                  "; this certfleetd's kek.key and kek.d/ are not the current ones: copy them "
                  "from the replica that rotated (docs/high-availability.md, \"Rotating the "
                  "KEK\")");
}

Result<SecretBytes> Sealer::Open(const model::SealedBlob& blob) const {
  CF_ASSIGN_OR_RETURN(SecretBytes dek, UnwrapDek(blob));
  auto value = crypto::AesGcmOpen(dek, blob.ciphertext, BlobAad(blob));
  if (!value.ok()) {
    return Unauthorized("sealed record " + blob.id + " failed authentication");
  }
  return std::move(value).value();
}

Result<std::string> Sealer::Rewrap(const model::SealedBlob& blob) const {
  CF_ASSIGN_OR_RETURN(SecretBytes dek, UnwrapDek(blob));
  return active_.Wrap(dek, DekAad(blob.id));
}

}  // namespace certfleet::secrets
