// Internal to src/crypto: RAII owners for OpenSSL objects and the one place where the OpenSSL
// error queue becomes an Error (CONVENTIONS.md #4). Not part of the module's public API.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/secret_bytes.h"

namespace certfleet::crypto::internal {

// A stateless deleter that calls `Fn`; one alias per OpenSSL type below.
template <auto Fn>
struct FnDeleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
template <typename T, auto Fn>
using OsslPtr = std::unique_ptr<T, FnDeleter<Fn>>;

// sk_X509_pop_free is a macro; wrap it so it can be a deleter.
void FreeX509Stack(STACK_OF(X509) * stack);

using BioPtr = OsslPtr<BIO, BIO_free_all>;
using EvpPkeyCtxPtr = OsslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using EvpMdCtxPtr = OsslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using EvpCipherCtxPtr = OsslPtr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using EvpCipherPtr = OsslPtr<EVP_CIPHER, EVP_CIPHER_free>;
using EvpMacPtr = OsslPtr<EVP_MAC, EVP_MAC_free>;
using EvpMacCtxPtr = OsslPtr<EVP_MAC_CTX, EVP_MAC_CTX_free>;
using X509Ptr = OsslPtr<X509, X509_free>;
using X509StackPtr = OsslPtr<STACK_OF(X509), FreeX509Stack>;
using X509SigPtr = OsslPtr<X509_SIG, X509_SIG_free>;
using X509AlgorPtr = OsslPtr<X509_ALGOR, X509_ALGOR_free>;
// PKCS8_PRIV_KEY_INFO_free cleanses the key octets (crypto/asn1/p8_pri.c callback).
using Pkcs8PrivKeyInfoPtr = OsslPtr<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free>;
using Pkcs12Ptr = OsslPtr<PKCS12, PKCS12_free>;

// Drains the whole OpenSSL error queue (leaving it empty) into an Error with `code`, whose
// message is `what` followed by the queued reasons. Never put secrets in `what`.
Error OpenSslError(ErrorCode code, std::string_view what);
// Empties the error queue, for calls whose failure is an expected outcome (e.g. Verify).
void ClearOpenSslErrors();

// OpenSSL takes lengths as int; inputs beyond that are rejected rather than truncated.
bool FitsInt(size_t n);

// A memory BIO reading `data` without copying it. Null only on allocation failure.
BioPtr ReadOnlyBio(std::string_view data);
// Everything written to a memory BIO so far.
std::string BioContents(BIO* bio);

// PEM (RFC 7468) encoding with 64-column lines, built without intermediate copies so it can be
// used for secrets.
std::string PemEncode(std::string_view label, std::string_view der);
SecretBytes PemEncodeSecret(std::string_view label, std::string_view der);

// The passphrase as OpenSSL wants it: a pointer that is never null (an empty SecretBytes may
// have no buffer) and an int length. Borrowed from `s`; nothing is copied.
inline const char* PassPtr(const SecretBytes& s) {
  return s.empty() ? "" : reinterpret_cast<const char*>(s.data());
}

}  // namespace certfleet::crypto::internal
