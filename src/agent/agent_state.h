// The agent's state directory (docs/agents.md "The agent on the host"):
//
//   <dir>/                 0700, owned by the agent's user (tightened to 0700 if it was wider)
//   agent.key              0600 from creation: the client key (unencrypted PKCS#8 PEM)
//   agent.crt              0644: the client certificate
//   agent-chain.pem        0644: its intermediates
//   state.json             0600: agent id, last completed seq and its final reported result,
//                          installed version per deployment id
//
// The identity (key, certificate, chain) is replaced as one crash-safe set with the same
// journal protocol the installers use (atomic_install.h, journal "identity"): after a crash at
// any point the three files are the complete old set or the complete new set, never a new key
// beside an old certificate. state.json is replaced with WriteFileAtomic.
//
// Errors: Unavailable for I/O failures, Forbidden for a state dir that is a symlink, not a
// directory, or owned by another user, Malformed for a corrupt state.json or identity file.
// Not thread-safe: one StateDir per process, used from the agent's worker thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/atomic_install.h"
#include "agent/safe_path.h"
#include "base/error.h"
#include "base/secret_bytes.h"
#include "crypto/key.h"
#include "x509/certificate.h"

namespace certfleet::agent {

// The final result reported (or to be reported) for one job.
struct JobResult {
  std::string job_id;
  int64_t seq = 0;
  std::string state;  // installed, verified, failed, rolled_back
  std::string reason;
  std::vector<std::string> paths;
  std::string serial;
};

struct AgentState {
  std::string agent_id;
  // The highest seq the agent has completed (installed or refused, and persisted before the
  // report went out). A job with a lower seq is a replay; one with this seq is re-reported from
  // last_result instead of being installed again.
  int64_t last_seq = 0;
  std::optional<JobResult> last_result;
  std::map<std::string, int64_t> installed;  // deployment id -> installed certificate version
};

struct Identity {
  x509::Certificate certificate;
  std::string certificate_pem;
  std::string chain_pem;  // may be empty
  SecretBytes key_pem;
};

class StateDir {
 public:
  static constexpr char kKeyFile[] = "agent.key";
  static constexpr char kCertFile[] = "agent.crt";
  static constexpr char kChainFile[] = "agent-chain.pem";
  static constexpr char kStateFile[] = "state.json";

  // Creates `path` (and missing parents) with mode 0700, or tightens an existing directory to
  // 0700; then finishes an interrupted identity replacement and removes the previous identity's
  // leftover copies.
  static Result<std::unique_ptr<StateDir>> Open(const std::string& path);

  const std::string& path() const { return path_; }
  bool HasCertificate() const;
  // NotFound when agent.crt is absent (not enrolled yet); Malformed when a file does not parse
  // or the key does not match the certificate.
  Result<Identity> LoadIdentity() const;
  // Replaces agent.key, agent-chain.pem and agent.crt as one set. InvalidArgument if the key does
  // not match the certificate (checked before anything is written).
  Status SaveIdentity(const crypto::PrivateKey& key, const std::string& certificate_pem,
                      const std::string& chain_pem);
  // The default state when state.json does not exist yet.
  Result<AgentState> LoadState() const;
  Status SaveState(const AgentState& state);

  // Test-only: observes the steps of SaveIdentity (atomic_install.h step names).
  void set_failpoint_for_testing(Failpoint failpoint) { failpoint_ = std::move(failpoint); }

 private:
  StateDir(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string File(const char* name) const { return path_ + "/" + name; }
  void RemovePrevCopies();
  std::string path_;
  UniqueFd fd_;
  Failpoint failpoint_;
};

// state.json text and back; exposed for tests.
std::string StateToJson(const AgentState& state);
Result<AgentState> StateFromJson(const std::string& text);

}  // namespace certfleet::agent
