// Internals shared by the x509 sources and their tests.
#pragma once

#include <memory>
#include <string>

#include "base/error.h"
#include "x509/certificate.h"

namespace certfleet::x509 {

// Wraps an X509 whose DER encoding is `der` (the caller guarantees they agree).
Certificate WrapX509(std::shared_ptr<X509> x, std::string der);

// The certificate's X509 with a usable public key. Signer::Sign returns certificates built in
// memory, where the key is held as bytes only: OpenSSL 3.0 decodes a key only through its
// OSSL_DECODER path (about 150 us) and does so only while parsing. For those this parses der()
// into a fresh X509; for parsed certificates it returns the certificate's own X509.
std::shared_ptr<X509> X509WithKey(const Certificate& cert);

}  // namespace certfleet::x509
