#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "base/files.h"

namespace certfleet::cli {
namespace {

// Owns one file descriptor.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { Close(); }
  int get() const { return fd_; }
  // Closes and reports the close error, which for written files can be a late write error.
  int Close() {
    int fd = std::exchange(fd_, -1);
    return fd >= 0 ? ::close(fd) : 0;
  }

 private:
  int fd_;
};

Error SysError(const std::string& what, const std::string& path, int err) {
  std::string message = what + " " + path + ": " + strerror(err);
  if (err == ENOENT) return NotFound(std::move(message));
  if (err == ENOTDIR || err == EISDIR || err == ELOOP || err == EEXIST) {
    return InvalidArgument(std::move(message));
  }
  return Unavailable(std::move(message));
}

// Opens `path` read-only and checks it is a regular file no larger than max_bytes.
Result<UniqueFd> OpenSmallFile(const std::string& path, size_t max_bytes, size_t* size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return SysError("cannot open", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return SysError("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return InvalidArgument(path + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  *size = static_cast<size_t>(st.st_size);
  return fd;
}

// Reads up to buf_size bytes; returns the count read or -errno.
ssize_t ReadAll(int fd, uint8_t* buf, size_t buf_size) {
  size_t done = 0;
  while (done < buf_size) {
    ssize_t n = ::read(fd, buf + done, buf_size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

template <typename Buffer>
Status ReadInto(const std::string& path, size_t max_bytes, Buffer& out) {
  size_t size = 0;
  CF_ASSIGN_OR_RETURN(UniqueFd fd, OpenSmallFile(path, max_bytes, &size));
  // Read one byte more than allowed so a file that grew after fstat is still caught.
  out.Resize(max_bytes + 1 > size + 1 ? size + 1 : max_bytes + 1);
  ssize_t n = ReadAll(fd.get(), out.data(), out.size());
  if (n < 0) return SysError("cannot read", path, static_cast<int>(-n));
  if (static_cast<size_t>(n) > max_bytes) {
    return InvalidArgument(path + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  out.Resize(static_cast<size_t>(n));
  return Ok();
}

// Adapts std::string to the Resize/data/size shape SecretBytes has.
struct StringBuffer {
  std::string s;
  void Resize(size_t n) { s.resize(n); }
  uint8_t* data() { return reinterpret_cast<uint8_t*>(s.data()); }
  size_t size() const { return s.size(); }
};

}  // namespace

Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  StringBuffer buffer;
  CF_TRY(ReadInto(path, max_bytes, buffer));
  return std::move(buffer.s);
}

Result<SecretBytes> ReadSmallSecretFile(const std::string& path, size_t max_bytes) {
  SecretBytes secret;
  CF_TRY(ReadInto(path, max_bytes, secret));
  return secret;
}

Status EnsureDirectory(const std::string& dir) {
  if (dir.empty()) return InvalidArgument("output directory is empty");
  // Walk the components so that every directory we create gets 0700 (mkdir -p with a mode).
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    std::string prefix = dir.substr(0, pos);
    struct stat st;
    if (::stat(prefix.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return InvalidArgument(prefix + " exists and is not a directory");
      continue;
    }
    if (errno != ENOENT) return SysError("cannot stat", prefix, errno);
    if (::mkdir(prefix.c_str(), 0700) != 0) {
      if (errno == EEXIST) continue;  // created concurrently; checked again at the next use
      return SysError("cannot create directory", prefix, errno);
    }
    // The umask can only remove bits; make the mode exactly 0700 (e.g. under umask 0277).
    if (::chmod(prefix.c_str(), 0700) != 0) return SysError("cannot chmod", prefix, errno);
  }
  return Ok();
}

Status WriteFileAtomic(const std::string& dir, std::string_view name, std::string_view data,
                       mode_t mode) {
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..") {
    return InvalidArgument("bad output file name");
  }
  // base/files.h owns the sequence (temp file with O_CREAT|O_EXCL|O_NOFOLLOW and the final mode,
  // fchmod past the umask, fsync, rename, fsync of the directory).
  return ::certfleet::WriteFileAtomic(dir + "/" + std::string(name), data, mode);
}

}  // namespace certfleet::cli
