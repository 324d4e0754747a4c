// Pkcs11Kek against a real SoftHSM2 token created by test/harness/softhsm.sh. Skipped only when
// the SoftHSM2 module is not installed (Debian: softhsm2); a failing harness is a failure.
#include "secrets/pkcs11_kek.h"

#include <dlfcn.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/random.h"
#include "base/time_util.h"
#include "secrets/kek.h"
#include "secrets/sealer.h"

#include <p11-kit/pkcs11.h>  // last: see pkcs11_kek.cc

namespace certfleet::secrets {
namespace {

namespace fs = std::filesystem;

constexpr char kModule[] = "/usr/lib/softhsm/libsofthsm2.so";
constexpr char kToken[] = "certfleet-test";
constexpr char kHarnessPin[] = "1234";  // test/harness/softhsm.sh; test-only

// A second, independent view of the token through the raw API, to check what Pkcs11Kek claims
// and to plant keys it must refuse. If no Pkcs11Kek is alive it initializes (and finalizes) the
// module itself, so it must not outlive a Pkcs11Kek created after it.
class RawToken {
 public:
  RawToken() {
    dl_ = dlopen(kModule, RTLD_NOW | RTLD_LOCAL);
    if (dl_ == nullptr) return;
    auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(dl_, "C_GetFunctionList"));
    if (get == nullptr || get(&fn_) != CKR_OK) return;
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = fn_->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) return;
    finalize_ = rv == CKR_OK;
    CK_SLOT_ID slots[16];
    CK_ULONG n = 16;
    if (fn_->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK) return;
    for (CK_ULONG i = 0; i < n; ++i) {
      CK_TOKEN_INFO info;
      if (fn_->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
      std::string label(reinterpret_cast<char*>(info.label), sizeof info.label);
      if (label.substr(0, label.find_last_not_of(' ') + 1) != kToken) continue;
      if (fn_->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                             &session_) != CKR_OK) {
        return;
      }
      rv = fn_->C_Login(session_, CKU_USER,
                        reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(kHarnessPin)),
                        sizeof kHarnessPin - 1);
      ok_ = rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN;
      return;
    }
  }
  ~RawToken() {
    if (session_ != CK_INVALID_HANDLE) fn_->C_CloseSession(session_);
    if (finalize_) fn_->C_Finalize(nullptr);
    if (dl_ != nullptr) dlclose(dl_);
  }
  RawToken(const RawToken&) = delete;
  RawToken& operator=(const RawToken&) = delete;

  bool ok() const { return ok_; }

  std::vector<CK_OBJECT_HANDLE> FindSecretKeys(const std::string& label) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                           {CKA_LABEL, const_cast<char*>(label.data()), label.size()}};
    std::vector<CK_OBJECT_HANDLE> found(16);
    CK_ULONG n = 0;
    if (fn_->C_FindObjectsInit(session_, tmpl, 2) != CKR_OK) return {};
    fn_->C_FindObjects(session_, found.data(), found.size(), &n);
    fn_->C_FindObjectsFinal(session_);
    found.resize(n);
    return found;
  }

  CK_RV GetAttribute(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, void* out, CK_ULONG size) {
    CK_ATTRIBUTE a{type, out, size};
    return fn_->C_GetAttributeValue(session_, h, &a, 1);
  }

  bool CreateAesKey(const std::string& label, bool extractable, CK_ULONG size = 32) {
    CK_BBOOL yes = CK_TRUE, ext = extractable ? CK_TRUE : CK_FALSE;
    CK_BBOOL sensitive = extractable ? CK_FALSE : CK_TRUE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_VALUE_LEN, &size, sizeof size},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_SENSITIVE, &sensitive, sizeof sensitive},
        {CKA_EXTRACTABLE, &ext, sizeof ext},
        {CKA_ENCRYPT, &yes, sizeof yes},
        {CKA_DECRYPT, &yes, sizeof yes},
        {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
    };
    CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE h;
    return fn_->C_GenerateKey(session_, &mech, tmpl, std::size(tmpl), &h) == CKR_OK;
  }

 private:
  void* dl_ = nullptr;
  CK_FUNCTION_LIST* fn_ = nullptr;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
  bool finalize_ = false;
  bool ok_ = false;
};

// The error code of a failed result, nullopt on success (never aborts on the wrong alternative).
template <typename T>
std::optional<ErrorCode> CodeOf(const Result<T>& r) {
  if (r.ok()) return std::nullopt;
  return r.error().code();
}

// Runs test/harness/softhsm.sh DIR without a shell (argv, no quoting) and returns the first line
// of its stdout: the SOFTHSM2_CONF path. nullopt if it cannot run or exits non-zero.
std::optional<std::string> RunHarness(const std::string& dir) {
  int fds[2];
  if (pipe(fds) != 0) return std::nullopt;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::string bash = "/bin/bash", script = CERTFLEET_SOFTHSM_HARNESS;
  std::string arg = dir;
  char* argv[] = {bash.data(), script.data(), arg.data(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, bash.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  if (rc != 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    return std::nullopt;
  }
  return out.substr(0, out.find('\n'));
}

// One throwaway token for the suite; each test uses its own key label.
class Pkcs11KekTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(kModule)) return;
    char tmpl[] = "/tmp/cf-pkcs11-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto out = RunHarness(dir_);
    ASSERT_TRUE(out.has_value()) << "test/harness/softhsm.sh failed";
    conf_ = *out;
    // Test-only: SoftHSM2 reads its configuration from the environment at C_Initialize.
    setenv("SOFTHSM2_CONF", conf_.c_str(), 1);
  }
  static void TearDownTestSuite() {
    unsetenv("SOFTHSM2_CONF");
    if (!dir_.empty()) fs::remove_all(dir_);
    dir_.clear();
    conf_.clear();
  }
  void SetUp() override {
    if (!fs::exists(kModule)) GTEST_SKIP() << kModule << " missing (Debian package softhsm2)";
    ASSERT_FALSE(conf_.empty()) << "SoftHSM2 harness did not run";
  }

  static Pkcs11KekOptions Options(bool create = false) {
    Pkcs11KekOptions o;
    o.module_path = kModule;
    o.token_label = kToken;
    o.key_label = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    o.pin_file = dir_ + "/pin";
    o.create_key_if_missing = create;
    return o;
  }
  static std::unique_ptr<Pkcs11Kek> MustOpen(const Pkcs11KekOptions& o) {
    auto k = Pkcs11Kek::Open(o);
    EXPECT_TRUE(k.ok()) << k.error().ToString();
    return k.ok() ? std::move(k).value() : nullptr;
  }
  static std::string WritePin(const std::string& name, const std::string& pin, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << pin << "\n";
    chmod(path.c_str(), mode);
    return path;
  }

  static inline std::string dir_;
  static inline std::string conf_;
};

TEST_F(Pkcs11KekTest, CreatesKeyOnRequestAndRoundTrips) {
  auto kek = MustOpen(Options(/*create=*/true));
  ASSERT_NE(kek, nullptr);
  EXPECT_EQ(kek->id().rfind("pkcs11-", 0), 0u);
  EXPECT_EQ(kek->id().size(), 7u + 16u);

  SecretBytes dek = SystemRandomSource().SecretOfSize(32);
  auto a = kek->Wrap(dek, "certfleet dek v1|blob_1");
  auto b = kek->Wrap(dek, "certfleet dek v1|blob_1");
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->size(), 12u + 32u + 16u);  // IV || ciphertext || tag
  EXPECT_NE(*a, *b);                      // fresh IV every time
  EXPECT_EQ(a->find(std::string(dek.view())), std::string::npos);

  auto back = kek->Unwrap(*a, "certfleet dek v1|blob_1");
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_TRUE(back->Equals(dek));
  EXPECT_FALSE(kek->Wrap(SecretBytes(), "aad").ok());
}

TEST_F(Pkcs11KekTest, RejectsWrongAadAndTamperedInput) {
  auto kek = MustOpen(Options(/*create=*/true));
  ASSERT_NE(kek, nullptr);
  SecretBytes dek = SystemRandomSource().SecretOfSize(32);
  auto wrapped = kek->Wrap(dek, "aad-1");
  ASSERT_TRUE(wrapped.ok());

  auto wrong_aad = kek->Unwrap(*wrapped, "aad-2");
  ASSERT_FALSE(wrong_aad.ok());
  EXPECT_EQ(wrong_aad.error().code(), ErrorCode::kUnauthorized);
  EXPECT_NE(wrong_aad.error().message().find(kek->id()), std::string::npos);

  // Every region: IV, ciphertext, tag.
  for (size_t i : {size_t{0}, size_t{11}, size_t{12}, size_t{30}, wrapped->size() - 1}) {
    std::string bad = *wrapped;
    bad[i] ^= 0x01;
    auto r = kek->Unwrap(bad, "aad-1");
    ASSERT_FALSE(r.ok()) << "flipped byte " << i;
    EXPECT_EQ(r.error().code(), ErrorCode::kUnauthorized);
  }
  for (std::string bad : {std::string(), wrapped->substr(0, 28), wrapped->substr(1)}) {
    auto r = kek->Unwrap(bad, "aad-1");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kUnauthorized);
  }
  // Sessions that saw errors were dropped, not reused: the KEK still works.
  EXPECT_TRUE(kek->Unwrap(*wrapped, "aad-1").ok());
}

TEST_F(Pkcs11KekTest, KeyNeverLeavesTheToken) {
  auto kek = MustOpen(Options(/*create=*/true));
  ASSERT_NE(kek, nullptr);
  RawToken raw;  // destroyed before kek
  ASSERT_TRUE(raw.ok());
  auto keys = raw.FindSecretKeys(Options().key_label);
  ASSERT_EQ(keys.size(), 1u);

  unsigned char value[64];
  EXPECT_EQ(raw.GetAttribute(keys[0], CKA_VALUE, value, sizeof value), CKR_ATTRIBUTE_SENSITIVE);
  CK_BBOOL extractable = CK_TRUE, sensitive = CK_FALSE, never_extractable = CK_FALSE;
  CK_BBOOL token = CK_FALSE;
  ASSERT_EQ(raw.GetAttribute(keys[0], CKA_EXTRACTABLE, &extractable, 1), CKR_OK);
  ASSERT_EQ(raw.GetAttribute(keys[0], CKA_SENSITIVE, &sensitive, 1), CKR_OK);
  ASSERT_EQ(raw.GetAttribute(keys[0], CKA_NEVER_EXTRACTABLE, &never_extractable, 1), CKR_OK);
  ASSERT_EQ(raw.GetAttribute(keys[0], CKA_TOKEN, &token, 1), CKR_OK);
  EXPECT_EQ(extractable, CK_FALSE);
  EXPECT_EQ(sensitive, CK_TRUE);
  EXPECT_EQ(never_extractable, CK_TRUE);
  EXPECT_EQ(token, CK_TRUE);
  CK_KEY_TYPE type = 0;
  CK_ULONG len = 0;
  ASSERT_EQ(raw.GetAttribute(keys[0], CKA_KEY_TYPE, &type, sizeof type), CKR_OK);
  ASSERT_EQ(raw.GetAttribute(keys[0], CKA_VALUE_LEN, &len, sizeof len), CKR_OK);
  EXPECT_EQ(type, CKK_AES);
  EXPECT_EQ(len, 32u);
}

TEST_F(Pkcs11KekTest, ReopenedInstanceUnwrapsWithSameId) {
  SecretBytes dek = SystemRandomSource().SecretOfSize(32);
  std::string id, wrapped;
  {
    auto first = MustOpen(Options(/*create=*/true));
    ASSERT_NE(first, nullptr);
    id = first->id();
    auto w = first->Wrap(dek, "aad");
    ASSERT_TRUE(w.ok());
    wrapped = *w;
  }  // module finalized here: the next Open is a fresh start
  auto second = MustOpen(Options());
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->id(), id);
  auto back = second->Unwrap(wrapped, "aad");
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_TRUE(back->Equals(dek));

  // Two live instances share one C_Initialize; closing one leaves the other working.
  auto third = MustOpen(Options());
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->id(), id);
  second.reset();
  EXPECT_TRUE(third->Unwrap(wrapped, "aad").ok());
  EXPECT_TRUE(third->Wrap(dek, "aad").ok());
}

TEST_F(Pkcs11KekTest, WrongPinIsUnauthorizedAndNotEchoed) {
  // No other instance may be alive: login state is per process (see pkcs11_kek.h).
  Pkcs11KekOptions o = Options(/*create=*/true);
  o.pin_file = WritePin("wrong-pin", "97531", 0600);
  auto r = Pkcs11Kek::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnauthorized) << r.error().ToString();
  EXPECT_EQ(r.error().ToString().find("97531"), std::string::npos);
  EXPECT_EQ(r.error().ToString().find(kHarnessPin), std::string::npos);
}

TEST_F(Pkcs11KekTest, MissingKeyOrTokenIsNotFound) {
  auto r = Pkcs11Kek::Open(Options(/*create=*/false));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound) << r.error().ToString();

  Pkcs11KekOptions o = Options(/*create=*/true);
  o.token_label = "no-such-token";
  r = Pkcs11Kek::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound) << r.error().ToString();
}

TEST_F(Pkcs11KekTest, RefusesExtractableShortOrAmbiguousKeys) {
  {
    RawToken raw;  // alone: destroyed before any Pkcs11Kek exists
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE(raw.CreateAesKey("extractable", /*extractable=*/true));
    ASSERT_TRUE(raw.CreateAesKey("aes128", /*extractable=*/false, 16));
    ASSERT_TRUE(raw.CreateAesKey("twice", /*extractable=*/false));
    ASSERT_TRUE(raw.CreateAesKey("twice", /*extractable=*/false));
  }
  for (const char* label : {"extractable", "aes128", "twice"}) {
    Pkcs11KekOptions o = Options(/*create=*/true);
    o.key_label = label;
    auto r = Pkcs11Kek::Open(o);
    ASSERT_FALSE(r.ok()) << label;
    EXPECT_EQ(r.error().code(), ErrorCode::kFailedPrecondition) << r.error().ToString();
  }
}

TEST_F(Pkcs11KekTest, RefusesOpenPinFileAndBadOptions) {
  Pkcs11KekOptions o = Options(/*create=*/true);
  o.pin_file = WritePin("open-pin", kHarnessPin, 0644);
  auto r = Pkcs11Kek::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("chmod 600"), std::string::npos);

  o = Options(/*create=*/true);
  o.module_path = "libsofthsm2.so";  // would go through the loader search path
  EXPECT_EQ(CodeOf(Pkcs11Kek::Open(o)), ErrorCode::kInvalidArgument);
  o = Options(/*create=*/true);
  o.module_path = dir_ + "/no-such-module.so";
  EXPECT_EQ(CodeOf(Pkcs11Kek::Open(o)), ErrorCode::kUnavailable);
  o = Options(/*create=*/true);
  o.token_label = std::string(33, 't');
  EXPECT_EQ(CodeOf(Pkcs11Kek::Open(o)), ErrorCode::kInvalidArgument);
  o = Options(/*create=*/true);
  o.pin_file = dir_ + "/no-such-pin";
  EXPECT_EQ(CodeOf(Pkcs11Kek::Open(o)), ErrorCode::kNotFound);
}

TEST_F(Pkcs11KekTest, SealerMovesBlobsFromFileKekToToken) {
  FakeClock clock(UtcDate(2026, 11, 1));
  auto file_kek = FileKek::FromKey(SystemRandomSource().SecretOfSize(32));
  ASSERT_TRUE(file_kek.ok());
  auto hsm_kek = MustOpen(Options(/*create=*/true));
  ASSERT_NE(hsm_kek, nullptr);
  SecretBytes value = SecretBytes::FromView("an ACME account key");

  Sealer old_sealer(**file_kek, {}, clock, SystemRandomSource());
  auto blob = old_sealer.Seal(value, "account-key");
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(blob->kek_id, (*file_kek)->id());

  Sealer rotating(*hsm_kek, {file_kek->get()}, clock, SystemRandomSource());
  auto opened = rotating.Open(*blob);
  ASSERT_TRUE(opened.ok()) << opened.error().ToString();
  EXPECT_TRUE(opened->Equals(value));
  auto rewrapped = rotating.Rewrap(*blob);
  ASSERT_TRUE(rewrapped.ok()) << rewrapped.error().ToString();

  model::SealedBlob moved = *blob;
  moved.wrapped_dek = *rewrapped;
  moved.kek_id = hsm_kek->id();
  Sealer hsm_only(*hsm_kek, {}, clock, SystemRandomSource());
  auto reopened = hsm_only.Open(moved);
  ASSERT_TRUE(reopened.ok()) << reopened.error().ToString();
  EXPECT_TRUE(reopened->Equals(value));
  EXPECT_EQ(CodeOf(hsm_only.Open(*blob)), ErrorCode::kInternal);  // FileKek gone

  auto fresh = hsm_only.Seal(value, "account-key");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->kek_id, hsm_kek->id());
  EXPECT_TRUE(hsm_only.Open(*fresh).ok());
}

TEST_F(Pkcs11KekTest, ConcurrentCallsUseSeparateSessions) {
  auto kek = MustOpen(Options(/*create=*/true));
  ASSERT_NE(kek, nullptr);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string aad = "thread-" + std::to_string(t);
      for (int i = 0; i < 100; ++i) {
        SecretBytes dek = SystemRandomSource().SecretOfSize(32);
        auto w = kek->Wrap(dek, aad);
        auto u = w.ok() ? kek->Unwrap(*w, aad) : Result<SecretBytes>(w.error());
        if (!u.ok() || !u->Equals(dek)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// Measured, not asserted: printed for capacity planning.
TEST_F(Pkcs11KekTest, Throughput) {
  auto kek = MustOpen(Options(/*create=*/true));
  ASSERT_NE(kek, nullptr);
  constexpr int kOps = 2000;
  SecretBytes dek = SystemRandomSource().SecretOfSize(32);
  std::vector<std::string> wrapped;
  wrapped.reserve(kOps);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kOps; ++i) {
    auto w = kek->Wrap(dek, "certfleet dek v1|blob");
    ASSERT_TRUE(w.ok());
    wrapped.push_back(std::move(w).value());
  }
  auto t1 = std::chrono::steady_clock::now();
  for (const std::string& w : wrapped) {
    ASSERT_TRUE(kek->Unwrap(w, "certfleet dek v1|blob").ok());
  }
  auto t2 = std::chrono::steady_clock::now();
  auto per_sec = [](std::chrono::steady_clock::duration d) {
    return kOps / std::chrono::duration<double>(d).count();
  };
  std::printf("[ PERF     ] SoftHSM2 AES-256-GCM, 1 thread, %d ops: %.0f wraps/s, %.0f unwraps/s\n",
              kOps, per_sec(t1 - t0), per_sec(t2 - t1));
}

}  // namespace
}  // namespace certfleet::secrets
