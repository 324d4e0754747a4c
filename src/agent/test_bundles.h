// Test builders for the agent tests: a root + intermediate, leaves with fresh keys, bundles,
// and agent configs rooted in a temp dir. Test-only.
#pragma once
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "agent/agent_config.h"
#include "agent/bundle_check.h"
#include "base/check.h"
#include "x509/test_util.h"

namespace certfleet::agent::testing {

using x509::testing::T0;

struct Pki {
  x509::testing::TestCa root = x509::testing::MakeRoot();
  x509::testing::TestCa inter = x509::testing::MakeIntermediate(root);
  std::vector<x509::Certificate> roots() const { return {root.cert}; }
};

struct Leaf {
  x509::Certificate cert;
  std::shared_ptr<const crypto::PrivateKey> key;
  std::string fullchain;
};

inline Leaf MakeLeaf(const Pki& pki, uint64_t serial) {
  auto key = x509::testing::NewKey(crypto::KeyType::kP256);
  x509::TbsSpec spec = x509::testing::LeafSpec(key->public_key());
  spec.serial = x509::testing::Serial(serial);
  x509::Certificate cert = x509::testing::Issue(pki.inter, std::move(spec));
  return {cert, key, cert.ToPem() + pki.inter.cert.ToPem()};
}

inline BundleInput InputFor(const Leaf& leaf) {
  BundleInput in;
  in.fullchain_pem = leaf.fullchain;
  in.key_pem = leaf.key->ToPkcs8Pem();
  return in;
}

inline CheckedBundle MustCheck(const Pki& pki, const Leaf& leaf) {
  auto b = CheckBundle(InputFor(leaf), pki.roots(), T0() + std::chrono::hours(24));
  CF_CHECK(b.ok());
  return std::move(b).value();
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

inline mode_t ModeOf(const std::string& path) {
  struct stat st;
  CF_CHECK(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// An agent config with one allowed root `dir`/root and the given profile body.
inline Result<AgentConfig> ConfigWith(const std::string& root, const std::string& profiles) {
  return ParseAgentConfig("allowed_roots = [\"" + root + "\"]\n" + profiles);
}

}  // namespace certfleet::agent::testing
