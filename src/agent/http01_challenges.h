// http-01 challenges answered by the agent on the host that answers for the name (issue #6,
// docs/agents.md "http-01 challenges"). certfleetd puts present/remove tasks into the agent's
// long poll; this class carries them out according to the [http01] section of the local
// configuration:
//  - webroot: the key authorization is written to
//    <webroot>/.well-known/acme-challenge/<token> (mode 0644, missing directories created 0755,
//    never through a symlink: safe_path.h), atomically (a temp file in the same directory renamed
//    over the final name), for a web server that already serves port 80;
//  - listen: the token is held in memory with its identifier and a net::Http01Responder is
//    started on the listen address while at least one token is held, and stopped when the last
//    one is removed. The listener answers a token only for a request whose Host is the
//    identifier certfleetd named for it (issue #13), so a token of one name is never served for
//    another name routed to this host.
//
// Present returns Ok only once every configured way answers with the key authorization; on error
// what was done for that token is undone. Remove is Ok for a token that is not there. Errors
// (FailedPrecondition without an [http01] section, InvalidArgument for a bad token or key
// authorization, the file system's or the listener's errors) never quote the key authorization.
//
// Thread safety: Present/Remove from one thread (the agent's worker); the listener reads the
// token map from its own I/O thread under a mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "agent/agent_config.h"
#include "base/error.h"
#include "net/http01_responder.h"

namespace certfleet::agent {

inline constexpr std::string_view kHttp01ChallengeDir = ".well-known/acme-challenge";

class Http01Challenges {
 public:
  // Tokens held at once; a new one beyond this is refused (TooLarge).
  static constexpr size_t kMaxTokens = 1000;

  // `config` is the [http01] section, or nullopt when the configuration has none (every Present
  // then fails). The listen port may be 0 in tests (a free port; see listen_port()).
  explicit Http01Challenges(std::optional<Http01Config> config) : config_(std::move(config)) {}
  ~Http01Challenges();  // stops the listener; webroot files stay (certfleetd re-sends removes)
  Http01Challenges(const Http01Challenges&) = delete;
  Http01Challenges& operator=(const Http01Challenges&) = delete;

  // `identifier`: the DNS name the token is for. Required (InvalidArgument without one) when the
  // listener serves the token; the webroot is served by the host's web server for its own names.
  Status Present(std::string_view identifier, std::string_view token,
                 std::string_view key_authorization);
  Status Remove(std::string_view token);

  // For tests and logs: the listener's port while it runs, and how many tokens it holds.
  std::optional<uint16_t> listen_port() const;
  size_t held() const;

 private:
  Status WriteWebrootFile(std::string_view token, std::string_view key_authorization);
  Status RemoveWebrootFile(std::string_view token);
  Status StartListener();
  void StopListener();

  std::optional<Http01Config> config_;
  mutable std::mutex mu_;
  struct Held {
    std::string identifier;
    std::string key_authorization;
  };
  std::map<std::string, Held, std::less<>> tokens_;  // by token; guarded by mu_
  // Declared after the map it reads: destroyed (and so stopped) first.
  std::unique_ptr<net::Http01Responder> responder_;
};

// The address to bind for an [http01] listen host: an IP literal as is, a name resolved
// (AI_PASSIVE, first result). InvalidArgument when it does not resolve.
Result<std::string> ResolveListenHost(const std::string& host);

}  // namespace certfleet::agent
