#include "x509/pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>

#include "base/encoding.h"
#include "base/validate.h"
#include "x509/ossl.h"

namespace certfleet::x509::internal {

Result<std::vector<std::string>> ReadPemBlocks(std::string_view pem,
                                               std::initializer_list<std::string_view> labels) {
  std::vector<std::string> out;
  if (pem.size() > static_cast<size_t>(INT32_MAX)) return TooLarge("PEM input too large");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OsslError(ErrorCode::kInternal, "BIO_new_mem_buf");
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;  // NOLINT(runtime/int): OpenSSL's type
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
      unsigned long e = ERR_peek_last_error();  // NOLINT(runtime/int)
      if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ClearOsslErrors();  // clean end of input
        return out;
      }
      return OsslError(ErrorCode::kMalformed, "invalid PEM block");
    }
    std::string_view label(name);
    bool allowed = std::find(labels.begin(), labels.end(), label) != labels.end();
    std::string label_text = QuoteForMessage(label);
    if (allowed) out.emplace_back(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
    // A rejected block may hold key material: wipe it before freeing.
    OPENSSL_clear_free(data, static_cast<size_t>(len));
    OPENSSL_free(header);
    OPENSSL_free(name);
    if (!allowed) {
      std::string expected;
      for (std::string_view l : labels) {
        expected += (expected.empty() ? "\"" : ", \"") + std::string(l) + "\"";
      }
      return Malformed("unexpected PEM block " + label_text + " (expected " + expected + ")");
    }
  }
}

std::string WritePem(std::string_view label, std::string_view der) {
  std::string b64 = Base64Encode(der);
  std::string out = "-----BEGIN " + std::string(label) + "-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) {
    out.append(b64, i, 64);
    out += '\n';
  }
  out += "-----END " + std::string(label) + "-----\n";
  return out;
}

}  // namespace certfleet::x509::internal
