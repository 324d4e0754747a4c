// PkiEnv: a complete in-process PKI stack for unit and integration tests: a temp directory, a
// fake clock, a SQLite store in that directory, a file KEK, the sealer, the secret store and the
// internal CA. Builders instead of copied fixtures (CONVENTIONS.md #14).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/random.h"
#include "base/time_util.h"
#include "ca/authority.h"
#include "secrets/kek.h"
#include "secrets/sealer.h"
#include "secrets/secret_store.h"
#include "store/sqlite/sqlite_store.h"

namespace certfleet::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cf-test-XXXXXX";
    char* p = mkdtemp(tmpl);
    CF_CHECK(p != nullptr);
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

class PkiEnv {
 public:
  explicit PkiEnv(TimePoint start = UtcDate(2026, 11, 27)) : clock(start) {
    auto s = store::OpenSqliteStore({.path = dir.file("certfleet.db")});
    CF_CHECK(s.ok());
    store = std::move(*s);
    auto k = secrets::FileKek::LoadOrCreate(dir.file("kek.key"), SystemRandomSource());
    CF_CHECK(k.ok());
    kek = std::move(*k);
    sealer = std::make_unique<secrets::Sealer>(*kek, std::vector<secrets::KekProvider*>{}, clock,
                                               SystemRandomSource());
    secret_store = std::make_unique<secrets::SecretStore>(*sealer, clock, SystemRandomSource());
  }

  // Creates (or reloads) the internal CA.
  ca::CertificateAuthority& Ca() {
    if (!ca) {
      auto c = ca::CertificateAuthority::LoadOrCreate(*store, *secret_store, clock,
                                                      SystemRandomSource());
      CF_CHECK(c.ok());
      ca = std::move(*c);
    }
    return *ca;
  }

  // Gives `account_id` a shared claim of `domain` and its subdomains (issue #13), so that tests of
  // other features may request certificates for those names from a non-system account.
  void ClaimDomain(const std::string& account_id, const std::string& domain) {
    auto tx = store->Begin();
    CF_CHECK(tx.ok());
    model::DomainClaim c{.id = "dcl_" + account_id + "_" + domain,
                         .account_id = account_id,
                         .domain = domain,
                         .include_subdomains = true,
                         .shared = true,
                         .created_by = "prn_test",
                         .created_at = clock.Now()};
    CF_CHECK((*tx)->domain_claims().Insert(c).ok());
    CF_CHECK((*tx)->Commit().ok());
  }

  TempDir dir;
  FakeClock clock;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<secrets::FileKek> kek;
  std::unique_ptr<secrets::Sealer> sealer;
  std::unique_ptr<secrets::SecretStore> secret_store;
  std::unique_ptr<ca::CertificateAuthority> ca;
};

}  // namespace certfleet::testing
