#include "base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/encoding.h"
#include "base/random.h"

namespace certfleet {
namespace {

std::string Errno() { return std::strerror(errno); }

Status WriteFd(int fd, std::string_view content, const std::string& path) {
  const char* p = content.data();
  size_t n = content.size();
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Unavailable("writing " + path + ": " + Errno());
    }
    p += w;
    n -= size_t(w);
  }
  if (::fsync(fd) != 0) return Unavailable("fsync of " + path + ": " + Errno());
  return Ok();
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Unavailable("opening directory " + dir + ": " + Errno());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Unavailable("fsync of directory " + dir + ": " + Errno());
  return Ok();
}

}  // namespace

Status WriteNewFile(const std::string& path, std::string_view content, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return Conflict(path + " exists already");
    return Unavailable("creating " + path + ": " + Errno());
  }
  // The mode passed to open() is filtered by the umask; set it exactly.
  Status st = ::fchmod(fd, mode) == 0 ? Ok() : Unavailable("chmod " + path + ": " + Errno());
  if (st.ok()) st = WriteFd(fd, content, path);
  ::close(fd);
  if (!st.ok()) {
    ::unlink(path.c_str());
    return st;
  }
  return FsyncDir(DirName(path));
}

Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode) {
  const std::string tmp = path + ".tmp-" + HexEncode(SystemRandomSource().Bytes(8));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return Unavailable("creating " + tmp + ": " + Errno());
  Status st = ::fchmod(fd, mode) == 0 ? Ok() : Unavailable("chmod " + tmp + ": " + Errno());
  if (st.ok()) st = WriteFd(fd, content, tmp);
  ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = Unavailable("renaming into " + path + ": " + Errno());
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return FsyncDir(DirName(path));
}

Result<std::string> ReadFileLimited(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("file " + path + " does not exist");
    return Unavailable("cannot open " + path + ": " + Errno());
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + " is not a regular file");
  }
  std::string out;
  // Reserve up front so the buffer never reallocates: a reallocation would leave an unwiped copy
  // of secret file contents behind.
  out.reserve(std::min<size_t>(size_t(st.st_size), max_bytes) + 1);
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return Unavailable("reading " + path + ": " + Errno());
    }
    if (n == 0) break;
    if (out.size() + size_t(n) > max_bytes) {
      ::close(fd);
      SecureWipe(buf, sizeof buf);
      SecureWipe(out.data(), out.size());
      return TooLarge(path + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, size_t(n));
  }
  ::close(fd);
  SecureWipe(buf, sizeof buf);
  return out;
}

Result<SecretBytes> ReadSecretFile(const std::string& path, size_t max_bytes) {
  CF_ASSIGN_OR_RETURN(std::string s, ReadFileLimited(path, max_bytes));
  return SecretBytes::FromString(std::move(s));
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return InvalidArgument("empty directory path");
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
      return Unavailable("creating directory " + cur + ": " + Errno());
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Unavailable(path + " is not a directory");
  }
  return Ok();
}

}  // namespace certfleet
