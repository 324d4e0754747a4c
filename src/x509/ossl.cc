#include "x509/ossl.h"

#include <openssl/err.h>

namespace certfleet::x509::internal {

Error OsslError(ErrorCode code, std::string_view what) {
  std::string message(what);
  const char* sep = ": openssl: ";
  unsigned long e;  // NOLINT(runtime/int): OpenSSL's type
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    message += sep;
    message += buf;
    sep = "; ";
  }
  return Error(code, std::move(message));
}

void ClearOsslErrors() { ERR_clear_error(); }

}  // namespace certfleet::x509::internal
