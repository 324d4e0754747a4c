#include "agent/safe_path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "base/validate.h"

namespace certfleet::agent {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ErrnoMessage(std::string_view what, int err) {
  return std::string(what) + ": " + ::strerror(err);
}

namespace {

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) slash = s.size();
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

Status ValidateRelative(std::string_view rel) {
  if (rel.empty()) return Ok();
  if (rel.front() == '/') return Forbidden("install path must be relative to its root");
  for (std::string_view c : Split(rel)) {
    if (c.empty() || c == "." || c == "..") {
      return Forbidden("install path has an empty, \".\" or \"..\" component");
    }
  }
  return Ok();
}

}  // namespace

Status ValidateAbsolutePath(std::string_view field, std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return InvalidArgument(std::string(field) + " must be an absolute path");
  }
  if (!IsPrintableAscii(path) || path.size() > 1024) {
    return InvalidArgument(std::string(field) + " must be printable ASCII of at most 1024 chars");
  }
  if (path == "/") return Ok();
  for (std::string_view c : Split(path.substr(1))) {
    if (c.empty() || c == "." || c == "..") {
      return InvalidArgument(std::string(field) + " " + QuoteForMessage(path) +
                             " must be normalized: no empty, \".\" or \"..\" components");
    }
  }
  return Ok();
}

Result<std::string> RelativeBeneath(std::string_view root, std::string_view path) {
  if (root == "/") return std::string(path.substr(1));
  if (path == root) return std::string();
  if (path.size() > root.size() && path.substr(0, root.size()) == root &&
      path[root.size()] == '/') {
    return std::string(path.substr(root.size() + 1));
  }
  return NotFound("path is not beneath root");
}

Result<UniqueFd> OpenRootDir(const std::string& root) {
  int fd = ::open(root.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
                 ErrnoMessage("open root " + QuoteForMessage(root), err));
  }
  return UniqueFd(fd);
}

namespace {

Result<UniqueFd> WalkBeneath(int root_fd, std::string_view rel, const OpenBeneathOptions& o) {
  int cur = ::openat(root_fd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (cur < 0) return Unavailable(ErrnoMessage("open root", errno));
  UniqueFd fd(cur);
  if (rel.empty()) return fd;
  for (std::string_view comp : Split(rel)) {
    std::string c(comp);
    int next = ::openat(fd.get(), c.c_str(), O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && o.create) {
      bool created = true;
      if (::mkdirat(fd.get(), c.c_str(), o.create_mode) != 0) {
        if (errno != EEXIST) {
          return Unavailable(ErrnoMessage("mkdir " + QuoteForMessage(c), errno));
        }
        created = false;
      }
      next = ::openat(fd.get(), c.c_str(), O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC);
      // The umask can only have narrowed the mode; make it exact on what we created.
      if (next >= 0 && created && o.exact_mode && ::fchmod(next, o.create_mode) != 0) {
        const int err = errno;
        ::close(next);
        return Unavailable(ErrnoMessage("chmod " + QuoteForMessage(c), err));
      }
    }
    if (next < 0) {
      int err = errno;
      // O_NOFOLLOW on a symlink gives ELOOP; O_DIRECTORY on a non-directory ENOTDIR.
      if (err == ELOOP || err == ENOTDIR) {
        return Forbidden("install path component " + QuoteForMessage(c) +
                         " is a symlink or not a directory");
      }
      if (err == ENOENT)
        return NotFound("install path component " + QuoteForMessage(c) + " missing");
      return Unavailable(ErrnoMessage("open " + QuoteForMessage(c), err));
    }
    fd = UniqueFd(next);
  }
  return fd;
}

}  // namespace

Status WriteAll(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Unavailable(ErrnoMessage(std::string(what), errno));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Ok();
}

Result<UniqueFd> OpenDirBeneath(int root_fd, std::string_view rel, const OpenBeneathOptions& o) {
  CF_TRY(ValidateRelative(rel));
  if (!o.force_walk && !o.create && !rel.empty()) {
    struct open_how how = {};
    how.flags = O_DIRECTORY | O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    std::string r(rel);
    long fd = ::syscall(SYS_openat2, root_fd, r.c_str(), &how, sizeof(how));
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    int err = errno;
    if (err == ELOOP || err == EXDEV || err == ENOTDIR) {
      return Forbidden("install path " + QuoteForMessage(rel) +
                       " crosses a symlink or leaves its root");
    }
    if (err == ENOENT) return NotFound("install path " + QuoteForMessage(rel) + " missing");
    // ENOSYS (old kernel), EPERM (seccomp) or EAGAIN: fall back to the portable walk.
  }
  return WalkBeneath(root_fd, rel, o);
}

}  // namespace certfleet::agent
