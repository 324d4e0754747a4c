// Test builders for the x509 tests: keys, TBS specs and small CA hierarchies. Test-only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// A self-signed certificate as a tls-alpn-01 responder presents it (RFC 8737 section 3), built with
// OpenSSL directly (the Signer adds only the extensions certfleet issues, and lints them): subject
// CN "acme-tls-alpn-test", validity [now - 1 h, now + 1 d), a non-critical subjectAltName with
// `dns_names` then `ip_addresses` (textual; none: no subjectAltName), and, when `acme_identifier`
// is set, the id-pe-acmeIdentifier extension (1.3.6.1.5.5.7.1.31) whose value is an OCTET STRING
// holding it (RFC 8737: SHA-256 of the key authorization, 32 octets; tests put wrong ones there).
struct AcmeTlsAlpnCertSpec {
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::optional<std::string> acme_identifier;
  bool acme_identifier_critical = true;
};
// `key` is the certificate's own (and signing) key: P-256, P-384 or RSA.
Certificate MakeAcmeTlsAlpnCert(const crypto::PrivateKey& key, const AcmeTlsAlpnCertSpec& spec);

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
