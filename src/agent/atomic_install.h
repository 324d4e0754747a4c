// Atomic, crash-consistent replacement of a set of files (certificate + key, ...).
//
// Protocol (each step name is passed to the optional failpoint hook before it runs, so tests and
// the e2e harness can kill the process at every step):
//   "write_temp:<name>"  create .<name>.tmp-<random> O_EXCL|O_NOFOLLOW with the final mode
//                        (fchmod against umask), fchown, write, fsync
//   "link_prev:<name>"   hard-link the live file to <name>.prev (the live name never disappears)
//   "mark_pending"       create the journal marker .certfleet-<journal>.pending, fsync the dir
//   "rename:<name>"      renameat the temp over the live name
//   "fsync_dirs"         fsync every directory involved
//   "clear_pending"      unlink the marker, fsync
// While the marker exists the live set may be mixed; RecoverInterrupted() (run by the agent at
// start, before any install) then restores every <name>.prev, so after a crash at any step the
// live files are the complete old set or the complete new set.
//
// Directory fds are borrowed and must outlive the transaction. Not thread-safe; one
// transaction per journal at a time.
#pragma once
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"

namespace certfleet::agent {

struct InstallFile {
  int dir_fd = -1;      // borrowed
  std::string name;     // a plain file name, no '/'
  SecretBytes content;  // keys and certificates alike, so secrets never leave SecretBytes
  mode_t mode = 0600;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

struct FileRef {
  int dir_fd = -1;
  std::string name;
};

// Test-only hook; production passes none. It may throw or _exit to simulate a crash.
using Failpoint = std::function<void(std::string_view step)>;

struct AtomicInstallOptions {
  std::string journal = "install";  // a ValidateName name; one marker per journal
  Failpoint failpoint;
  Random* random = nullptr;  // default SystemRandomSource()
};

class InstallTransaction {
 public:
  // Runs the whole protocol. On error before "mark_pending" nothing live changed (temps are
  // removed); on error after it, the previous versions are restored before returning the error.
  // FailedPrecondition if a marker from an interrupted install exists (run recovery first).
  static Result<InstallTransaction> Commit(std::vector<InstallFile> files,
                                           const AtomicInstallOptions& options);

  InstallTransaction(InstallTransaction&&) noexcept = default;
  InstallTransaction& operator=(InstallTransaction&&) noexcept = default;

  // Restores the previous versions (files that did not exist before are removed), crash-safely
  // under the same marker, and fsyncs. Calling it twice is harmless. Only the most recent
  // transaction of a journal can be rolled back: an older one would restore the newer .prev.
  Status Rollback();

 private:
  InstallTransaction() = default;
  std::vector<FileRef> files_;
  std::vector<bool> had_prev_;
  AtomicInstallOptions options_;
};

// Finishes an interrupted install: if the journal marker exists in files[0]'s directory, every
// file is restored from its .prev (or removed if it has none) and the marker cleared. Stale temp
// files are removed either way. Returns true if a rollback was needed.
Result<bool> RecoverInterrupted(const std::vector<FileRef>& files, std::string_view journal);

}  // namespace certfleet::agent
