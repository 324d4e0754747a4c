// Generated passphrases for exported keys. 44 characters from the 64-symbol alphabet
// [A-Za-z0-9-_] carry 264 bits of entropy, contain no '#', '$' or '%' (which some consumers
// treat specially), and need no quoting in any shell or config file.
#pragma once

#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"

namespace certfleet::secrets {

inline constexpr size_t kGeneratedPassphraseLength = 44;

SecretBytes GeneratePassphrase(Random& random);

// A user-supplied export passphrase: 4..128 printable ASCII characters without '#', '$', '%'.
// The error message never contains the passphrase.
Status ValidatePassphrase(const SecretBytes& passphrase);

}  // namespace certfleet::secrets
