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
  return Unauthorized("sealed record " + blob.id + " is wrapped by unknown key-encryption key " +
                      blob.kek_id);
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
