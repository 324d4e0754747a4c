// Installers (docs/architecture.md "Plugin seams", agent side): plan the files of a profile, apply
// them atomically (atomic_install.h), test and reload the service, verify over TLS that the new
// serial is served, and roll back when any of that fails.
//
// Layouts (<name> is the profile's `name`):
//   files, nginx  <cert_dir>/<name>-fullchain.pem 0644 (leaf + chain), <cert_dir>/<name>-chain.pem
//                 0644, <key_dir>/<name>-privkey.pem 0600 (PKCS#8; with key_encrypted the encrypted
//                 key plus <key_dir>/<name>-passphrase 0600)
//   haproxy       <cert_dir>/<name>.pem 0600 (fullchain + unencrypted key)
//   pkcs12        <cert_dir>/<name>.p12 0600 + <key_dir>/<name>-passphrase 0600
//   exec          the files layout, then the configured argv with the three paths appended
// Commands come only from the profile; secrets are never put in argv or the environment.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/agent_config.h"
#include "agent/atomic_install.h"
#include "agent/bundle_check.h"
#include "agent/safe_path.h"

namespace certfleet::agent {

struct PlannedFile {
  bool in_key_dir = false;
  std::string name;
  SecretBytes content;
  mode_t mode = 0600;
};

// The file names a profile writes (for recovery, which has no bundle).
std::vector<PlannedFile> PlanNames(const Profile& profile);

// The files to write for `bundle`. `input` supplies the encrypted key and passphrase when the
// server sent one; otherwise a passphrase is generated from `random` where the layout needs one.
Result<std::vector<PlannedFile>> PlanFiles(const Profile& profile, const CheckedBundle& bundle,
                                           const BundleInput& input, Random& random);

using FetchSerialFn =
    std::function<Result<std::string>(const std::string& address, const std::string& sni)>;

struct InstallerOptions {
  // Test-only, see atomic_install.h. Besides the atomic-install steps it is called with
  // "reload" after the commit, just before the exec/test/reload commands, and with "verify" just
  // before the TLS serial check (both even when the profile has no such command or endpoint, so
  // a crash test can rely on them).
  Failpoint failpoint;
  Random* random = nullptr;    // default SystemRandomSource()
  FetchSerialFn fetch_serial;  // default FetchServedSerial
  int verify_attempts = 50;    // a reload is asynchronous: poll until the new serial appears
  std::chrono::milliseconds verify_interval{100};
  int verify_confirmations = 3;  // consecutive handshakes that must show the new serial
  // Called when an install failed after its commit and the previous files were restored (the
  // agent then reports "rolled_back" rather than "failed"). Optional.
  std::function<void()> on_rolled_back;
};

// A committed install that can still be rolled back (e.g. when the server-side deadline passes).
class ActiveInstall {
 public:
  // Restores the previous files, then runs test and reload again. Safe to call twice.
  Status Rollback();
  const std::vector<std::string>& paths() const { return paths_; }
  // Once the install is final (reloaded and verified, reported): removes the previous private
  // key material, i.e. <file>.prev of every 0600 file, unless the profile says keep_previous
  // (issue #13). Rollback() cannot restore those files afterwards. Failures are logged only.
  void RemovePreviousKeys();

 private:
  friend Result<std::unique_ptr<ActiveInstall>> InstallBundle(const Profile&, const CheckedBundle&,
                                                              const BundleInput&,
                                                              const InstallerOptions&);
  ActiveInstall(Profile profile, UniqueFd cert_dir, UniqueFd key_dir, InstallTransaction txn)
      : profile_(std::move(profile)),
        cert_dir_(std::move(cert_dir)),
        key_dir_(std::move(key_dir)),
        txn_(std::move(txn)) {}
  Profile profile_;
  UniqueFd cert_dir_;
  UniqueFd key_dir_;
  InstallTransaction txn_;
  std::vector<std::string> paths_;
  std::vector<FileRef> secret_files_;  // 0600 files, whose .prev hold the previous key
};

// Recovers an interrupted install of `profile` (atomic_install.h), then plans, commits, runs the
// exec argv or test + reload, and verifies the served serial. Any failure after the commit rolls
// back (and reloads again) before returning the error. Errors: those of the steps; Forbidden
// from safe_path for symlinked dirs; FailedPrecondition for a failing command or a wrong serial.
Result<std::unique_ptr<ActiveInstall>> InstallBundle(const Profile& profile,
                                                     const CheckedBundle& bundle,
                                                     const BundleInput& input,
                                                     const InstallerOptions& options = {});

// Opens the profile's directories and runs RecoverInterrupted on its files.
Result<bool> RecoverProfile(const Profile& profile);

}  // namespace certfleet::agent
