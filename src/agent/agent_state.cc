#include "agent/agent_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "agent/atomic_install.h"
#include "base/files.h"
#include "base/validate.h"

namespace certfleet::agent {
namespace {

using nlohmann::json;

constexpr char kJournal[] = "identity";
constexpr size_t kMaxStateBytes = 4 << 20;
constexpr size_t kMaxPemBytes = 256 << 10;
constexpr int kStateFormat = 1;

std::vector<FileRef> IdentityRefs(int fd) {
  // Key first: a crash leaves either every new file or none of them (atomic_install.h), but
  // the order also keeps the window in which agent.crt is new and agent.key old minimal.
  return {{fd, StateDir::kKeyFile}, {fd, StateDir::kChainFile}, {fd, StateDir::kCertFile}};
}

Result<std::string> Str(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end()) return std::string();
  if (!it->is_string()) return Malformed(std::string("state.json: ") + key + " is not a string");
  return it->get<std::string>();
}

Result<int64_t> Int(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end()) return int64_t{0};
  if (!it->is_number_integer() || it->get<int64_t>() < 0) {
    return Malformed(std::string("state.json: ") + key + " is not a non-negative integer");
  }
  return it->get<int64_t>();
}

}  // namespace

std::string StateToJson(const AgentState& s) {
  json j = {{"format", kStateFormat},
            {"agent_id", s.agent_id},
            {"last_seq", s.last_seq},
            {"installed", json::object()}};
  for (const auto& [dep, version] : s.installed) j["installed"][dep] = version;
  if (s.last_result) {
    const JobResult& r = *s.last_result;
    j["last_result"] = {{"job_id", r.job_id}, {"seq", r.seq},     {"state", r.state},
                        {"reason", r.reason}, {"paths", r.paths}, {"serial", r.serial}};
  }
  // Every string here is an id, a sanitized reason, a path or a serial: ASCII, so dump() does
  // not throw; the replace handler keeps that true even if one were not.
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<AgentState> StateFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Malformed("state.json is not a JSON object");
  CF_ASSIGN_OR_RETURN(int64_t format, Int(j, "format"));
  if (format != kStateFormat) {
    return Malformed("state.json has format " + std::to_string(format) + ", expected " +
                     std::to_string(kStateFormat));
  }
  AgentState s;
  CF_ASSIGN_OR_RETURN(s.agent_id, Str(j, "agent_id"));
  if (!s.agent_id.empty() && !ValidateName("agent_id", s.agent_id).ok()) {
    return Malformed("state.json: agent_id is not a valid id");
  }
  CF_ASSIGN_OR_RETURN(s.last_seq, Int(j, "last_seq"));
  auto inst = j.find("installed");
  if (inst != j.end()) {
    if (!inst->is_object()) return Malformed("state.json: installed is not an object");
    for (const auto& [dep, v] : inst->items()) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0) {
        return Malformed("state.json: installed versions must be non-negative integers");
      }
      s.installed[dep] = v.get<int64_t>();
    }
  }
  auto lr = j.find("last_result");
  if (lr != j.end() && !lr->is_null()) {
    if (!lr->is_object()) return Malformed("state.json: last_result is not an object");
    JobResult r;
    CF_ASSIGN_OR_RETURN(r.job_id, Str(*lr, "job_id"));
    CF_ASSIGN_OR_RETURN(r.seq, Int(*lr, "seq"));
    CF_ASSIGN_OR_RETURN(r.state, Str(*lr, "state"));
    CF_ASSIGN_OR_RETURN(r.reason, Str(*lr, "reason"));
    CF_ASSIGN_OR_RETURN(r.serial, Str(*lr, "serial"));
    auto paths = lr->find("paths");
    if (paths != lr->end()) {
      if (!paths->is_array()) return Malformed("state.json: last_result.paths is not an array");
      for (const json& p : *paths) {
        if (!p.is_string()) return Malformed("state.json: last_result.paths must be strings");
        r.paths.push_back(p.get<std::string>());
      }
    }
    s.last_result = std::move(r);
  }
  return s;
}

Result<std::unique_ptr<StateDir>> StateDir::Open(const std::string& path) {
  if (path.empty()) return InvalidArgument("the state directory must not be empty");
  // New directories get 0700 from the start (mkdir honours the umask, which only narrows it).
  CF_TRY(MakeDirs(path, 0700));
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return Unavailable(ErrnoMessage("stat state directory " + path, errno));
  }
  if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
    return Forbidden("state directory " + path + " is not a directory (or is a symlink)");
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return Unavailable(ErrnoMessage("open state directory " + path, errno));
  if (::fstat(fd.get(), &st) != 0) return Unavailable(ErrnoMessage("stat " + path, errno));
  if (st.st_uid != ::geteuid()) {
    return Forbidden("state directory " + path + " belongs to another user");
  }
  // It holds the client key: nobody else may even list it.
  if ((st.st_mode & 07777) != 0700 && ::fchmod(fd.get(), 0700) != 0) {
    return Unavailable(ErrnoMessage("chmod 0700 " + path, errno));
  }
  std::unique_ptr<StateDir> dir(new StateDir(path, std::move(fd)));
  CF_TRY(RecoverInterrupted(IdentityRefs(dir->fd_.get()), kJournal));
  dir->RemovePrevCopies();
  return dir;
}

void StateDir::RemovePrevCopies() {
  // After a completed (or recovered) replacement the .prev copies are only an old key lying
  // around; nothing needs them.
  for (const FileRef& f : IdentityRefs(fd_.get())) {
    (void)::unlinkat(fd_.get(), (f.name + ".prev").c_str(), 0);
  }
}

bool StateDir::HasCertificate() const {
  struct stat st;
  return ::fstatat(fd_.get(), kCertFile, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

Result<Identity> StateDir::LoadIdentity() const {
  if (!HasCertificate()) return NotFound("no client certificate in " + path_ + " yet");
  CF_ASSIGN_OR_RETURN(std::string cert_pem, ReadFileLimited(File(kCertFile), kMaxPemBytes));
  std::string chain_pem;
  Result<std::string> chain = ReadFileLimited(File(kChainFile), kMaxPemBytes);
  if (chain.ok()) {
    chain_pem = std::move(*chain);
  } else if (chain.error().code() != ErrorCode::kNotFound) {
    return std::move(chain).error();
  }
  CF_ASSIGN_OR_RETURN(SecretBytes key_pem, ReadSecretFile(File(kKeyFile), kMaxPemBytes));
  Result<x509::Certificate> cert = x509::Certificate::FromPem(cert_pem);
  if (!cert.ok()) return Malformed(path_ + "/agent.crt does not hold one certificate");
  if (!x509::Certificate::ParsePemChain(chain_pem).ok()) {
    return Malformed(path_ + "/agent-chain.pem does not hold certificates");
  }
  Result<crypto::PrivateKey> key = crypto::PrivateKey::FromPem(key_pem);
  if (!key.ok()) return Malformed(path_ + "/agent.key does not hold a private key");
  if (!cert->MatchesKey(*key)) return Malformed(path_ + "/agent.key does not match agent.crt");
  return Identity{std::move(*cert), std::move(cert_pem), std::move(chain_pem), std::move(key_pem)};
}

Status StateDir::SaveIdentity(const crypto::PrivateKey& key, const std::string& certificate_pem,
                              const std::string& chain_pem) {
  CF_ASSIGN_OR_RETURN(x509::Certificate cert, x509::Certificate::FromPem(certificate_pem));
  if (!cert.MatchesKey(key)) {
    return InvalidArgument("the issued client certificate does not match the agent's key");
  }
  CF_TRY(x509::Certificate::ParsePemChain(chain_pem));
  SecretBytes key_pem = key.ToPkcs8Pem();
  if (key_pem.empty()) return Internal("the agent key cannot be exported");
  std::vector<InstallFile> files(3);
  files[0] = {fd_.get(), kKeyFile, std::move(key_pem), 0600, {}, {}};
  files[1] = {fd_.get(), kChainFile, SecretBytes::FromView(chain_pem), 0644, {}, {}};
  files[2] = {fd_.get(), kCertFile, SecretBytes::FromView(certificate_pem), 0644, {}, {}};
  AtomicInstallOptions options;
  options.journal = kJournal;
  options.failpoint = failpoint_;
  CF_TRY(InstallTransaction::Commit(std::move(files), options));
  RemovePrevCopies();
  return Ok();
}

Result<AgentState> StateDir::LoadState() const {
  Result<std::string> text = ReadFileLimited(File(kStateFile), kMaxStateBytes);
  if (!text.ok()) {
    if (text.error().code() == ErrorCode::kNotFound) return AgentState{};
    return std::move(text).error();
  }
  return StateFromJson(*text);
}

Status StateDir::SaveState(const AgentState& state) {
  return WriteFileAtomic(File(kStateFile), StateToJson(state), 0600);
}

}  // namespace certfleet::agent
