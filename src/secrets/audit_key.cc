#include "secrets/audit_key.h"

namespace certfleet::secrets {

Result<AuditKey> LoadOrCreateAuditKey(store::Tx& tx, SecretStore& secrets, Random& random) {
  CF_ASSIGN_OR_RETURN(std::optional<std::string> blob_id, tx.settings().Get(kAuditKeyBlobSetting));
  if (blob_id) {
    // A failure here (e.g. the blob was swapped) must stop the server rather than key a new
    // chain: a fresh key would make the old records unverifiable without saying why.
    CF_ASSIGN_OR_RETURN(SecretBytes key, secrets.OpenBlob(tx, *blob_id));
    if (key.size() != 32) return Internal("the audit key has the wrong length");
    return AuditKey{std::move(key), false};
  }
  SecretBytes key = random.SecretOfSize(32);
  CF_ASSIGN_OR_RETURN(std::string id, secrets.SealBlob(tx, key, kAuditKeyPurpose));
  CF_TRY(tx.settings().Put(kAuditKeyBlobSetting, id));
  return AuditKey{std::move(key), true};
}

}  // namespace certfleet::secrets
