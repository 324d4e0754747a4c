#include "secrets/kek.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/encoding.h"
#include "crypto/aead.h"
#include "crypto/hash.h"

namespace certfleet::secrets {
namespace {

constexpr size_t kKeySize = crypto::kAes256KeySize;

Status WriteAll(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Internal(std::string("writing key-encryption key: ") + std::strerror(errno));
    }
    p += w;
    n -= size_t(w);
  }
  return Ok();
}

}  // namespace

Result<std::unique_ptr<FileKek>> FileKek::FromKey(SecretBytes key) {
  if (key.size() != kKeySize) return InvalidArgument("key-encryption key must be 32 bytes");
  // The id is a domain-separated hash of the key: stable, and reveals nothing usable.
  std::string id =
      "file-" + crypto::Sha256Hex(std::string("certfleet kek id\0", 17) + std::string(key.view()))
                    .substr(0, 16);
  return std::unique_ptr<FileKek>(new FileKek(std::move(key), std::move(id)));
}

Result<std::unique_ptr<FileKek>> FileKek::LoadOrCreate(const std::string& path, Random& random) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    // Created 0600 from the first byte; never widened.
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      return Unavailable("cannot create key-encryption key file " + path + ": " +
                         std::strerror(errno));
    }
    SecretBytes key = random.SecretOfSize(kKeySize);
    Status st = WriteAll(fd, key.data(), key.size());
    if (st.ok() && ::fsync(fd) != 0) st = Internal("fsync of key-encryption key failed");
    ::close(fd);
    if (!st.ok()) {
      ::unlink(path.c_str());
      return st.error();
    }
    return FromKey(std::move(key));
  }
  if (fd < 0) {
    return Unavailable("cannot open key-encryption key file " + path + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return FailedPrecondition("key-encryption key " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return FailedPrecondition("key-encryption key " + path +
                              " must not be accessible by group or others (chmod 600)");
  }
  SecretBytes key(kKeySize + 1);
  ssize_t n = ::read(fd, key.data(), key.size());
  ::close(fd);
  if (n != ssize_t(kKeySize)) {
    return FailedPrecondition("key-encryption key " + path + " must hold exactly 32 bytes");
  }
  key.Resize(kKeySize);
  return FromKey(std::move(key));
}

Result<std::string> FileKek::Wrap(const SecretBytes& dek, std::string_view aad) {
  return crypto::AesGcmSeal(key_, dek.view(), aad);
}

Result<SecretBytes> FileKek::Unwrap(std::string_view wrapped, std::string_view aad) {
  return crypto::AesGcmOpen(key_, wrapped, aad);
}

}  // namespace certfleet::secrets
