#include "crypto/test_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "base/check.h"

namespace certfleet::crypto::testing {

std::string MakeCertDer(const PrivateKey& subject, const PrivateKey& issuer, std::string_view cn) {
  X509* cert = X509_new();
  CF_CHECK(cert != nullptr);
  CF_CHECK(X509_set_version(cert, X509_VERSION_3) == 1);
  static long serial = 1;
  CF_CHECK(ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++) == 1);
  X509_NAME* name = X509_get_subject_name(cert);
  std::string cn_str(cn);
  CF_CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(cn_str.c_str()), -1,
                                      -1, 0) == 1);
  // Issuer name only matters for chain building, which these tests do not do.
  CF_CHECK(X509_set_issuer_name(cert, name) == 1);
  CF_CHECK(X509_gmtime_adj(X509_getm_notBefore(cert), 0) != nullptr);
  CF_CHECK(X509_gmtime_adj(X509_getm_notAfter(cert), 3600) != nullptr);
  CF_CHECK(X509_set_pubkey(cert, subject.public_key().get()) == 1);
  const EVP_MD* md = issuer.type() == KeyType::kEd25519 ? nullptr
                     : issuer.type() == KeyType::kP384  ? EVP_sha384()
                                                        : EVP_sha256();
  CF_CHECK(X509_sign(cert, issuer.get(), md) > 0);
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  CF_CHECK(len > 0);
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  X509_free(cert);
  return out;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "cf-crypto-test-XXXXXX").string();
  CF_CHECK(mkdtemp(tmpl.data()) != nullptr);  // mkdtemp creates it with mode 0700
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WritePrivateFile(const std::filesystem::path& path, std::string_view data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  CF_CHECK(fd >= 0);
  CF_CHECK(write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  CF_CHECK(close(fd) == 0);
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  CF_CHECK(pipe != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace certfleet::crypto::testing
