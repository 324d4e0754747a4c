// Opening install directories beneath a configured root without ever following a symlink
// (docs/architecture.md "Security model": no "..", no symlink escapes).
//
// All functions return owned file descriptors (UniqueFd, O_CLOEXEC) or an Error; none throws.
// Thread-safe (no shared state).
#pragma once
#include <string>
#include <string_view>
#include <utility>

#include "base/error.h"

namespace certfleet::agent {

// An owned file descriptor, closed on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// "errno text" for messages.
std::string ErrnoMessage(std::string_view what, int err);

// Checks a configured absolute path: starts with '/', no empty, "." or ".." components, no
// trailing slash (except "/" itself), printable ASCII. InvalidArgument naming `field` otherwise.
Status ValidateAbsolutePath(std::string_view field, std::string_view path);

// If `path` equals `root` or lies beneath it (component-wise, both validated), returns the
// relative remainder ("" for the root itself); otherwise nullopt-like NotFound.
Result<std::string> RelativeBeneath(std::string_view root, std::string_view path);

// Writes all of `data` to `fd` (retrying short writes and EINTR). Unavailable naming `what`.
Status WriteAll(int fd, std::string_view data, std::string_view what = "write");

// Opens a trusted, configured root directory (the admin's allowed_roots entry).
Result<UniqueFd> OpenRootDir(const std::string& root);

struct OpenBeneathOptions {
  bool create = false;  // mkdirat missing components with `create_mode`
  mode_t create_mode = 0755;
  // Directories it creates get exactly create_mode (fchmod), whatever the umask: for trees
  // another user must read (an http-01 webroot served by the web server).
  bool exact_mode = false;
  bool force_walk = false;  // skip openat2 (tests exercise the fallback)
};

// Opens directory `relative` ("a/b/c", "" for the root itself) beneath `root_fd`. Refuses ".."
// and "." components, absolute paths and symlinks anywhere on the path (Forbidden). Uses
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) when the kernel has it, else walks component by
// component with openat(O_DIRECTORY|O_NOFOLLOW). NotFound for a missing component (unless
// create), Forbidden for a symlink or non-directory.
Result<UniqueFd> OpenDirBeneath(int root_fd, std::string_view relative,
                                const OpenBeneathOptions& options = {});

}  // namespace certfleet::agent
