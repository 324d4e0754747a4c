// The subject-key part of Lint() (tbs.h), split out to keep lint.cc small. Internal to
// src/x509. Thread-safe.
#pragma once

#include <string_view>

#include "base/error.h"

namespace certfleet::x509::internal {

// The InvalidArgument every lint rule returns: "lint <rule>: <detail>".
Error Fail(std::string_view rule, std::string_view detail);

enum class KeyKind { kRsa, kP256, kP384, kEd25519 };

// Checks a SubjectPublicKeyInfo without OpenSSL's generic key decoder (hundreds of microseconds
// per call in OpenSSL 3.0): the AlgorithmIdentifier must be one of the exact BR 7.1.3.1
// encodings (or RFC 8410's for Ed25519, if allowed); RSA moduli >= 2048 bits and a multiple of
// 8 with an odd exponent >= 3; EC points uncompressed and on the curve. Returns the key kind, or
// Fail() with rule key.present, key.parse, key.type, key.ec_curve, key.ec_point, key.rsa_size,
// key.rsa_exponent or key.ed25519.
Result<KeyKind> LintSubjectKey(std::string_view der, bool allow_ed25519);

}  // namespace certfleet::x509::internal
