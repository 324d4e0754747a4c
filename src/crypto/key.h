// Keys: generation, import and export of private and public keys (CONVENTIONS.md #4: OpenSSL
// lives only in src/crypto and src/x509, always behind RAII).
//
// PrivateKey is move-only and owns its EVP_PKEY. Exports that contain private material return
// SecretBytes. Every failing OpenSSL call turns the whole OpenSSL error queue into the returned
// Error and leaves the queue empty. Instances are safe to use from several threads for read-only
// operations (Sign, exports); OpenSSL 3 EVP_PKEY is internally reference-counted.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/secret_bytes.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace certfleet::crypto {

enum class KeyType { kP256, kP384, kRsa2048, kRsa3072, kRsa4096, kEd25519 };

// "p256", "p384", "rsa2048", "rsa3072", "rsa4096", "ed25519".
std::string_view KeyTypeName(KeyType type);
Result<KeyType> ParseKeyType(std::string_view name);  // InvalidArgument lists the valid names

struct EVP_PKEY_Deleter {
  void operator()(EVP_PKEY* p) const;
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EVP_PKEY_Deleter>;

// PBES2 parameters for encrypted PKCS#8 exports: AES-256-CBC, PBKDF2-HMAC-SHA256.
struct Pkcs8Options {
  int pbkdf2_iterations = 600000;  // OWASP 2023 guidance for PBKDF2-HMAC-SHA256
};

class PublicKey {
 public:
  // SubjectPublicKeyInfo DER.
  static Result<PublicKey> FromSpkiDer(std::string_view der);
  static Result<PublicKey> FromPem(std::string_view pem);

  const std::string& spki_der() const { return spki_der_; }
  std::string ToPem() const;
  KeyType type() const { return type_; }
  // Verifies a signature made by PrivateKey::Sign over `data` (same digest rules).
  bool Verify(std::string_view data, std::string_view signature) const;
  // Borrowed; for src/x509 only. A key derived from a PrivateKey is decoded from its SPKI on
  // first use (thread-safe), so that generating a key never pays for a decoder it may not need.
  EVP_PKEY* get() const;

 private:
  struct Decoded;  // the EVP_PKEY, decoded once; shared by copies
  PublicKey(std::shared_ptr<EVP_PKEY> pkey, std::string spki, KeyType type);
  // From an SPKI certfleet encoded itself from a key OpenSSL holds; decoded when first used.
  static PublicKey FromTrustedSpki(std::string spki, KeyType type);
  std::shared_ptr<Decoded> decoded_;
  std::string spki_der_;
  KeyType type_;
  friend class PrivateKey;
};

class PrivateKey {
 public:
  // RSA generation takes 0.2 to 0.6 s: never call it on an event-loop thread.
  static Result<PrivateKey> Generate(KeyType type);
  // Unencrypted PKCS#8 DER.
  static Result<PrivateKey> FromPkcs8Der(const SecretBytes& der);
  // Unencrypted PEM: "PRIVATE KEY", "EC PRIVATE KEY" or "RSA PRIVATE KEY".
  static Result<PrivateKey> FromPem(const SecretBytes& pem);
  // "ENCRYPTED PRIVATE KEY" PEM under PBES2 (any PRF/cipher OpenSSL supports) or PKCS#12 PBE.
  // A wrong passphrase gives Unauthorized with a message that never includes the passphrase.
  static Result<PrivateKey> FromEncryptedPem(std::string_view pem, const SecretBytes& passphrase);
  // Adopts an EVP_PKEY (e.g. from a PKCS#11 token). Takes ownership. All importers return
  // InvalidArgument for a key of another algorithm, curve or RSA size than KeyType lists, and
  // Malformed for undecodable input.
  static Result<PrivateKey> Adopt(EvpPkeyPtr pkey);

  PrivateKey(PrivateKey&&) noexcept = default;
  PrivateKey& operator=(PrivateKey&&) noexcept = default;
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;
  ~PrivateKey() = default;

  KeyType type() const { return type_; }
  const PublicKey& public_key() const { return public_key_; }

  // Unencrypted PKCS#8 PrivateKeyInfo (RFC 5958), DER or "PRIVATE KEY" PEM. Empty when the key
  // cannot leave its store (e.g. one adopted from a PKCS#11 token); callers that may hold such
  // keys must check empty().
  SecretBytes ToPkcs8Der() const;
  SecretBytes ToPkcs8Pem() const;
  // "ENCRYPTED PRIVATE KEY" PEM: PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256 with a random 16-byte
  // salt and IV. Readable by `openssl pkey -passin` and nginx's ssl_password_file.
  // InvalidArgument for an empty passphrase or fewer than 10,000 iterations; FailedPrecondition
  // for a key that cannot be exported.
  Result<std::string> ToEncryptedPkcs8Pem(const SecretBytes& passphrase,
                                          const Pkcs8Options& options = {}) const;

  // Signs `data`: ECDSA P-256 with SHA-256, P-384 with SHA-384, RSA PKCS#1 v1.5 with SHA-256,
  // Ed25519 pure. ECDSA signatures are DER-encoded.
  Result<std::string> Sign(std::string_view data) const;

  // Borrowed; for src/x509 only.
  EVP_PKEY* get() const { return pkey_.get(); }

 private:
  SecretBytes FixedPkcs8Der() const;
  // The public half of `pkey`, which is of `type`, as a public-only key. `fresh`: generated
  // here with OpenSSL's defaults (uncompressed EC points), so its SPKI can be built directly.
  static Result<PublicKey> PublicOf(EVP_PKEY* pkey, KeyType type, bool fresh);
  PrivateKey(EvpPkeyPtr pkey, PublicKey pub, KeyType type)
      : pkey_(std::move(pkey)), public_key_(std::move(pub)), type_(type) {}
  EvpPkeyPtr pkey_;
  PublicKey public_key_;
  KeyType type_;
};

}  // namespace certfleet::crypto
