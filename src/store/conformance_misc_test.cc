// Conformance: export records, CA records, serial reservations and settings.
#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kAcc2 = TestId(model::kAccountPrefix, 2);
const std::string kCrt1 = TestId(model::kCertificatePrefix, 1);
const std::string kCrt2 = TestId(model::kCertificatePrefix, 2);

std::vector<std::string> Ids(const std::vector<model::ExportRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.id);
  return out;
}

std::string Exp(int n) { return TestId(model::kExportPrefix, n); }

TEST_P(StoreConformanceTest, ExportRoundTrip) {
  auto refused = MakeExport(kAcc1, kCrt1, 1, T(100));
  refused.allowed = false;
  refused.reason = "not exportable";
  refused.version_id = "";
  refused.secret_id = "";
  auto allowed = MakeExport(kAcc1, kCrt1, 2, T(200));
  allowed.secret_id = TestId(model::kSecretPrefix, 1);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.exports().Insert(refused)));
    ASSERT_TRUE(IsOk(tx.exports().Insert(allowed)));
  });
  auto tx = Begin();
  auto all = tx->exports().List({});
  ASSERT_TRUE(IsOk(all));
  ASSERT_EQ(all->size(), 2u);
  const auto& r = (*all)[0];
  EXPECT_EQ(r.id, refused.id);
  EXPECT_EQ(r.account_id, kAcc1);
  EXPECT_EQ(r.certificate_id, kCrt1);
  EXPECT_EQ(r.version_id, "");
  EXPECT_EQ(r.principal_id, refused.principal_id);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.reason, "not exportable");
  EXPECT_EQ(r.fqdn_count, 3);
  EXPECT_EQ(r.wildcard_count, 1);
  EXPECT_EQ(r.at, T(100));
  const auto& a = (*all)[1];
  EXPECT_TRUE(a.allowed);
  EXPECT_EQ(a.version_id, allowed.version_id);
  EXPECT_EQ(a.secret_id, allowed.secret_id);
  EXPECT_TRUE(HasCode(tx->exports().Insert(allowed), ErrorCode::kConflict));
}

TEST_P(StoreConformanceTest, ExportListFiltersBySinceAccountAndCertificate) {
  Commit([](Tx& tx) {
    // Ids deliberately not in time order: the list sorts by time, then id.
    ASSERT_TRUE(IsOk(tx.exports().Insert(MakeExport(kAcc1, kCrt1, 5, T(100)))));
    ASSERT_TRUE(IsOk(tx.exports().Insert(MakeExport(kAcc2, kCrt2, 4, T(200)))));
    ASSERT_TRUE(IsOk(tx.exports().Insert(MakeExport(kAcc1, kCrt2, 3, T(300)))));
    ASSERT_TRUE(IsOk(tx.exports().Insert(MakeExport(kAcc1, kCrt1, 2, T(300)))));
    ASSERT_TRUE(IsOk(tx.exports().Insert(MakeExport(kAcc2, kCrt2, 1, T(400)))));
  });
  auto tx = Begin();
  auto all = tx->exports().List({});
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(Ids(*all), (std::vector<std::string>{Exp(5), Exp(4), Exp(2), Exp(3), Exp(1)}));

  // `since` is inclusive.
  auto since = tx->exports().List({.since = T(300)});
  ASSERT_TRUE(IsOk(since));
  EXPECT_EQ(Ids(*since), (std::vector<std::string>{Exp(2), Exp(3), Exp(1)}));

  auto acc1 = tx->exports().List({.account_id = kAcc1});
  ASSERT_TRUE(IsOk(acc1));
  EXPECT_EQ(Ids(*acc1), (std::vector<std::string>{Exp(5), Exp(2), Exp(3)}));

  auto acc1_since = tx->exports().List({.account_id = kAcc1, .since = T(101)});
  ASSERT_TRUE(IsOk(acc1_since));
  EXPECT_EQ(Ids(*acc1_since), (std::vector<std::string>{Exp(2), Exp(3)}));

  auto crt2 = tx->exports().List({.certificate_id = kCrt2});
  ASSERT_TRUE(IsOk(crt2));
  EXPECT_EQ(Ids(*crt2), (std::vector<std::string>{Exp(4), Exp(3), Exp(1)}));

  auto all_three =
      tx->exports().List({.account_id = kAcc2, .certificate_id = kCrt2, .since = T(300)});
  ASSERT_TRUE(IsOk(all_three));
  EXPECT_EQ(Ids(*all_three), std::vector<std::string>{Exp(1)});

  auto future = tx->exports().List({.since = T(1000)});
  ASSERT_TRUE(IsOk(future));
  EXPECT_TRUE(future->empty());
}

TEST_P(StoreConformanceTest, CaRecordsAndActiveLookup) {
  const auto root = MakeCa(1, model::CaRole::kRoot, T(10));
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->cas().GetActive(model::CaRole::kRoot), ErrorCode::kNotFound));
  ASSERT_TRUE(IsOk(tx->cas().Insert(root)));
  ASSERT_TRUE(IsOk(tx->cas().Insert(MakeCa(2, model::CaRole::kIntermediate, T(20)))));
  ASSERT_TRUE(IsOk(tx->cas().Insert(MakeCa(3, model::CaRole::kIntermediate, T(30)))));
  // Newest of all, but inactive: never returned by GetActive.
  ASSERT_TRUE(IsOk(tx->cas().Insert(MakeCa(4, model::CaRole::kIntermediate, T(40), false))));
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  auto got = tx->cas().Get(root.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->role, model::CaRole::kRoot);
  EXPECT_EQ(got->cert_pem, root.cert_pem);
  EXPECT_EQ(got->key_blob_id, root.key_blob_id);
  EXPECT_EQ(got->parent_id, "");
  EXPECT_TRUE(got->active);
  EXPECT_EQ(got->created_at, T(10));
  EXPECT_TRUE(HasCode(tx->cas().Get("cak_missing"), ErrorCode::kNotFound));

  auto active_root = tx->cas().GetActive(model::CaRole::kRoot);
  ASSERT_TRUE(IsOk(active_root));
  EXPECT_EQ(active_root->id, root.id);
  auto active_inter = tx->cas().GetActive(model::CaRole::kIntermediate);
  ASSERT_TRUE(IsOk(active_inter));
  EXPECT_EQ(active_inter->id, TestId(model::kCaPrefix, 3));
  EXPECT_EQ(active_inter->parent_id, root.id);

  auto list = tx->cas().List();
  ASSERT_TRUE(IsOk(list));
  ASSERT_EQ(list->size(), 4u);
  EXPECT_EQ((*list)[0].id, root.id);
  EXPECT_FALSE((*list)[3].active);
  EXPECT_TRUE(HasCode(tx->cas().Insert(root), ErrorCode::kConflict));
}

TEST_P(StoreConformanceTest, CaActiveTieBrokenByNewestId) {
  Commit([](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.cas().Insert(MakeCa(2, model::CaRole::kRoot, T(10)))));
    ASSERT_TRUE(IsOk(tx.cas().Insert(MakeCa(1, model::CaRole::kRoot, T(10)))));
  });
  auto tx = Begin();
  auto active = tx->cas().GetActive(model::CaRole::kRoot);
  ASSERT_TRUE(IsOk(active));
  EXPECT_EQ(active->id, TestId(model::kCaPrefix, 2));
}

TEST_P(StoreConformanceTest, SerialReservation) {
  const std::string ca = TestId(model::kCaPrefix, 2);
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.serials().Reserve("7f01", ca, T(1)))); });
  auto tx = Begin();
  auto yes = tx->serials().Exists("7f01");
  ASSERT_TRUE(IsOk(yes));
  EXPECT_TRUE(*yes);
  auto no = tx->serials().Exists("7f02");
  ASSERT_TRUE(IsOk(no));
  EXPECT_FALSE(*no);
  // Never twice, whichever CA asks (store.h).
  EXPECT_TRUE(HasCode(tx->serials().Reserve("7f01", ca, T(2)), ErrorCode::kConflict));
  EXPECT_TRUE(HasCode(tx->serials().Reserve("7f01", TestId(model::kCaPrefix, 3), T(2)),
                      ErrorCode::kConflict));
  EXPECT_TRUE(IsOk(tx->serials().Reserve("7f02", ca, T(2))));
}

TEST_P(StoreConformanceTest, SerialReservationRolledBackIsFree) {
  const std::string ca = TestId(model::kCaPrefix, 2);
  {
    auto tx = Begin();
    ASSERT_TRUE(IsOk(tx->serials().Reserve("abcd", ca, T(1))));
  }
  auto tx = Begin();
  EXPECT_FALSE(*tx->serials().Exists("abcd"));
  EXPECT_TRUE(IsOk(tx->serials().Reserve("abcd", ca, T(1))));
}

TEST_P(StoreConformanceTest, SettingsGetPut) {
  auto tx = Begin();
  auto missing = tx->settings().Get("active_kek");
  ASSERT_TRUE(IsOk(missing));
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(IsOk(tx->settings().Put("active_kek", "kek-1")));
  ASSERT_TRUE(IsOk(tx->settings().Put("empty", "")));
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  EXPECT_EQ(tx->settings().Get("active_kek")->value_or("?"), "kek-1");
  auto empty = tx->settings().Get("empty");
  ASSERT_TRUE(IsOk(empty));
  ASSERT_TRUE(empty->has_value());
  EXPECT_EQ(**empty, "");
  ASSERT_TRUE(IsOk(tx->settings().Put("active_kek", "kek-2")));  // overwrite
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  EXPECT_EQ(tx->settings().Get("active_kek")->value_or("?"), "kek-2");
}

}  // namespace
}  // namespace certfleet::store::testing
