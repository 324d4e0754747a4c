#include "crypto/openssl_util.h"

#include <openssl/err.h>

#include <string.h>

#include <algorithm>
#include <climits>

namespace certfleet::crypto::internal {

void FreeX509Stack(STACK_OF(X509) * stack) { sk_X509_pop_free(stack, X509_free); }

Error OpenSslError(ErrorCode code, std::string_view what) {
  std::string message(what);
  const char* data = nullptr;
  int flags = 0;
  bool first = true;
  // Drain every entry, not just the first: the innermost reason is usually the useful one and a
  // leftover entry would be misattributed to the next unrelated call on this thread.
  for (unsigned long e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags); e != 0;
       e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    message += first ? ": " : "; ";
    first = false;
    const char* lib = ERR_lib_error_string(e);
    const char* reason = ERR_reason_error_string(e);
    if (lib != nullptr) message += std::string(lib) + ":";
    if (reason != nullptr) {
      message += reason;
    } else {
      message += "error " + std::to_string(ERR_GET_REASON(e));
    }
    if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && data[0] != '\0') {
      message += std::string(" (") + data + ")";
    }
  }
  return Error(code, std::move(message));
}

void ClearOpenSslErrors() { ERR_clear_error(); }

bool FitsInt(size_t n) { return n <= static_cast<size_t>(INT_MAX); }

BioPtr ReadOnlyBio(std::string_view data) {
  if (!FitsInt(data.size())) return nullptr;
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string BioContents(BIO* bio) {
  char* p = nullptr;
  long n = BIO_get_mem_data(bio, &p);
  if (n <= 0 || p == nullptr) return {};
  return std::string(p, static_cast<size_t>(n));
}

namespace {

// 48 input bytes give one 64-character line (RFC 7468 section 2).
constexpr size_t kPemLineInput = 48;

size_t PemSize(std::string_view label, size_t der_size) {
  size_t lines = (der_size + kPemLineInput - 1) / kPemLineInput;
  size_t body = (der_size + 2) / 3 * 4 + lines;  // base64 plus one newline per line
  return 2 * label.size() + body + 32;           // "-----BEGIN " "-----\n" "-----END " "-----\n"
}

// Writes the PEM form of `der` to `out`, which has PemSize() bytes. Writing straight into the
// destination means a secret never passes through a temporary buffer.
void WritePem(std::string_view label, std::string_view der, char* out) {
  auto put = [&out](std::string_view s) {
    memcpy(out, s.data(), s.size());
    out += s.size();
  };
  put("-----BEGIN ");
  put(label);
  put("-----\n");
  for (size_t off = 0; off < der.size(); off += kPemLineInput) {
    size_t n = std::min(kPemLineInput, der.size() - off);
    int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out),
                              reinterpret_cast<const unsigned char*>(der.data() + off),
                              static_cast<int>(n));
    out += len;
    put("\n");
  }
  put("-----END ");
  put(label);
  put("-----\n");
}

}  // namespace

std::string PemEncode(std::string_view label, std::string_view der) {
  std::string out(PemSize(label, der.size()), '\0');
  WritePem(label, der, out.data());
  return out;
}

SecretBytes PemEncodeSecret(std::string_view label, std::string_view der) {
  SecretBytes out(PemSize(label, der.size()));
  WritePem(label, der, reinterpret_cast<char*>(out.data()));
  return out;
}

}  // namespace certfleet::crypto::internal
