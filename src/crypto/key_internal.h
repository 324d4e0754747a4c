// Internal to src/crypto: helpers shared by key.cc, pkcs8.cc and pkcs12.cc.
#pragma once

#include <openssl/x509.h>

#include "base/error.h"
#include "crypto/key.h"

namespace certfleet::crypto::internal {

// Maps a key to one of the supported KeyTypes; InvalidArgument for any other algorithm, curve or
// RSA size.
Result<KeyType> DetectKeyType(const EVP_PKEY* pkey);
// Builds a PrivateKey from a decrypted PrivateKeyInfo (borrowed).
Result<PrivateKey> PrivateKeyFromPkcs8Info(const PKCS8_PRIV_KEY_INFO* p8);

}  // namespace certfleet::crypto::internal
