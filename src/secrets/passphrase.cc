#include "secrets/passphrase.h"

namespace certfleet::secrets {

SecretBytes GeneratePassphrase(Random& random) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  SecretBytes raw = random.SecretOfSize(kGeneratedPassphraseLength);
  SecretBytes out(kGeneratedPassphraseLength);
  // 64 symbols: the low 6 bits of each uniform byte are uniform, so no modulo bias.
  for (size_t i = 0; i < raw.size(); ++i) out.data()[i] = uint8_t(kAlphabet[raw.data()[i] & 63]);
  return out;
}

Status ValidatePassphrase(const SecretBytes& p) {
  if (p.size() < 4 || p.size() > 128) {
    return InvalidArgument("passphrase must be 4 to 128 characters");
  }
  for (uint8_t c : p.view()) {
    if (c < 0x20 || c > 0x7e) {
      return InvalidArgument("passphrase must contain only printable ASCII characters");
    }
    if (c == '#' || c == '$' || c == '%') {
      return InvalidArgument("passphrase must not contain '#', '$' or '%'");
    }
  }
  return Ok();
}

}  // namespace certfleet::secrets
