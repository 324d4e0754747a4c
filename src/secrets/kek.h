// Key-encryption keys (KEKs): wrap and unwrap per-record data keys (envelope encryption,
// docs/architecture.md "Security model"). A provider never exposes its key material; the file
// provider keeps it in memory in a SecretBytes, the PKCS#11 provider (later) inside the token.
// Implementations are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"

namespace certfleet::secrets {

class KekProvider {
 public:
  virtual ~KekProvider() = default;
  // A stable, non-secret identifier recorded next to every wrapped key ("file-3f9a...").
  virtual const std::string& id() const = 0;
  virtual Result<std::string> Wrap(const SecretBytes& dek, std::string_view aad) = 0;
  // Unauthorized if the wrapped key was not produced by this KEK with this AAD.
  virtual Result<SecretBytes> Unwrap(std::string_view wrapped, std::string_view aad) = 0;
};

// A 32-byte AES-256-GCM key in a file. LoadOrCreate() creates the file with mode 0600 from the
// start (O_CREAT|O_EXCL) when it does not exist, and refuses an existing file that is readable or
// writable by group or others, or is not exactly 32 bytes.
class FileKek final : public KekProvider {
 public:
  static Result<std::unique_ptr<FileKek>> LoadOrCreate(const std::string& path, Random& random);
  static Result<std::unique_ptr<FileKek>> FromKey(SecretBytes key);

  const std::string& id() const override { return id_; }
  Result<std::string> Wrap(const SecretBytes& dek, std::string_view aad) override;
  Result<SecretBytes> Unwrap(std::string_view wrapped, std::string_view aad) override;

 private:
  FileKek(SecretBytes key, std::string id) : key_(std::move(key)), id_(std::move(id)) {}
  SecretBytes key_;
  std::string id_;
};

}  // namespace certfleet::secrets
