// The store conformance suite (CONVENTIONS.md #14): one set of tests that every backend behind
// store.h must pass. A backend's test file instantiates it with a factory that returns a fresh,
// empty, migrated store per call:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
//                            ::testing::Values(StoreBackend{"memory", [] { ... }}),
//                            StoreBackendName);
//
// The suite is split by repository into conformance_*_test.cc; link all of them
// (CF_STORE_CONFORMANCE_TESTS in store/CMakeLists.txt). Builders below make valid rows with
// deterministic, creation-ordered ids so tests state only what they care about.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "base/error.h"
#include "model/model.h"
#include "store/store.h"

namespace certfleet::store::testing {

using StoreFactory = std::function<std::unique_ptr<Store>()>;

struct StoreBackend {
  std::string name;  // a gtest name: letters, digits and underscores
  StoreFactory make;
};

inline void PrintTo(const StoreBackend& b, std::ostream* os) { *os << b.name; }
inline std::string StoreBackendName(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}

// gtest assertions for Result<T> and Status.
template <typename R>
::testing::AssertionResult IsOk(const R& r) {
  if (r.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << r.error().ToString();
}
template <typename R>
::testing::AssertionResult HasCode(const R& r, ErrorCode code) {
  if (r.ok()) return ::testing::AssertionFailure() << "succeeded; expected " << ErrorCodeName(code);
  if (r.error().code() == code) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got " << r.error().ToString() << "; expected " << ErrorCodeName(code);
}

// Ids in the production shape ("<prefix>_" + 26 characters) that sort by `n`.
std::string TestId(std::string_view prefix, int n);
// 2026-01-01T00:00:00Z plus `seconds`.
TimePoint T(int64_t seconds = 0);

model::Account MakeAccount(int n);
model::Principal MakePrincipal(const std::string& account_id, int n);
model::ApiToken MakeToken(const std::string& principal_id, int n);
model::Certificate MakeCertificate(const std::string& account_id, int n);
model::CertificateVersion MakeVersion(const std::string& certificate_id, int version, int n);
model::SealedBlob MakeBlob(int n, const std::string& kek_id);
model::Secret MakeSecret(const std::string& account_id, int n);
model::ExportRecord MakeExport(const std::string& account_id, const std::string& certificate_id,
                               int n, TimePoint at);
model::CaRecord MakeCa(int n, model::CaRole role, TimePoint created_at, bool active = true);
// An active grant created at T(n).
model::Grant MakeGrant(const std::string& from_account_id, const std::string& to_account_id, int n);
model::PolicyDocument MakePolicy(const std::string& account_id, int version, TimePoint updated_at);
// Audit record number `seq` (id TestId("aud", seq)); the hashes are placeholders, not a chain.
model::AuditRecord MakeAudit(int64_t seq, const std::string& account_id,
                             const std::string& principal_id, TimePoint at);

class StoreConformanceTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override;
  void TearDown() override { store_.reset(); }

  Store& store() { return *store_; }
  // Begins a Tx, or aborts the test binary with the error (every test needs one).
  std::unique_ptr<Tx> Begin();
  // Runs `fn(Tx&)` in a new Tx and commits it, failing the test on any error.
  void Commit(const std::function<void(Tx&)>& fn);
  // Inserts accounts 1 and 2 and commits.
  void SeedAccounts();

  std::unique_ptr<Store> store_;
};

}  // namespace certfleet::store::testing
