#include "agent/atomic_install.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "agent/safe_path.h"
#include "base/encoding.h"
#include "base/validate.h"

namespace certfleet::agent {
namespace {

std::string MarkerName(std::string_view journal) {
  return ".certfleet-" + std::string(journal) + ".pending";
}
std::string PrevName(const std::string& name) { return name + ".prev"; }

void Hit(const Failpoint& fp, std::string_view step) {
  if (fp) fp(step);
}

Status FsyncDirs(const std::vector<FileRef>& files) {
  std::set<int> seen;
  for (const FileRef& f : files) {
    if (!seen.insert(f.dir_fd).second) continue;
    if (::fsync(f.dir_fd) != 0) return Unavailable(ErrnoMessage("fsync dir", errno));
  }
  return Ok();
}

std::string TempName(const std::string& name, Random& random) {
  std::string r = random.Bytes(8);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : r) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return "." + name + ".tmp-" + hex;
}

Status WriteTemp(const InstallFile& f, const std::string& tmp) {
  int fd =
      ::openat(f.dir_fd, tmp.c_str(), O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, f.mode);
  if (fd < 0) return Unavailable(ErrnoMessage("create " + QuoteForMessage(tmp), errno));
  UniqueFd owned(fd);
  // The umask can only narrow the creation mode; fchmod makes it exact. It never widens beyond
  // `mode` at any point.
  if (::fchmod(fd, f.mode) != 0) return Unavailable(ErrnoMessage("fchmod", errno));
  if (f.uid || f.gid) {
    if (::fchown(fd, f.uid ? *f.uid : static_cast<uid_t>(-1),
                 f.gid ? *f.gid : static_cast<gid_t>(-1)) != 0) {
      return Unavailable(ErrnoMessage("fchown " + QuoteForMessage(f.name), errno));
    }
  }
  CF_TRY(WriteAll(fd, f.content.view()));
  if (::fsync(fd) != 0) return Unavailable(ErrnoMessage("fsync", errno));
  return Ok();
}

// Puts `<name>.prev` back over `<name>` through a fresh link + rename, keeping .prev, so a crash
// during a rollback can simply roll back again.
Status RestoreOne(const FileRef& f, Random& random) {
  const std::string prev = PrevName(f.name);
  struct stat st;
  if (::fstatat(f.dir_fd, prev.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) return Unavailable(ErrnoMessage("stat .prev", errno));
    // No previous version: the file is new in this install; remove it.
    if (::unlinkat(f.dir_fd, f.name.c_str(), 0) != 0 && errno != ENOENT) {
      return Unavailable(ErrnoMessage("unlink " + QuoteForMessage(f.name), errno));
    }
    return Ok();
  }
  struct stat live;
  if (::fstatat(f.dir_fd, f.name.c_str(), &live, AT_SYMLINK_NOFOLLOW) == 0 &&
      live.st_ino == st.st_ino && live.st_dev == st.st_dev) {
    return Ok();  // already restored; rename(2) of two links to one inode would be a no-op
  }
  const std::string tmp = TempName(f.name, random);
  if (::linkat(f.dir_fd, prev.c_str(), f.dir_fd, tmp.c_str(), 0) != 0) {
    return Unavailable(ErrnoMessage("link .prev", errno));
  }
  if (::renameat(f.dir_fd, tmp.c_str(), f.dir_fd, f.name.c_str()) != 0) {
    int err = errno;
    ::unlinkat(f.dir_fd, tmp.c_str(), 0);
    return Unavailable(ErrnoMessage("restore " + QuoteForMessage(f.name), err));
  }
  return Ok();
}

Status CreateMarker(int dir_fd, std::string_view journal) {
  const std::string marker = MarkerName(journal);
  int fd =
      ::openat(dir_fd, marker.c_str(), O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return FailedPrecondition("an interrupted install of journal " + QuoteForMessage(journal) +
                                " is pending; run recovery first");
    }
    return Unavailable(ErrnoMessage("create marker", errno));
  }
  UniqueFd owned(fd);
  if (::fsync(fd) != 0 || ::fsync(dir_fd) != 0) return Unavailable(ErrnoMessage("fsync", errno));
  return Ok();
}

Status ClearMarker(int dir_fd, std::string_view journal) {
  if (::unlinkat(dir_fd, MarkerName(journal).c_str(), 0) != 0 && errno != ENOENT) {
    return Unavailable(ErrnoMessage("unlink marker", errno));
  }
  if (::fsync(dir_fd) != 0) return Unavailable(ErrnoMessage("fsync dir", errno));
  return Ok();
}

Status RestoreAll(const std::vector<FileRef>& files, std::string_view journal, Random& random) {
  for (const FileRef& f : files) CF_TRY(RestoreOne(f, random));
  CF_TRY(FsyncDirs(files));
  return ClearMarker(files[0].dir_fd, journal);
}

void RemoveStaleTemps(const FileRef& f) {
  int dup = ::openat(f.dir_fd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dup < 0) return;
  DIR* d = ::fdopendir(dup);
  if (!d) {
    ::close(dup);
    return;
  }
  const std::string prefix = "." + f.name + ".tmp-";
  std::vector<std::string> victims;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n.substr(0, prefix.size()) == prefix) victims.emplace_back(n);
  }
  ::closedir(d);
  for (const std::string& v : victims) ::unlinkat(f.dir_fd, v.c_str(), 0);
}

Status ValidateFiles(const std::vector<FileRef>& files) {
  if (files.empty()) return InvalidArgument("nothing to install");
  std::set<std::pair<int, std::string>> seen;
  for (const FileRef& f : files) {
    CF_TRY(ValidateName("install file name", f.name));
    if (f.dir_fd < 0) return InvalidArgument("install file without a directory");
    if (!seen.insert({f.dir_fd, f.name}).second) {
      return InvalidArgument("install file " + QuoteForMessage(f.name) + " listed twice");
    }
  }
  return Ok();
}

}  // namespace

Result<InstallTransaction> InstallTransaction::Commit(std::vector<InstallFile> files,
                                                      const AtomicInstallOptions& options) {
  CF_TRY(ValidateName("install journal", options.journal));
  Random& random = options.random ? *options.random : SystemRandomSource();
  InstallTransaction txn;
  txn.options_ = options;
  for (const InstallFile& f : files) txn.files_.push_back({f.dir_fd, f.name});
  CF_TRY(ValidateFiles(txn.files_));
  const Failpoint& fp = options.failpoint;
  // Refuse before touching any .prev: they are what recovery of the interrupted install needs.
  struct stat st;
  if (::fstatat(files[0].dir_fd, MarkerName(options.journal).c_str(), &st, AT_SYMLINK_NOFOLLOW) ==
      0) {
    return FailedPrecondition("an interrupted install of journal " +
                              QuoteForMessage(options.journal) + " is pending; run recovery first");
  }

  // Phase 1: complete, synced temp files. Any failure removes them; nothing live changed.
  std::vector<std::string> temps;
  auto remove_temps = [&] {
    for (size_t i = 0; i < temps.size(); ++i) ::unlinkat(files[i].dir_fd, temps[i].c_str(), 0);
  };
  for (const InstallFile& f : files) {
    Hit(fp, "write_temp:" + f.name);
    temps.push_back(TempName(f.name, random));
    Status s = WriteTemp(f, temps.back());
    if (!s.ok()) {
      remove_temps();
      return std::move(s).error();
    }
  }
  // Phase 2: keep every live version as <name>.prev (hard link: the live name stays).
  for (const InstallFile& f : files) {
    Hit(fp, "link_prev:" + f.name);
    const std::string prev = PrevName(f.name);
    if (::unlinkat(f.dir_fd, prev.c_str(), 0) != 0 && errno != ENOENT) {
      remove_temps();
      return Unavailable(ErrnoMessage("unlink stale .prev", errno));
    }
    if (::linkat(f.dir_fd, f.name.c_str(), f.dir_fd, prev.c_str(), 0) == 0) {
      txn.had_prev_.push_back(true);
    } else if (errno == ENOENT) {
      txn.had_prev_.push_back(false);
    } else {
      int err = errno;
      remove_temps();
      return Unavailable(ErrnoMessage("link .prev for " + QuoteForMessage(f.name), err));
    }
  }
  if (Status s = FsyncDirs(txn.files_); !s.ok()) {
    remove_temps();
    return std::move(s).error();
  }
  Hit(fp, "mark_pending");
  if (Status s = CreateMarker(files[0].dir_fd, options.journal); !s.ok()) {
    remove_temps();
    return std::move(s).error();
  }
  // Phase 3: swap. From here on a failure restores the .prev versions.
  for (size_t i = 0; i < files.size(); ++i) {
    Hit(fp, "rename:" + files[i].name);
    if (::renameat(files[i].dir_fd, temps[i].c_str(), files[i].dir_fd, files[i].name.c_str()) !=
        0) {
      Error e = Unavailable(ErrnoMessage("rename " + QuoteForMessage(files[i].name), errno));
      remove_temps();
      Status r = RestoreAll(txn.files_, options.journal, random);
      if (!r.ok()) return std::move(e).WithCause(std::move(r).error());
      return e;
    }
  }
  Hit(fp, "fsync_dirs");
  CF_TRY(FsyncDirs(txn.files_));
  Hit(fp, "clear_pending");
  CF_TRY(ClearMarker(files[0].dir_fd, options.journal));
  return txn;
}

Status InstallTransaction::Rollback() {
  Random& random = options_.random ? *options_.random : SystemRandomSource();
  const Failpoint& fp = options_.failpoint;
  Hit(fp, "rollback:mark_pending");
  // The marker makes an interrupted rollback finish as a rollback at recovery.
  Status m = CreateMarker(files_[0].dir_fd, options_.journal);
  if (!m.ok() && m.error().code() != ErrorCode::kFailedPrecondition) return m;
  for (size_t i = 0; i < files_.size(); ++i) {
    Hit(fp, "rollback:restore:" + files_[i].name);
    // RestoreOne decides by the presence of .prev; had_prev_ keeps us honest if someone
    // removed a .prev under us.
    if (had_prev_[i]) {
      struct stat st;
      if (::fstatat(files_[i].dir_fd, PrevName(files_[i].name).c_str(), &st, AT_SYMLINK_NOFOLLOW) !=
          0) {
        return FailedPrecondition("previous version of " + QuoteForMessage(files_[i].name) +
                                  " is gone; cannot roll back");
      }
    }
    CF_TRY(RestoreOne(files_[i], random));
  }
  CF_TRY(FsyncDirs(files_));
  Hit(fp, "rollback:clear_pending");
  return ClearMarker(files_[0].dir_fd, options_.journal);
}

Result<bool> RecoverInterrupted(const std::vector<FileRef>& files, std::string_view journal) {
  CF_TRY(ValidateName("install journal", journal));
  CF_TRY(ValidateFiles(files));
  for (const FileRef& f : files) RemoveStaleTemps(f);
  struct stat st;
  if (::fstatat(files[0].dir_fd, MarkerName(journal).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return false;
    return Unavailable(ErrnoMessage("stat marker", errno));
  }
  CF_TRY(RestoreAll(files, journal, SystemRandomSource()));
  return true;
}

}  // namespace certfleet::agent
