// Pkcs11Kek: a key-encryption key that never leaves a PKCS#11 token (docs/architecture.md
// "Security model"). The KEK is an AES-256 secret key object on the token (CKO_SECRET_KEY,
// CKK_AES, CKA_TOKEN, CKA_SENSITIVE, not CKA_EXTRACTABLE), found by its label on the token with
// the given token label. Wrap() runs CKM_AES_GCM inside the token with a fresh 96-bit IV from
// C_GenerateRandom and a 128-bit tag; the wrapped form is IV || ciphertext || tag.
//
// The raw PKCS#11 C API is used (dlopen + C_GetFunctionList): libp11 only covers asymmetric keys.
// No PKCS#11 type appears in this header.
//
// Process-wide state: PKCS#11 initialization and login are per process, not per handle. All
// instances that name the same module share one C_Initialize, made by the first and undone
// (C_Finalize) when the last one is destroyed. If code outside this class initialized the module
// first, this class never finalizes it and that code must keep it initialized. Login is per
// token: once one instance is logged in, a later Open() of the same token in this process gets
// CKR_USER_ALREADY_LOGGED_IN and cannot tell a wrong PIN from a right one. The PIN is not kept:
// if the token is reset or removed, calls fail with Unavailable until the KEK is opened again.
//
// Thread safety: Wrap()/Unwrap()/id() may be called concurrently. PKCS#11 sessions are not
// thread-safe, so each call borrows a session of its own from a small pool.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/secret_bytes.h"
#include "secrets/kek.h"

namespace certfleet::secrets {

struct Pkcs11KekOptions {
  // Absolute path of the PKCS#11 module; relative names would go through the loader's search
  // path and are refused.
  std::string module_path = "/usr/lib/softhsm/libsofthsm2.so";
  // CKA_LABEL of the token (at most 32 bytes). Exactly one present token must carry it.
  std::string token_label;
  // CKA_LABEL of the AES key object. Exactly one secret key with this label must exist.
  std::string key_label = "certfleet-kek";
  // File holding the user PIN (one line; a trailing newline is ignored). It must not be
  // accessible by group or others. The PIN is never taken from argv or the environment.
  std::string pin_file;
  // Generate the key on the token when it does not exist. For provisioning one instance: two
  // processes creating the key at the same time end with two keys, which Open() then refuses.
  bool create_key_if_missing = false;
};

class Pkcs11Kek final : public KekProvider {
 public:
  // Loads the module, finds the token, logs in as CKU_USER and finds (or creates) the key.
  // The PIN is wiped from memory before Open() returns. Errors, none of which contain the PIN:
  //   InvalidArgument     options are empty, too long or not absolute
  //   FailedPrecondition  PIN file too open; token not initialized; key ambiguous, not AES-256,
  //                       extractable, not sensitive or not usable for encrypt and decrypt
  //   NotFound            no token with token_label, or no key and !create_key_if_missing
  //   Unauthorized        the token refused the PIN (or the PIN is locked)
  //   Unavailable         module cannot be loaded or initialized, other token failures
  static Result<std::unique_ptr<Pkcs11Kek>> Open(const Pkcs11KekOptions& options);

  ~Pkcs11Kek() override;
  Pkcs11Kek(const Pkcs11Kek&) = delete;
  Pkcs11Kek& operator=(const Pkcs11Kek&) = delete;

  // "pkcs11-" + 16 hex digits of SHA-256 over the token serial number, the key label and the
  // key's CKA_ID (random, set when this class creates the key). Stable across restarts; changes
  // when the key object is replaced or moved to another token. Reveals nothing about the key.
  const std::string& id() const override { return id_; }

  // InvalidArgument for an empty or oversized DEK; Unavailable if the token fails.
  Result<std::string> Wrap(const SecretBytes& dek, std::string_view aad) override;
  // Unauthorized for anything the token rejects (wrong AAD, tampered or foreign input); the
  // message names only the KEK id. Unavailable (retryable) when the token itself cannot be used
  // (device error or removal, lost session or login), so an outage is not mistaken for tampering.
  Result<SecretBytes> Unwrap(std::string_view wrapped, std::string_view aad) override;

 private:
  // PKCS#11 state (module, login session, session pool, key handle); defined in pkcs11_kek.cc.
  struct State;
  Pkcs11Kek(std::unique_ptr<State> state, std::string id);

  std::unique_ptr<State> state_;
  std::string id_;
};

}  // namespace certfleet::secrets
