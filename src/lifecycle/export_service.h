// ExportService: hands out a certificate version with its private key encrypted as PKCS#8
// (PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256).
//
// Whether a certificate may be exported was fixed when it was requested: exporting one requested
// as not exportable is refused with Conflict, and the refusal is recorded. Every export is
// recorded (who, when, which version, how many FQDNs and wildcards) for audit and chargeback.
// For API callers (Caller::audit set) the audit record commits in the same transaction as the
// export record, refusals included (issue #13): no export without its audit record.
// Without a caller-supplied passphrase a fresh one (264 bits) is generated and stored sealed as a
// secret in the certificate's account, tagged like the certificate; only its id is returned.
// Thread-safe. PBKDF2 with 600,000 iterations costs a few hundred milliseconds of CPU by design;
// it runs outside any store transaction.
#pragma once

#include <optional>
#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "crypto/key.h"
#include "lifecycle/caller.h"
#include "secrets/secret_store.h"
#include "store/store.h"

namespace certfleet::lifecycle {

struct ExportOptions {
  crypto::Pkcs8Options pkcs8;
};

struct ExportResult {
  std::string export_id;
  std::string certificate_id;
  std::string version_id;
  int version = 0;
  std::string serial_hex;
  std::string certificate_pem;
  std::string chain_pem;
  std::string fullchain_pem;
  std::string private_key_pem;  // encrypted PKCS#8; safe to store, useless without the passphrase
  std::optional<std::string> passphrase_secret_id;
};

class ExportService {
 public:
  ExportService(store::Store& store, secrets::SecretStore& secrets, const Clock& clock,
                Random& random, ExportOptions options = {})
      : store_(store),
        secrets_(secrets),
        clock_(clock),
        random_(random),
        options_(std::move(options)) {}

  // NotFound for unknown or foreign certificates, Conflict if not exportable,
  // FailedPrecondition if no version has been issued yet, InvalidArgument for a bad passphrase.
  Result<ExportResult> Export(const Caller& caller, const std::string& certificate_id,
                              std::optional<SecretBytes> passphrase);

 private:
  // Records a refused export (and, for API callers, its audit record) in one transaction.
  Status RecordRefusal(const Caller& caller, const model::Certificate& cert,
                       const std::string& reason, const Error& refusal);
  store::Store& store_;
  secrets::SecretStore& secrets_;
  const Clock& clock_;
  Random& random_;
  ExportOptions options_;
};

}  // namespace certfleet::lifecycle
