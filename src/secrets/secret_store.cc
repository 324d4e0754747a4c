#include "secrets/secret_store.h"

#include "base/ids.h"
#include "base/validate.h"

namespace certfleet::secrets {

Result<std::string> SecretStore::SealBlob(store::Tx& tx, const SecretBytes& value,
                                          const std::string& purpose) {
  CF_ASSIGN_OR_RETURN(model::SealedBlob blob, sealer_.Seal(value, purpose));
  CF_TRY(tx.blobs().Insert(blob));
  return blob.id;
}

Result<model::SealedBlob> SecretStore::Seal(const SecretBytes& value, const std::string& purpose) {
  return sealer_.Seal(value, purpose);
}

Result<SecretBytes> SecretStore::OpenBlob(store::Tx& tx, const std::string& blob_id) {
  CF_ASSIGN_OR_RETURN(model::SealedBlob blob, tx.blobs().Get(blob_id));
  return sealer_.Open(blob);
}

Result<model::Secret> SecretStore::Create(store::Tx& tx, const NewSecret& spec,
                                          const SecretBytes& value) {
  CF_TRY(ValidateName("secret name", spec.name));
  CF_TRY(ValidateTags(spec.tags));
  TimePoint now = std::chrono::floor<std::chrono::seconds>(clock_.Now());
  model::Secret s;
  s.id = NewId(model::kSecretPrefix, clock_, random_);
  s.account_id = spec.account_id;
  s.name = spec.name;
  s.kind = spec.kind;
  s.tags = spec.tags;
  s.description = spec.description;
  s.current_version = 0;
  s.created_at = now;
  s.updated_at = now;
  CF_TRY(tx.secrets().Insert(s));
  return AddVersion(tx, s.id, value);
}

Result<model::Secret> SecretStore::AddVersion(store::Tx& tx, const std::string& secret_id,
                                              const SecretBytes& value) {
  CF_ASSIGN_OR_RETURN(model::Secret s, tx.secrets().Get(secret_id));
  CF_ASSIGN_OR_RETURN(std::string blob_id, SealBlob(tx, value, "secret:" + s.id));
  model::SecretVersion v;
  v.secret_id = s.id;
  v.version = s.current_version + 1;
  v.blob_id = blob_id;
  v.created_at = std::chrono::floor<std::chrono::seconds>(clock_.Now());
  CF_TRY(tx.secrets().AddVersion(v, v.created_at));
  s.current_version = v.version;
  s.updated_at = v.created_at;
  return s;
}

Result<SecretBytes> SecretStore::Read(store::Tx& tx, const std::string& secret_id, int version) {
  CF_ASSIGN_OR_RETURN(model::Secret s, tx.secrets().Get(secret_id));
  int want = version == 0 ? s.current_version : version;
  CF_ASSIGN_OR_RETURN(model::SecretVersion v, tx.secrets().GetVersion(s.id, want));
  return OpenBlob(tx, v.blob_id);
}

}  // namespace certfleet::secrets
