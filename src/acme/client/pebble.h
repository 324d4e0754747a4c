// Test-only: one Pebble (Let's Encrypt's test ACME CA) on loopback for acme_test. Compiled into
// the test binary only; production code never includes this.
//
// Start writes a config into a fresh private temp dir with a listener certificate for
// 127.0.0.1 and localhost (from a throwaway CA), picks free ports, starts `pebble -config ...`
// with the PEBBLE_* environment given (nothing PEBBLE_* is inherited) and waits, bounded, until
// the directory and the management root answer. FailedPrecondition with a clear message if the
// pebble binary is not on PATH; Unavailable with the log tail if it does not come up. The
// destructor stops the process (SIGTERM, SIGKILL after a bound) and removes the directory.
// Not thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"

namespace certfleet::acme::testing {

class Pebble {
 public:
  // With `eab_mac_keys` (kid -> base64url HMAC key) non-empty, Pebble requires external account
  // binding and accepts those keys. `extra_args` go on pebble's command line after -config
  // (e.g. {"-dnsserver", "127.0.0.1:5353"} so that its VA asks a test DNS server).
  // `http_port` is the port the VA fetches http-01 challenges from ("httpPort"); 0 picks an
  // unused one (for tests that do not validate http-01).
  static Result<std::unique_ptr<Pebble>> Start(
      const std::map<std::string, std::string>& env,
      const std::map<std::string, std::string>& eab_mac_keys = {},
      const std::vector<std::string>& extra_args = {}, uint16_t http_port = 0);
  ~Pebble();
  Pebble(const Pebble&) = delete;
  Pebble& operator=(const Pebble&) = delete;

  std::string directory_url() const;
  // The CA that issued Pebble's listener certificate (trust it for the ACME client).
  const std::string& listener_ca_pem() const { return listener_ca_pem_; }
  // The issuing root number `index` (0, or 1.. with PEBBLE_ALTERNATE_ROOTS), fetched from the
  // management interface. Changes at every start.
  Result<std::string> RootPem(int index) const;
  std::string LogTail() const;

 private:
  Pebble() = default;
  Status Launch(const std::map<std::string, std::string>& env, const std::string& binary);

  std::string eab_json_;  // the config's EAB members
  std::vector<std::string> extra_args_;
  uint16_t http_port_ = 0;  // 0: a fresh unused port per launch
  bool Stop();

  std::string dir_;
  std::string listener_ca_pem_;
  uint16_t port_ = 0;
  uint16_t mgmt_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace certfleet::acme::testing
