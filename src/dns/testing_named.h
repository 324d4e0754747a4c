// Test-only (compiled into dns_test, not cf_dns): a real BIND9 `named` on 127.0.0.1, in its own
// temporary directory, authoritative for a few primary zones that TSIG keys may update
// (RECIPES.md, "BIND9"; test/e2e/acme_servers.py is the Python twin).
//
// Start() writes named.conf, the zone files and two keys ("acme-update", hmac-sha256, and
// "acme-update-512", hmac-sha512; both may add and delete TXT records at and below every apex),
// starts `named -c CONF -f` (with `-u bind`, after handing the directory to `bind`, when run as
// root) on a free port, and waits, bounded, until it answers an SOA query over TCP. It retries
// with another port when the chosen one was taken meanwhile. If named is not installed, or does
// not come up, Start() fails with a message that says so and carries the log tail: tests must
// fail, not skip. The destructor stops named (SIGTERM, then SIGKILL after a bound) and removes
// the directory. Not thread-safe; one instance serves one test suite.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "dns/server.h"

namespace certfleet::dns::testing {

struct TestZone {
  std::string name;           // e.g. "example.test"
  std::string extra_records;  // zone-file lines appended after SOA, NS and A records
};

class TestingNamed {
 public:
  static Result<std::unique_ptr<TestingNamed>> Start(std::vector<TestZone> zones);
  ~TestingNamed();
  TestingNamed(const TestingNamed&) = delete;
  TestingNamed& operator=(const TestingNamed&) = delete;

  DnsServer server() const { return {"127.0.0.1", port_}; }
  const std::string& dir() const { return dir_; }
  // Key files in the `tsig-keygen` format, readable by ReadBindKeyFile.
  std::string key_file_sha256() const { return dir_ + "/acme-update.key"; }
  std::string key_file_sha512() const { return dir_ + "/acme-update-512.key"; }
  // The last lines of named's log, for failure messages.
  std::string LogTail() const;

 private:
  TestingNamed() = default;
  Status Launch();
  void Stop();

  std::string dir_;
  std::vector<TestZone> zones_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace certfleet::dns::testing
