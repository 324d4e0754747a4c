// Checks a bundle fetched from the server before anything is written to disk.
//
// CheckBundle returns the parsed, verified bundle or an error:
//   Malformed        undecodable PEM, no certificate, not exactly one key block in the key PEM
//   InvalidArgument  the first certificate is a CA or the key does not match it (the leaf must
//                    come first in the fullchain)
//   Unauthorized     wrong passphrase for an encrypted key
//   Forbidden        not yet valid / expired at `now`, or the chain does not verify to `roots`
// Encrypted keys are decrypted only in memory. Thread-safe (no shared state).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/secret_bytes.h"
#include "crypto/key.h"
#include "x509/certificate.h"

namespace certfleet::agent {

struct BundleInput {
  std::string fullchain_pem;  // leaf first, then intermediates
  SecretBytes key_pem;        // "PRIVATE KEY" or "ENCRYPTED PRIVATE KEY" (then passphrase set)
  std::optional<SecretBytes> passphrase;
};

struct CheckedBundle {
  x509::Certificate leaf;
  std::vector<x509::Certificate> chain;  // intermediates, in order
  crypto::PrivateKey key;
};

Result<CheckedBundle> CheckBundle(const BundleInput& input,
                                  const std::vector<x509::Certificate>& roots, TimePoint now);

}  // namespace certfleet::agent
