#include "agent/installers.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "agent/run_command.h"
#include "agent/tls_verify.h"
#include "base/encoding.h"
#include "base/log.h"
#include "crypto/pkcs12.h"

namespace certfleet::agent {
namespace {

constexpr mode_t kPublic = 0644;
constexpr mode_t kPrivate = 0600;

SecretBytes Text(std::string_view s) { return SecretBytes::FromView(s); }

SecretBytes NewPassphrase(Random& random) {
  SecretBytes raw = random.SecretOfSize(32);
  return SecretBytes::FromString(Base64UrlEncode(raw.view()));
}

std::string Join(const std::string& dir, const std::string& name) { return dir + "/" + name; }

Result<UniqueFd> OpenDir(const std::string& root, const std::string& dir) {
  CF_ASSIGN_OR_RETURN(std::string rel, RelativeBeneath(root, dir));
  CF_ASSIGN_OR_RETURN(UniqueFd root_fd, OpenRootDir(root));
  return OpenDirBeneath(root_fd.get(), rel);
}

struct Dirs {
  UniqueFd cert;
  UniqueFd key;  // invalid when key_dir == cert_dir
  int key_fd() const { return key.valid() ? key.get() : cert.get(); }
};

Result<Dirs> OpenDirs(const Profile& p) {
  Dirs d;
  CF_ASSIGN_OR_RETURN(d.cert, OpenDir(p.cert_root, p.cert_dir));
  if (p.key_dir != p.cert_dir) {
    CF_ASSIGN_OR_RETURN(d.key, OpenDir(p.key_root, p.key_dir));
  }
  return d;
}

std::vector<FileRef> Refs(const Profile& p, const Dirs& d) {
  std::vector<FileRef> refs;
  for (const PlannedFile& f : PlanNames(p)) {
    refs.push_back({f.in_key_dir ? d.key_fd() : d.cert.get(), f.name});
  }
  return refs;
}

CommandOptions ReloadOptions(const Profile& p) {
  CommandOptions o;
  o.timeout = p.reload_timeout;
  return o;
}

// Runs the profile's test and reload commands (those it has).
Status TestAndReload(const Profile& p) {
  if (!p.test.empty()) CF_TRY(RunChecked("test command", p.test, ReloadOptions(p)));
  if (!p.reload.empty()) CF_TRY(RunChecked("reload command", p.reload, ReloadOptions(p)));
  return Ok();
}

Status VerifySerial(const Profile& p, const std::string& want, const InstallerOptions& o) {
  if (p.verify_address.empty()) return Ok();
  FetchSerialFn fetch = o.fetch_serial;
  if (!fetch) {
    fetch = [](const std::string& a, const std::string& sni) { return FetchServedSerial(a, sni); };
  }
  std::string last = "nothing";
  // While a reload completes, an old worker may still accept a connection and serve the old
  // certificate, so one good handshake is not proof: require several in a row.
  int in_a_row = 0;
  for (int i = 0; i < std::max(1, o.verify_attempts); ++i) {
    if (i > 0) std::this_thread::sleep_for(o.verify_interval);
    Result<std::string> got = fetch(p.verify_address, p.verify_sni);
    if (got.ok() && *got == want) {
      if (++in_a_row >= std::max(1, o.verify_confirmations)) return Ok();
      continue;
    }
    in_a_row = 0;
    last = got.ok() ? "serial " + *got : got.error().message();
  }
  return FailedPrecondition("verify " + p.verify_address + ": expected serial " + want + ", got " +
                            last);
}

// Removes <name>.prev of each file and syncs the directories; a failure is logged, not fatal (the
// install itself succeeded, and the next install replaces the .prev anyway).
void RemovePrevious(const std::vector<FileRef>& files) {
  std::vector<int> dirs;
  for (const FileRef& f : files) {
    const std::string prev = f.name + ".prev";
    if (::unlinkat(f.dir_fd, prev.c_str(), 0) != 0) {
      if (errno != ENOENT) {
        log::Warn("could not remove the previous key file",
                  {{"file", prev}, {"error", std::strerror(errno)}});
      }
      continue;
    }
    if (std::find(dirs.begin(), dirs.end(), f.dir_fd) == dirs.end()) dirs.push_back(f.dir_fd);
  }
  for (int fd : dirs) (void)::fsync(fd);
}

}  // namespace

std::vector<PlannedFile> PlanNames(const Profile& p) {
  std::vector<PlannedFile> out;
  auto add = [&](bool key_dir, std::string name, mode_t mode) {
    PlannedFile f;
    f.in_key_dir = key_dir;
    f.name = std::move(name);
    f.mode = mode;
    out.push_back(std::move(f));
  };
  switch (p.installer) {
    case InstallerKind::kFiles:
    case InstallerKind::kNginx:
    case InstallerKind::kExec:
      add(false, p.name + "-fullchain.pem", kPublic);
      add(false, p.name + "-chain.pem", kPublic);
      add(true, p.name + "-privkey.pem", kPrivate);
      if (p.key_encrypted) add(true, p.name + "-passphrase", kPrivate);
      break;
    case InstallerKind::kHaproxy:
      add(false, p.name + ".pem", kPrivate);
      break;
    case InstallerKind::kPkcs12:
      add(false, p.name + ".p12", kPrivate);
      add(true, p.name + "-passphrase", kPrivate);
      break;
  }
  return out;
}

Result<std::vector<PlannedFile>> PlanFiles(const Profile& p, const CheckedBundle& b,
                                           const BundleInput& input, Random& random) {
  std::vector<PlannedFile> files = PlanNames(p);
  const std::string fullchain = b.leaf.ToPem() + x509::ChainToPem(b.chain);
  const bool input_encrypted =
      input.passphrase &&
      input.key_pem.view().find("ENCRYPTED PRIVATE KEY") != std::string_view::npos;
  switch (p.installer) {
    case InstallerKind::kFiles:
    case InstallerKind::kNginx:
    case InstallerKind::kExec: {
      files[0].content = Text(fullchain);
      files[1].content = Text(x509::ChainToPem(b.chain));
      if (!p.key_encrypted) {
        files[2].content = b.key.ToPkcs8Pem();
        if (files[2].content.empty()) return FailedPrecondition("key cannot be exported");
      } else if (input_encrypted) {
        files[2].content = input.key_pem.Clone();
        files[3].content = input.passphrase->Clone();
      } else {
        SecretBytes pass = NewPassphrase(random);
        CF_ASSIGN_OR_RETURN(std::string enc, b.key.ToEncryptedPkcs8Pem(pass));
        files[2].content = SecretBytes::FromString(std::move(enc));
        files[3].content = std::move(pass);
      }
      break;
    }
    case InstallerKind::kHaproxy: {
      SecretBytes combined = Text(fullchain);
      SecretBytes key = b.key.ToPkcs8Pem();
      if (key.empty()) return FailedPrecondition("key cannot be exported");
      combined.Append(key.view());
      files[0].content = std::move(combined);
      break;
    }
    case InstallerKind::kPkcs12: {
      SecretBytes pass = input.passphrase ? input.passphrase->Clone() : NewPassphrase(random);
      std::vector<std::string> chain_der;
      for (const x509::Certificate& c : b.chain) chain_der.push_back(c.der());
      CF_ASSIGN_OR_RETURN(std::string p12,
                          crypto::BuildPkcs12(b.key, b.leaf.der(), chain_der, pass, p.name));
      files[0].content = SecretBytes::FromString(std::move(p12));
      files[1].content = std::move(pass);
      break;
    }
  }
  return files;
}

Result<bool> RecoverProfile(const Profile& profile) {
  CF_ASSIGN_OR_RETURN(Dirs dirs, OpenDirs(profile));
  return RecoverInterrupted(Refs(profile, dirs), profile.profile_name);
}

void ActiveInstall::RemovePreviousKeys() {
  if (profile_.keep_previous) return;
  RemovePrevious(secret_files_);
  secret_files_.clear();
}

Status ActiveInstall::Rollback() {
  CF_TRY(txn_.Rollback());
  if (profile_.installer == InstallerKind::kExec) {
    std::vector<std::string> argv = profile_.exec;
    argv.insert(argv.end(), paths_.begin(), paths_.end());
    return RunChecked("exec installer", argv, ReloadOptions(profile_));
  }
  return TestAndReload(profile_);
}

Result<std::unique_ptr<ActiveInstall>> InstallBundle(const Profile& profile,
                                                     const CheckedBundle& bundle,
                                                     const BundleInput& input,
                                                     const InstallerOptions& options) {
  Random& random = options.random ? *options.random : SystemRandomSource();
  CF_ASSIGN_OR_RETURN(Dirs dirs, OpenDirs(profile));
  CF_TRY(RecoverInterrupted(Refs(profile, dirs), profile.profile_name));
  CF_ASSIGN_OR_RETURN(std::vector<PlannedFile> planned, PlanFiles(profile, bundle, input, random));

  std::vector<InstallFile> files;
  std::vector<std::string> paths;
  std::vector<FileRef> secret_files;  // whose .prev holds the previous key material
  for (PlannedFile& f : planned) {
    InstallFile i;
    i.dir_fd = f.in_key_dir ? dirs.key_fd() : dirs.cert.get();
    if (f.mode == kPrivate) secret_files.push_back({i.dir_fd, f.name});
    i.name = f.name;
    i.content = std::move(f.content);
    i.mode = f.mode;
    i.uid = profile.uid;
    i.gid = profile.gid;
    paths.push_back(Join(f.in_key_dir ? profile.key_dir : profile.cert_dir, f.name));
    files.push_back(std::move(i));
  }
  AtomicInstallOptions ao;
  ao.journal = profile.profile_name;
  ao.failpoint = options.failpoint;
  ao.random = &random;
  CF_ASSIGN_OR_RETURN(InstallTransaction txn, InstallTransaction::Commit(std::move(files), ao));
  std::unique_ptr<ActiveInstall> active(
      new ActiveInstall(profile, std::move(dirs.cert), std::move(dirs.key), std::move(txn)));
  active->paths_ = std::move(paths);

  Status applied = Ok();
  if (options.failpoint) options.failpoint("reload");
  if (profile.installer == InstallerKind::kExec) {
    // Paths only, never secrets: the program reads the files itself.
    std::vector<std::string> argv = profile.exec;
    argv.insert(argv.end(), active->paths_.begin(), active->paths_.end());
    applied = RunChecked("exec installer", argv, ReloadOptions(profile));
  } else {
    applied = TestAndReload(profile);
  }
  if (applied.ok()) {
    if (options.failpoint) options.failpoint("verify");
    applied = VerifySerial(profile, bundle.leaf.serial_hex(), options);
  }
  if (!applied.ok()) {
    Error e = std::move(applied).error();
    Status rb = active->Rollback();
    if (!rb.ok()) {
      return std::move(e).WithCause(
          Error(rb.error().code(), "rollback also failed: " + rb.error().message()));
    }
    if (options.on_rolled_back) options.on_rolled_back();
    return e;
  }
  // The directory fds are the ones `active` owns now (moving a UniqueFd keeps the descriptor).
  active->secret_files_ = std::move(secret_files);
  return active;
}

}  // namespace certfleet::agent
