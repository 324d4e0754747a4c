// Test builders for the x509 tests: keys, TBS specs and small CA hierarchies. Test-only.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "crypto/key.h"
#include "x509/certificate.h"
#include "x509/tbs.h"

namespace certfleet::x509::testing {

// A fresh key of `type` (RSA takes a fraction of a second; tests cache what they reuse).
std::shared_ptr<const crypto::PrivateKey> NewKey(crypto::KeyType type);
// SubjectPublicKeyInfo DER of a key generated directly with OpenSSL, for key types or sizes
// crypto::PrivateKey refuses (RSA-1024, RSA-2052, P-521, X25519). `spec` is e.g. "RSA:1024",
// "EC:secp521r1", "X25519".
std::string RawSpki(std::string_view spec);

// 2026-01-01T00:00:00Z.
TimePoint T0();
// 16 bytes derived from n, top byte 0x7n so no sign octet is needed.
std::string Serial(uint64_t n);

// A TLS server leaf for `key` valid [T0, T0 + 90 d), CN app.example.test, SAN app + www.
TbsSpec LeafSpec(const crypto::PublicKey& key);
// A CA spec (keyCertSign + cRLSign) valid [T0 - 1 y, T0 + 10 y).
TbsSpec CaSpec(const crypto::PublicKey& key, std::string_view cn);

struct TestCa {
  Certificate cert;
  std::shared_ptr<const crypto::PrivateKey> key;
  Signer signer;
};
// Self-signed root "certfleet Test Root" with a fresh key of `type`.
TestCa MakeRoot(crypto::KeyType type = crypto::KeyType::kP256);
// Intermediate "certfleet Test Intermediate" (pathLen 0) signed by `parent`.
TestCa MakeIntermediate(const TestCa& parent, crypto::KeyType type = crypto::KeyType::kP256);
// Lints `spec` against `ca` with permissive options and signs it; aborts the test on failure.
Certificate Issue(const TestCa& ca, TbsSpec spec);

// Runs a shell command, returning exit code and combined output.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::string& command);

// A private temporary directory removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Write(std::string_view name, std::string_view data) const;  // returns the path

 private:
  std::string path_;
};

}  // namespace certfleet::x509::testing
