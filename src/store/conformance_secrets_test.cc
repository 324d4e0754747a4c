// Conformance: sealed blobs (binary round trip, re-wrapping) and secrets with versions.
#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kAcc2 = TestId(model::kAccountPrefix, 2);

TEST_P(StoreConformanceTest, BlobBinaryRoundTrip) {
  auto b = MakeBlob(1, "kek-a");
  auto empty = MakeBlob(2, "kek-a");
  empty.ciphertext.clear();
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.blobs().Insert(b)));
    ASSERT_TRUE(IsOk(tx.blobs().Insert(empty)));
  });
  auto tx = Begin();
  auto got = tx->blobs().Get(b.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->kek_id, "kek-a");
  EXPECT_EQ(got->wrapped_dek, b.wrapped_dek);
  EXPECT_EQ(got->ciphertext, b.ciphertext);
  EXPECT_EQ(got->ciphertext.size(), b.ciphertext.size());
  EXPECT_EQ(got->purpose, b.purpose);
  EXPECT_EQ(got->created_at, b.created_at);
  auto got_empty = tx->blobs().Get(empty.id);
  ASSERT_TRUE(IsOk(got_empty));
  EXPECT_TRUE(got_empty->ciphertext.empty());
  EXPECT_TRUE(HasCode(tx->blobs().Get("blb_missing"), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, BlobConflictNeverEchoesSealedValues) {
  auto b = MakeBlob(1, "kek-a");
  b.ciphertext = "canary-ciphertext";
  b.wrapped_dek = "canary-dek";
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.blobs().Insert(b))); });
  auto tx = Begin();
  auto st = tx->blobs().Insert(b);
  ASSERT_TRUE(HasCode(st, ErrorCode::kConflict));
  EXPECT_EQ(st.error().ToString().find("canary"), std::string::npos) << st.error().ToString();
}

TEST_P(StoreConformanceTest, BlobRewrapping) {
  Commit([](Tx& tx) {
    for (int n = 1; n <= 6; ++n) {
      ASSERT_TRUE(IsOk(tx.blobs().Insert(MakeBlob(n, n % 2 == 0 ? "kek-new" : "kek-old"))));
    }
    ASSERT_TRUE(IsOk(tx.blobs().Insert(MakeBlob(7, "kek-older"))));
  });
  auto tx = Begin();
  auto stale = tx->blobs().ListNotWrappedBy("kek-new", 100);
  ASSERT_TRUE(IsOk(stale));
  EXPECT_EQ(*stale, (std::vector<std::string>{
                        TestId(model::kBlobPrefix, 1), TestId(model::kBlobPrefix, 3),
                        TestId(model::kBlobPrefix, 5), TestId(model::kBlobPrefix, 7)}));
  auto limited = tx->blobs().ListNotWrappedBy("kek-new", 2);
  ASSERT_TRUE(IsOk(limited));
  EXPECT_EQ(*limited, (std::vector<std::string>{TestId(model::kBlobPrefix, 1),
                                                TestId(model::kBlobPrefix, 3)}));

  const auto before = MakeBlob(1, "kek-old");
  const std::string new_dek("\x00rewrapped\xff", 11);
  ASSERT_TRUE(IsOk(tx->blobs().UpdateWrapping(before.id, "kek-new", new_dek)));
  auto after = tx->blobs().Get(before.id);
  ASSERT_TRUE(IsOk(after));
  EXPECT_EQ(after->kek_id, "kek-new");
  EXPECT_EQ(after->wrapped_dek, new_dek);
  // Everything else is untouched.
  EXPECT_EQ(after->ciphertext, before.ciphertext);
  EXPECT_EQ(after->purpose, before.purpose);
  EXPECT_EQ(after->created_at, before.created_at);

  auto rest = tx->blobs().ListNotWrappedBy("kek-new", 100);
  ASSERT_TRUE(IsOk(rest));
  EXPECT_EQ(rest->size(), 3u);
  EXPECT_TRUE(
      HasCode(tx->blobs().UpdateWrapping("blb_missing", "kek-new", "x"), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, SecretRoundTripAndList) {
  SeedAccounts();
  auto s = MakeSecret(kAcc1, 1);
  s.kind = model::SecretKind::kGeneric;
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.secrets().Insert(MakeSecret(kAcc1, 2))));
    ASSERT_TRUE(IsOk(tx.secrets().Insert(s)));
    ASSERT_TRUE(IsOk(tx.secrets().Insert(MakeSecret(kAcc2, 3))));
  });
  auto tx = Begin();
  auto got = tx->secrets().Get(s.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->name, s.name);
  EXPECT_EQ(got->kind, model::SecretKind::kGeneric);
  EXPECT_EQ(got->tags, s.tags);
  EXPECT_EQ(got->current_version, 0);
  EXPECT_EQ(got->description, s.description);
  EXPECT_EQ(got->created_at, s.created_at);
  EXPECT_EQ(got->updated_at, s.updated_at);
  EXPECT_TRUE(HasCode(tx->secrets().Get("sec_missing"), ErrorCode::kNotFound));

  auto list = tx->secrets().ListByAccount(kAcc1);
  ASSERT_TRUE(IsOk(list));
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, TestId(model::kSecretPrefix, 1));
  EXPECT_EQ((*list)[1].id, TestId(model::kSecretPrefix, 2));
}

TEST_P(StoreConformanceTest, SecretNameUniqueWithinAccount) {
  SeedAccounts();
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.secrets().Insert(MakeSecret(kAcc1, 1)))); });
  auto tx = Begin();
  auto dup = MakeSecret(kAcc1, 2);
  dup.name = "secret-1";
  EXPECT_TRUE(HasCode(tx->secrets().Insert(dup), ErrorCode::kConflict));
  auto dup_id = MakeSecret(kAcc2, 1);
  EXPECT_TRUE(HasCode(tx->secrets().Insert(dup_id), ErrorCode::kConflict));
  auto other = MakeSecret(kAcc2, 3);
  other.name = "secret-1";
  EXPECT_TRUE(IsOk(tx->secrets().Insert(other)));
}

TEST_P(StoreConformanceTest, SecretAddVersion) {
  SeedAccounts();
  const std::string sec = TestId(model::kSecretPrefix, 1);
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.secrets().Insert(MakeSecret(kAcc1, 1)))); });
  model::SecretVersion v1{.secret_id = sec, .version = 1, .blob_id = "blb_1", .created_at = T(10)};
  model::SecretVersion v2{.secret_id = sec, .version = 2, .blob_id = "blb_2", .created_at = T(20)};
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.secrets().AddVersion(v1, T(10))));
    ASSERT_TRUE(IsOk(tx.secrets().AddVersion(v2, T(20))));
  });
  auto tx = Begin();
  auto s = tx->secrets().Get(sec);
  ASSERT_TRUE(IsOk(s));
  EXPECT_EQ(s->current_version, 2);
  EXPECT_EQ(s->updated_at, T(20));
  EXPECT_EQ(s->created_at, T(1));
  auto got1 = tx->secrets().GetVersion(sec, 1);
  ASSERT_TRUE(IsOk(got1));
  EXPECT_EQ(got1->secret_id, sec);
  EXPECT_EQ(got1->version, 1);
  EXPECT_EQ(got1->blob_id, "blb_1");
  EXPECT_EQ(got1->created_at, T(10));
  EXPECT_EQ(tx->secrets().GetVersion(sec, 2)->blob_id, "blb_2");
  EXPECT_TRUE(HasCode(tx->secrets().GetVersion(sec, 3), ErrorCode::kNotFound));
  EXPECT_TRUE(HasCode(tx->secrets().GetVersion("sec_missing", 1), ErrorCode::kNotFound));

  // A duplicate version is a Conflict and changes nothing, not even updated_at.
  model::SecretVersion again{
      .secret_id = sec, .version = 2, .blob_id = "blb_x", .created_at = T(30)};
  EXPECT_TRUE(HasCode(tx->secrets().AddVersion(again, T(30)), ErrorCode::kConflict));
  EXPECT_EQ(tx->secrets().Get(sec)->updated_at, T(20));
  EXPECT_EQ(tx->secrets().GetVersion(sec, 2)->blob_id, "blb_2");

  model::SecretVersion orphan{.secret_id = "sec_missing", .version = 1, .blob_id = "blb_3"};
  EXPECT_TRUE(HasCode(tx->secrets().AddVersion(orphan, T(40)), ErrorCode::kNotFound));
}

}  // namespace
}  // namespace certfleet::store::testing
