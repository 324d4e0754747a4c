// SecretService: the API's view of the secret store (issue #3). Metadata is visible within the
// owning account; a value is released only when policy::Authorize allows kSecretValueRead for
// the caller against the secret's tags (attribute-based access: every tag on the secret must be
// present on the caller with the same value; admins of the account are not tag-gated). A value
// is returned only after its audit record (Caller::audit, audit/audit_log.h) committed; the API
// layer audits denials. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "lifecycle/caller.h"
#include "secrets/secret_store.h"
#include "store/store.h"

namespace certfleet::lifecycle {

class SecretService {
 public:
  SecretService(store::Store& store, secrets::SecretStore& secrets)
      : store_(store), secrets_(secrets) {}

  Result<std::vector<model::Secret>> List(const Caller& caller);
  // NotFound for unknown and foreign secrets alike.
  Result<model::Secret> Get(const Caller& caller, const std::string& id);
  // Forbidden naming the rule (e.g. "tags.mismatch") when the caller may not read it.
  // version 0 = current.
  Result<SecretBytes> ReadValue(const Caller& caller, const std::string& id, int version);

 private:
  store::Store& store_;
  secrets::SecretStore& secrets_;
};

}  // namespace certfleet::lifecycle
