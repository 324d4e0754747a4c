// The agent's local configuration (docs/architecture.md "Security model": the server only names a
// profile; paths, owners, reload and verify commands come from this file alone).
//
// ParseAgentConfig never throws (toml++ exceptions are caught here, at the module edge) and
// validates strictly: unknown keys, relative or unnormalized paths, paths outside
// allowed_roots, unknown users/groups and shell-string commands are InvalidArgument errors.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace certfleet::agent {

enum class InstallerKind { kFiles, kNginx, kHaproxy, kPkcs12, kExec };
std::string_view InstallerKindName(InstallerKind kind);

struct Profile {
  std::string profile_name;
  InstallerKind installer = InstallerKind::kFiles;
  std::string cert_dir;   // absolute, normalized, beneath one allowed root
  std::string key_dir;    // defaults to cert_dir
  std::string cert_root;  // the allowed root that contains cert_dir
  std::string key_root;
  std::optional<uid_t> uid;  // from `owner` via getpwnam; unset: no chown
  std::optional<gid_t> gid;  // from `group` via getgrnam
  bool key_encrypted = false;
  std::vector<std::string> test;    // e.g. ["/usr/sbin/nginx", "-t"]; argv[0] absolute
  std::vector<std::string> reload;  // argv; argv[0] absolute
  std::vector<std::string> exec;    // exec installer only
  std::chrono::seconds reload_timeout{30};
  std::string verify_address;  // "host:port", optional
  std::string verify_sni;
  std::string name;  // file base name, defaults to profile_name
  // After an install whose reload and verification succeeded, the previous private key files
  // (<file>.prev of every 0600 file: keys, passphrases, combined PEMs, PKCS#12) are removed, so
  // a replaced key does not linger on disk. `keep_previous = true` keeps them.
  bool keep_previous = false;
};

// [http01] (issue #6): how this host answers http-01 challenges that certfleetd hands to the
// agent. At least one of the two is set.
struct Http01Config {
  // Files go to <webroot>/.well-known/acme-challenge/<token>, for a web server that already
  // serves port 80. Absolute, normalized, beneath one allowed root; empty: unset.
  std::string webroot;
  std::string webroot_root;  // the allowed root that contains webroot
  // A short-lived listener started while tokens are held: "host:port" as written (IPv4,
  // [IPv6] or a name; port 1..65535). Empty: unset.
  std::string listen;
  std::string listen_host;  // without brackets
  uint16_t listen_port = 0;
};

struct AgentConfig {
  std::vector<std::string> allowed_roots;
  std::map<std::string, Profile> profiles;
  std::optional<Http01Config> http01;
  // NotFound naming the profile if absent.
  Result<const Profile*> FindProfile(std::string_view name) const;
};

Result<AgentConfig> ParseAgentConfig(std::string_view toml_text);
// Reads at most 1 MiB from `path` and parses it.
Result<AgentConfig> LoadAgentConfig(const std::string& path);

// "30s", "5m", "1h"; 1 s .. 1 h.
Result<std::chrono::seconds> ParseDuration(std::string_view field, std::string_view text);

}  // namespace certfleet::agent
