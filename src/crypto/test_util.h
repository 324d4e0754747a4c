// Test-only helpers for src/crypto tests: throwaway certificates, a private temp dir, and running
// the openssl CLI as a second, independent decoder.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "base/secret_bytes.h"
#include "crypto/key.h"

namespace certfleet::crypto::testing {

// A minimal v3 certificate for `subject`'s public key, signed by `issuer` (self-signed when they
// are the same key). Enough for PKCS#12 tests; src/x509 owns real issuance.
std::string MakeCertDer(const PrivateKey& subject, const PrivateKey& issuer, std::string_view cn);

// A mode-0700 directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes `data` to a new file created with mode 0600 (never wider, even briefly).
void WritePrivateFile(const std::filesystem::path& path, std::string_view data);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};
// Runs `command` through /bin/sh. Callers pass secrets only as file paths, never in `command`.
CommandResult RunCommand(const std::string& command);

}  // namespace certfleet::crypto::testing
