#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "base/time_util.h"
#include "secrets/audit_key.h"
#include "secrets/kek.h"
#include "secrets/keyring.h"
#include "secrets/passphrase.h"
#include "secrets/sealer.h"
#include "secrets/secret_store.h"
#include "store/sqlite/sqlite_store.h"

namespace certfleet::secrets {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cf-secrets-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string path(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

TEST(FileKekTest, CreatedWithMode0600AndReloadsSameId) {
  TempDir dir;
  auto a = FileKek::LoadOrCreate(dir.path("kek.key"), SystemRandomSource());
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  struct stat st;
  ASSERT_EQ(stat(dir.path("kek.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(st.st_size, 32);
  auto b = FileKek::LoadOrCreate(dir.path("kek.key"), SystemRandomSource());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*a)->id(), (*b)->id());
  EXPECT_EQ((*a)->id().rfind("file-", 0), 0u);
}

TEST(FileKekTest, RefusesGroupReadableOrWrongSize) {
  TempDir dir;
  ASSERT_TRUE(FileKek::LoadOrCreate(dir.path("kek.key"), SystemRandomSource()).ok());
  chmod(dir.path("kek.key").c_str(), 0644);
  auto r = FileKek::LoadOrCreate(dir.path("kek.key"), SystemRandomSource());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("chmod 600"), std::string::npos);
  std::ofstream(dir.path("short.key")) << "abc";
  chmod(dir.path("short.key").c_str(), 0600);
  EXPECT_FALSE(FileKek::LoadOrCreate(dir.path("short.key"), SystemRandomSource()).ok());
}

class SealerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kek1_ = std::move(*FileKek::FromKey(SystemRandomSource().SecretOfSize(32)));
    kek2_ = std::move(*FileKek::FromKey(SystemRandomSource().SecretOfSize(32)));
  }
  FakeClock clock_{UtcDate(2026, 11, 1)};
  std::unique_ptr<FileKek> kek1_, kek2_;
};

TEST_F(SealerTest, RoundTripAndBindingToIdAndPurpose) {
  Sealer sealer(*kek1_, {}, clock_, SystemRandomSource());
  SecretBytes value = SecretBytes::FromView("the private key bytes");
  auto blob = sealer.Seal(value, "certificate-key");
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(blob->ciphertext.find("private key"), std::string::npos);
  auto opened = sealer.Open(*blob);
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(opened->Equals(value));

  model::SealedBlob moved = *blob;
  moved.id = "blb_other";
  EXPECT_EQ(sealer.Open(moved).error().code(), ErrorCode::kUnauthorized);
  model::SealedBlob repurposed = *blob;
  repurposed.purpose = "passphrase";
  EXPECT_EQ(sealer.Open(repurposed).error().code(), ErrorCode::kUnauthorized);
  model::SealedBlob flipped = *blob;
  flipped.ciphertext[flipped.ciphertext.size() / 2] ^= 1;
  EXPECT_FALSE(sealer.Open(flipped).ok());
}

TEST_F(SealerTest, RotationKeepsOldRecordsReadable) {
  Sealer old_sealer(*kek1_, {}, clock_, SystemRandomSource());
  auto blob = old_sealer.Seal(SecretBytes::FromView("v"), "p");
  ASSERT_TRUE(blob.ok());
  Sealer without_old(*kek2_, {}, clock_, SystemRandomSource());
  EXPECT_EQ(without_old.Open(*blob).error().code(), ErrorCode::kInternal);
  Sealer rotated(*kek2_, {kek1_.get()}, clock_, SystemRandomSource());
  ASSERT_TRUE(rotated.Open(*blob).ok());
  auto rewrapped = rotated.Rewrap(*blob);
  ASSERT_TRUE(rewrapped.ok());
  model::SealedBlob updated = *blob;
  updated.kek_id = kek2_->id();
  updated.wrapped_dek = *rewrapped;
  auto opened = without_old.Open(updated);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->view(), "v");
}

TEST(PassphraseTest, GeneratedHasEnoughEntropyAndSafeAlphabet) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    SecretBytes p = GeneratePassphrase(SystemRandomSource());
    ASSERT_EQ(p.size(), kGeneratedPassphraseLength);  // 44 * 6 = 264 bits >= 256
    for (char c : p.view()) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
    }
    EXPECT_TRUE(ValidatePassphrase(p).ok());
    seen.insert(std::string(p.view()));
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(PassphraseTest, ValidationRules) {
  EXPECT_TRUE(ValidatePassphrase(SecretBytes::FromView("abcd")).ok());
  EXPECT_FALSE(ValidatePassphrase(SecretBytes::FromView("abc")).ok());
  EXPECT_FALSE(ValidatePassphrase(SecretBytes::FromView(std::string(129, 'a'))).ok());
  auto bad = ValidatePassphrase(SecretBytes::FromView("secret$pw"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message().find("passphrase"), 0u);  // names the field, never the value
  EXPECT_EQ(bad.error().message().find("secret$pw"), std::string::npos);
  EXPECT_FALSE(ValidatePassphrase(SecretBytes::FromView("a#bcd")).ok());
  EXPECT_FALSE(ValidatePassphrase(SecretBytes::FromView("a%bcd")).ok());
  EXPECT_FALSE(ValidatePassphrase(SecretBytes::FromView("ab\ncd")).ok());
}

TEST(SecretStoreTest, VersionsAreSealedAndReadable) {
  TempDir dir;
  auto store = store::OpenSqliteStore({.path = dir.path("db.sqlite")});
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  FakeClock clock(UtcDate(2026, 11, 1));
  auto kek = std::move(*FileKek::FromKey(SystemRandomSource().SecretOfSize(32)));
  Sealer sealer(*kek, {}, clock, SystemRandomSource());
  SecretStore secrets(sealer, clock, SystemRandomSource());

  model::Account acc{.id = "acc_1", .name = "default", .created_at = clock.Now()};
  auto tx = (*store)->Begin();
  ASSERT_TRUE(tx.ok());
  ASSERT_TRUE((*tx)->accounts().Insert(acc).ok());
  auto s = secrets.Create(**tx, {.account_id = "acc_1", .name = "pp1", .tags = {{"env", "dev"}}},
                          SecretBytes::FromView("first-canary-value"));
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->current_version, 1);
  auto s2 = secrets.AddVersion(**tx, s->id, SecretBytes::FromView("second-canary-value"));
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->current_version, 2);
  ASSERT_TRUE((*tx)->Commit().ok());

  auto rtx = (*store)->Begin();
  ASSERT_TRUE(rtx.ok());
  EXPECT_EQ(secrets.Read(**rtx, s->id)->view(), "second-canary-value");
  EXPECT_EQ(secrets.Read(**rtx, s->id, 1)->view(), "first-canary-value");
  EXPECT_EQ(secrets.Read(**rtx, s->id, 3).error().code(), ErrorCode::kNotFound);
  rtx->reset();

  // Nothing readable at rest.
  std::string raw;
  for (const char* suffix : {"", "-wal"}) {
    std::ifstream f(dir.path("db.sqlite") + suffix, std::ios::binary);
    raw.append(std::istreambuf_iterator<char>(f), {});
  }
  EXPECT_EQ(raw.find("canary-value"), std::string::npos);
}

// The audit key (issue #13) is sealed like every other blob: created once, reopened unchanged,
// and re-wrapped under the new KEK by the rotation's RewrapAll, after which the old KEK is no
// longer needed to open it.
TEST(AuditKeyTest, SealedOnceAndRewrappedOnKekRotation) {
  TempDir dir;
  auto store = store::OpenSqliteStore({.path = dir.path("db.sqlite")});
  ASSERT_TRUE(store.ok());
  FakeClock clock(UtcDate(2026, 11, 1));
  auto kek1 = std::move(*FileKek::FromKey(SystemRandomSource().SecretOfSize(32)));
  auto kek2 = std::move(*FileKek::FromKey(SystemRandomSource().SecretOfSize(32)));

  Sealer sealer1(*kek1, {}, clock, SystemRandomSource());
  SecretStore secrets1(sealer1, clock, SystemRandomSource());
  SecretBytes original;
  {
    auto tx = (*store)->Begin();
    auto key = LoadOrCreateAuditKey(**tx, secrets1, SystemRandomSource());
    ASSERT_TRUE(key.ok()) << key.error().ToString();
    EXPECT_TRUE(key->created);
    EXPECT_EQ(key->key.size(), 32u);
    original = key->key.Clone();
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  {
    auto tx = (*store)->Begin();
    auto again = LoadOrCreateAuditKey(**tx, secrets1, SystemRandomSource());
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again->created);
    EXPECT_TRUE(again->key.Equals(original));
  }
  std::string blob_id;
  {
    auto tx = (*store)->Begin();
    blob_id = *(*(*tx)->settings().Get(kAuditKeyBlobSetting));
    EXPECT_EQ((*tx)->blobs().Get(blob_id)->kek_id, kek1->id());
  }

  // Rotation: kek2 active, kek1 retired; RewrapAll moves the audit key onto kek2.
  Sealer rotated(*kek2, {kek1.get()}, clock, SystemRandomSource());
  auto n = RewrapAll(**store, rotated);
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_GE(*n, 1);
  {
    auto tx = (*store)->Begin();
    EXPECT_EQ((*tx)->blobs().Get(blob_id)->kek_id, kek2->id());
  }
  // Without kek1 at all, the same key opens (records written before the rotation verify).
  Sealer only_new(*kek2, {}, clock, SystemRandomSource());
  SecretStore secrets2(only_new, clock, SystemRandomSource());
  {
    auto tx = (*store)->Begin();
    auto key = LoadOrCreateAuditKey(**tx, secrets2, SystemRandomSource());
    ASSERT_TRUE(key.ok()) << key.error().ToString();
    EXPECT_FALSE(key->created);
    EXPECT_TRUE(key->key.Equals(original));
  }
  // A KEK that never wrapped it cannot open it, and no new key is made over it.
  auto kek3 = std::move(*FileKek::FromKey(SystemRandomSource().SecretOfSize(32)));
  Sealer stranger(*kek3, {}, clock, SystemRandomSource());
  SecretStore secrets3(stranger, clock, SystemRandomSource());
  auto tx = (*store)->Begin();
  EXPECT_FALSE(LoadOrCreateAuditKey(**tx, secrets3, SystemRandomSource()).ok());
}

}  // namespace
}  // namespace certfleet::secrets
