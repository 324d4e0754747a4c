// The conformance fixture, builders, and the unit-of-work tests: commit, rollback, finished
// transactions, errors inside a transaction, and concurrent Begin().
#include "store/conformance_test.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "base/time_util.h"

// A backend test binary may leave the suite uninstantiated (e.g. PostgreSQL without a server).
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformanceTest);

namespace certfleet::store::testing {

std::string TestId(std::string_view prefix, int n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%026d", n);
  return std::string(prefix) + "_" + buf;
}

TimePoint T(int64_t seconds) { return UtcDate(2026, 1, 1) + std::chrono::seconds(seconds); }

model::Account MakeAccount(int n) {
  return {.id = TestId(model::kAccountPrefix, n),
          .name = "account-" + std::to_string(n),
          .created_at = T(n)};
}

model::Principal MakePrincipal(const std::string& account_id, int n) {
  return {.id = TestId(model::kPrincipalPrefix, n),
          .account_id = account_id,
          .name = "principal-" + std::to_string(n),
          .kind = model::PrincipalKind::kService,
          .role = model::Role::kOperator,
          .tags = {{"env", "prod"}, {"team", "web"}},
          .disabled = false,
          .created_at = T(n)};
}

model::ApiToken MakeToken(const std::string& principal_id, int n) {
  return {.id = TestId(model::kTokenPrefix, n),
          .principal_id = principal_id,
          .hash_hex = "hash" + std::to_string(n),
          .created_at = T(n),
          .expires_at = std::nullopt,
          .revoked = false};
}

model::Certificate MakeCertificate(const std::string& account_id, int n) {
  model::Certificate c;
  c.id = TestId(model::kCertificatePrefix, n);
  c.account_id = account_id;
  c.name = "cert-" + std::to_string(n);
  c.domains = {"www" + std::to_string(n) + ".example.test", "*.example.test", "a.example.test"};
  c.key_type = "ecdsa-p256";
  c.profile = "tls-server";
  c.issuer = "internal";
  c.exportable = true;
  c.tags = {{"env", "prod"}};
  c.status = model::CertificateStatus::kPending;
  c.status_detail = "queued";
  c.validity_seconds = 90 * 86400;
  c.renew_before_seconds = std::nullopt;
  c.created_by = TestId(model::kPrincipalPrefix, 1);
  c.created_at = T(n);
  c.updated_at = T(n);
  return c;
}

model::CertificateVersion MakeVersion(const std::string& certificate_id, int version, int n) {
  return {.id = TestId(model::kVersionPrefix, n),
          .certificate_id = certificate_id,
          .version = version,
          .serial_hex = "0a" + std::to_string(n),
          .not_before = T(n),
          .not_after = T(n + 90 * 86400),
          .leaf_pem = "-----BEGIN CERTIFICATE-----\nleaf" + std::to_string(n) + "\n",
          .chain_pem = "-----BEGIN CERTIFICATE-----\nchain\n",
          .fingerprint_sha256 = "ff" + std::to_string(n),
          .key_blob_id = TestId(model::kBlobPrefix, n),
          .issuer_ca_id = TestId(model::kCaPrefix, 1),
          .created_at = T(n)};
}

model::SealedBlob MakeBlob(int n, const std::string& kek_id) {
  // Binary on purpose: NUL bytes and high bytes must survive the round trip.
  return {.id = TestId(model::kBlobPrefix, n),
          .kek_id = kek_id,
          .wrapped_dek = std::string("\x00\x01\xfe\xff", 4) + std::to_string(n),
          .ciphertext = std::string("\x00sealed\x00\x80", 9) + std::to_string(n),
          .purpose = "certificate-key",
          .created_at = T(n)};
}

model::Secret MakeSecret(const std::string& account_id, int n) {
  return {.id = TestId(model::kSecretPrefix, n),
          .account_id = account_id,
          .name = "secret-" + std::to_string(n),
          .kind = model::SecretKind::kPassphrase,
          .tags = {{"env", "prod"}},
          .current_version = 0,
          .description = "export passphrase",
          .created_at = T(n),
          .updated_at = T(n)};
}

model::ExportRecord MakeExport(const std::string& account_id, const std::string& certificate_id,
                               int n, TimePoint at) {
  return {.id = TestId(model::kExportPrefix, n),
          .account_id = account_id,
          .certificate_id = certificate_id,
          .version_id = TestId(model::kVersionPrefix, 1),
          .principal_id = TestId(model::kPrincipalPrefix, 1),
          .allowed = true,
          .reason = "",
          .fqdn_count = 3,
          .wildcard_count = 1,
          .secret_id = "",
          .at = at};
}

model::CaRecord MakeCa(int n, model::CaRole role, TimePoint created_at, bool active) {
  return {.id = TestId(model::kCaPrefix, n),
          .role = role,
          .cert_pem = "-----BEGIN CERTIFICATE-----\nca" + std::to_string(n) + "\n",
          .key_blob_id = TestId(model::kBlobPrefix, 100 + n),
          .parent_id = role == model::CaRole::kRoot ? "" : TestId(model::kCaPrefix, 1),
          .active = active,
          .created_at = created_at};
}

model::Grant MakeGrant(const std::string& from_account_id, const std::string& to_account_id,
                       int n) {
  return {.id = TestId(model::kGrantPrefix, n),
          .from_account_id = from_account_id,
          .to_account_id = to_account_id,
          .created_by = TestId(model::kPrincipalPrefix, 1),
          .created_at = T(n),
          .revoked = false,
          .revoked_at = std::nullopt};
}

model::PolicyDocument MakePolicy(const std::string& account_id, int version, TimePoint updated_at) {
  return {.account_id = account_id,
          .toml = "[export]\nallow = true\n# version " + std::to_string(version) + "\n",
          .version = version,
          .updated_by = TestId(model::kPrincipalPrefix, 1),
          .updated_at = updated_at};
}

model::AuditRecord MakeAudit(int64_t seq, const std::string& account_id,
                             const std::string& principal_id, TimePoint at) {
  const int n = static_cast<int>(seq);
  return {.seq = seq,
          .id = TestId(model::kAuditPrefix, n),
          .at = at,
          .account_id = account_id,
          .principal_id = principal_id,
          .action = "certificate.request",
          .resource = TestId(model::kCertificatePrefix, n),
          .outcome = model::AuditOutcome::kSuccess,
          .status = 201,
          .source = "192.0.2.1:4433",
          .detail = "requested",
          .prev_hash = std::string(64, '0'),
          .hash = std::string(63, 'a') + std::to_string(n % 10)};
}

void StoreConformanceTest::SetUp() {
  store_ = GetParam().make();
  ASSERT_NE(store_, nullptr) << "backend factory failed";
}

std::unique_ptr<Tx> StoreConformanceTest::Begin() {
  auto tx = store_->Begin();
  if (!tx.ok()) {
    // Tests dereference the result; stop here with the reason rather than crash without one.
    std::fprintf(stderr, "Store::Begin() failed: %s\n", tx.error().ToString().c_str());
    std::abort();
  }
  return std::move(*tx);
}

void StoreConformanceTest::Commit(const std::function<void(Tx&)>& fn) {
  auto tx = Begin();
  ASSERT_NE(tx, nullptr);
  fn(*tx);
  if (::testing::Test::HasFatalFailure()) return;
  ASSERT_TRUE(IsOk(tx->Commit()));
}

void StoreConformanceTest::SeedAccounts() {
  Commit([](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(1))));
    ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(2))));
  });
}

namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);

TEST_P(StoreConformanceTest, SchemaVersionIsPositive) {
  auto v = store().SchemaVersion();
  ASSERT_TRUE(IsOk(v));
  EXPECT_GT(*v, 0);
}

TEST_P(StoreConformanceTest, CommittedWritesAreVisibleToLaterTransactions) {
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(1)))); });
  auto tx = Begin();
  auto a = tx->accounts().Get(kAcc1);
  ASSERT_TRUE(IsOk(a));
  EXPECT_EQ(a->name, "account-1");
}

TEST_P(StoreConformanceTest, WritesAreVisibleInsideTheirOwnTransaction) {
  auto tx = Begin();
  ASSERT_TRUE(IsOk(tx->accounts().Insert(MakeAccount(1))));
  EXPECT_TRUE(IsOk(tx->accounts().Get(kAcc1)));
}

TEST_P(StoreConformanceTest, TxDestroyedWithoutCommitRollsBack) {
  {
    auto tx = Begin();
    ASSERT_TRUE(IsOk(tx->accounts().Insert(MakeAccount(1))));
    ASSERT_TRUE(IsOk(tx->settings().Put("k", "v")));
  }
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->accounts().Get(kAcc1), ErrorCode::kNotFound));
  auto k = tx->settings().Get("k");
  ASSERT_TRUE(IsOk(k));
  EXPECT_FALSE(k->has_value());
}

TEST_P(StoreConformanceTest, FinishedTxRefusesFurtherWork) {
  auto tx = Begin();
  ASSERT_TRUE(IsOk(tx->accounts().Insert(MakeAccount(1))));
  ASSERT_TRUE(IsOk(tx->Commit()));
  EXPECT_TRUE(HasCode(tx->Commit(), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(HasCode(tx->accounts().Insert(MakeAccount(2)), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(HasCode(tx->accounts().Get(kAcc1), ErrorCode::kFailedPrecondition));
  tx.reset();
  auto check = Begin();
  EXPECT_TRUE(
      HasCode(check->accounts().Get(TestId(model::kAccountPrefix, 2)), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, CommittedTxStillInScopeDoesNotBlockBegin) {
  auto first = Begin();
  ASSERT_TRUE(IsOk(first->accounts().Insert(MakeAccount(1))));
  ASSERT_TRUE(IsOk(first->Commit()));
  // `first` stays alive: the next Begin() must not wait for it.
  auto second = Begin();
  ASSERT_NE(second, nullptr);
  EXPECT_TRUE(IsOk(second->accounts().Get(kAcc1)));
}

TEST_P(StoreConformanceTest, FailedCallLeavesTxUsable) {
  SeedAccounts();
  auto tx = Begin();
  ASSERT_TRUE(IsOk(tx->settings().Put("before", "1")));
  EXPECT_TRUE(HasCode(tx->accounts().Insert(MakeAccount(1)), ErrorCode::kConflict));
  EXPECT_TRUE(HasCode(tx->accounts().Get("acc_missing"), ErrorCode::kNotFound));
  ASSERT_TRUE(IsOk(tx->settings().Put("after", "2")));
  ASSERT_TRUE(IsOk(tx->Commit()));
  auto check = Begin();
  EXPECT_EQ(check->settings().Get("before")->value_or(""), "1");
  EXPECT_EQ(check->settings().Get("after")->value_or(""), "2");
}

TEST_P(StoreConformanceTest, OrphanRowsAreRefused) {
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->principals().Insert(MakePrincipal("acc_missing", 1)),
                      ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(HasCode(tx->certificates().Insert(MakeCertificate("acc_missing", 1)),
                      ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(
      HasCode(tx->secrets().Insert(MakeSecret("acc_missing", 1)), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(
      HasCode(tx->tokens().Insert(MakeToken("prn_missing", 1)), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(HasCode(tx->versions().Insert(MakeVersion("crt_missing", 1, 1)),
                      ErrorCode::kFailedPrecondition));
}

TEST_P(StoreConformanceTest, ConcurrentTransactionsFromManyThreadsAllLand) {
  SeedAccounts();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int n = 1000 + t * kPerThread + i;
        auto tx = store().Begin();
        if (!tx.ok()) {
          ++failures;
          continue;
        }
        auto cert = MakeCertificate(kAcc1, n);
        if (!(*tx)->certificates().Insert(cert).ok() || !(*tx)->Commit().ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto tx = Begin();
  auto all = tx->certificates().List({.account_id = kAcc1});
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(all->size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_P(StoreConformanceTest, ConcurrentReadModifyWriteIsSerialized) {
  // Each Tx reads a counter and writes it back incremented; lost updates would show if two
  // transactions could interleave.
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.settings().Put("counter", "0"))); });
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        auto tx = store().Begin();
        if (!tx.ok()) {
          ++failures;
          continue;
        }
        auto v = (*tx)->settings().Get("counter");
        if (!v.ok() || !v->has_value()) {
          ++failures;
          continue;
        }
        const int next = std::stoi(**v) + 1;
        if (!(*tx)->settings().Put("counter", std::to_string(next)).ok() || !(*tx)->Commit().ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto tx = Begin();
  EXPECT_EQ(tx->settings().Get("counter")->value_or(""), std::to_string(kThreads * kPerThread));
}

}  // namespace
}  // namespace certfleet::store::testing
