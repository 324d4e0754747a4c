// Conformance: certificates (including the immutable fields) and certificate versions.
#include "base/time_util.h"
#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kAcc2 = TestId(model::kAccountPrefix, 2);

std::vector<std::string> Ids(const std::vector<model::Certificate>& certs) {
  std::vector<std::string> out;
  for (const auto& c : certs) out.push_back(c.id);
  return out;
}

TEST_P(StoreConformanceTest, CertificateRoundTrip) {
  SeedAccounts();
  auto c = MakeCertificate(kAcc1, 1);
  c.renew_before_seconds = 7 * 86400;
  c.current_version_id = TestId(model::kVersionPrefix, 1);
  c.tags = {{"env", "prod"}, {"owner", "team a"}, {"empty", ""}};
  auto bare = MakeCertificate(kAcc1, 2);
  bare.validity_seconds = std::nullopt;
  bare.exportable = false;
  bare.tags = {};
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.certificates().Insert(c)));
    ASSERT_TRUE(IsOk(tx.certificates().Insert(bare)));
  });
  auto tx = Begin();
  auto got = tx->certificates().Get(c.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->account_id, c.account_id);
  EXPECT_EQ(got->name, c.name);
  EXPECT_EQ(got->domains, c.domains);  // order preserved
  EXPECT_EQ(got->key_type, c.key_type);
  EXPECT_EQ(got->profile, c.profile);
  EXPECT_EQ(got->issuer, c.issuer);
  EXPECT_TRUE(got->exportable);
  EXPECT_EQ(got->tags, c.tags);
  EXPECT_EQ(got->status, c.status);
  EXPECT_EQ(got->status_detail, c.status_detail);
  EXPECT_EQ(got->validity_seconds, c.validity_seconds);
  EXPECT_EQ(got->renew_before_seconds, c.renew_before_seconds);
  EXPECT_EQ(got->current_version_id, c.current_version_id);
  EXPECT_EQ(got->created_by, c.created_by);
  EXPECT_EQ(got->created_at, c.created_at);
  EXPECT_EQ(got->updated_at, c.updated_at);

  auto got_bare = tx->certificates().Get(bare.id);
  ASSERT_TRUE(IsOk(got_bare));
  EXPECT_FALSE(got_bare->exportable);
  EXPECT_FALSE(got_bare->validity_seconds.has_value());
  EXPECT_FALSE(got_bare->renew_before_seconds.has_value());
  EXPECT_TRUE(got_bare->tags.empty());
  EXPECT_TRUE(got_bare->current_version_id.empty());
  EXPECT_TRUE(HasCode(tx->certificates().Get("crt_missing"), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, CertificateNameUniqueWithinAccount) {
  SeedAccounts();
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.certificates().Insert(MakeCertificate(kAcc1, 1)))); });
  auto tx = Begin();
  auto dup = MakeCertificate(kAcc1, 2);
  dup.name = "cert-1";
  auto st = tx->certificates().Insert(dup);
  ASSERT_TRUE(HasCode(st, ErrorCode::kConflict));
  EXPECT_NE(st.error().message().find("certificates"), std::string::npos);
  auto dup_id = MakeCertificate(kAcc2, 1);
  EXPECT_TRUE(HasCode(tx->certificates().Insert(dup_id), ErrorCode::kConflict));
  auto other = MakeCertificate(kAcc2, 3);
  other.name = "cert-1";
  EXPECT_TRUE(IsOk(tx->certificates().Insert(other)));
  auto mine = tx->certificates().GetByName(kAcc1, "cert-1");
  ASSERT_TRUE(IsOk(mine));
  EXPECT_EQ(mine->id, MakeCertificate(kAcc1, 1).id);
  auto theirs = tx->certificates().GetByName(kAcc2, "cert-1");
  ASSERT_TRUE(IsOk(theirs));
  EXPECT_EQ(theirs->id, other.id);
  EXPECT_TRUE(HasCode(tx->certificates().GetByName(kAcc1, "cert-9"), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, CertificateUpdateChangesOnlyMutableFields) {
  SeedAccounts();
  auto original = MakeCertificate(kAcc1, 1);
  original.exportable = false;
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.certificates().Insert(original))); });

  auto u = original;
  // Mutable.
  u.status = model::CertificateStatus::kIssued;
  u.status_detail = "issued by internal CA";
  u.current_version_id = TestId(model::kVersionPrefix, 7);
  u.tags = {{"env", "staging"}};
  u.renew_before_seconds = 3600;
  u.updated_at = T(5000);
  // Immutable: every one of these must be ignored.
  u.exportable = true;
  u.account_id = kAcc2;
  u.domains = {"evil.example.test"};
  u.key_type = "rsa-2048";
  u.profile = "tls-client";
  // Not in the mutable list either.
  u.name = "renamed";
  u.issuer = "acme";
  u.validity_seconds = 1;
  u.created_by = "prn_other";
  u.created_at = T(4000);
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.certificates().Update(u))); });

  auto tx = Begin();
  auto got = tx->certificates().Get(original.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->status, model::CertificateStatus::kIssued);
  EXPECT_EQ(got->status_detail, u.status_detail);
  EXPECT_EQ(got->current_version_id, u.current_version_id);
  EXPECT_EQ(got->tags, u.tags);
  EXPECT_EQ(got->renew_before_seconds, 3600);
  EXPECT_EQ(got->updated_at, T(5000));

  EXPECT_FALSE(got->exportable) << "exportable is fixed at request time";
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->domains, original.domains);
  EXPECT_EQ(got->key_type, original.key_type);
  EXPECT_EQ(got->profile, original.profile);
  EXPECT_EQ(got->name, original.name);
  EXPECT_EQ(got->issuer, original.issuer);
  EXPECT_EQ(got->validity_seconds, original.validity_seconds);
  EXPECT_EQ(got->created_by, original.created_by);
  EXPECT_EQ(got->created_at, original.created_at);

  // And the other way round: an exportable certificate cannot be made non-exportable.
  auto exportable = MakeCertificate(kAcc1, 2);
  ASSERT_TRUE(IsOk(tx->certificates().Insert(exportable)));
  exportable.exportable = false;
  ASSERT_TRUE(IsOk(tx->certificates().Update(exportable)));
  EXPECT_TRUE(tx->certificates().Get(exportable.id)->exportable);

  // renew_before_seconds can be cleared again.
  auto cleared = *got;
  cleared.renew_before_seconds = std::nullopt;
  ASSERT_TRUE(IsOk(tx->certificates().Update(cleared)));
  EXPECT_FALSE(tx->certificates().Get(cleared.id)->renew_before_seconds.has_value());

  EXPECT_TRUE(HasCode(tx->certificates().Update(MakeCertificate(kAcc1, 9)), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, CertificateListFiltersAndPaginates) {
  SeedAccounts();
  // 12 in account 1 (every third issued), 5 in account 2, inserted in reverse id order.
  Commit([](Tx& tx) {
    for (int n = 17; n >= 1; --n) {
      auto c = MakeCertificate(n <= 12 ? kAcc1 : kAcc2, n);
      if (n % 3 == 0) c.status = model::CertificateStatus::kIssued;
      ASSERT_TRUE(IsOk(tx.certificates().Insert(c)));
    }
  });
  auto tx = Begin();
  auto all = tx->certificates().List({});
  ASSERT_TRUE(IsOk(all));
  ASSERT_EQ(all->size(), 17u);
  for (size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].id, TestId(model::kCertificatePrefix, static_cast<int>(i) + 1));
  }

  // Keyset pagination over account 1, five at a time.
  std::vector<std::string> seen;
  CertificateFilter f{.account_id = kAcc1, .limit = 5};
  for (int page = 0; page < 10; ++page) {
    auto got = tx->certificates().List(f);
    ASSERT_TRUE(IsOk(got));
    if (got->empty()) break;
    EXPECT_LE(got->size(), 5u);
    for (const auto& c : *got) {
      EXPECT_EQ(c.account_id, kAcc1);
      seen.push_back(c.id);
    }
    f.after_id = got->back().id;
  }
  ASSERT_EQ(seen.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(seen[i], TestId(model::kCertificatePrefix, i + 1));

  auto issued = tx->certificates().List({.status = model::CertificateStatus::kIssued});
  ASSERT_TRUE(IsOk(issued));
  EXPECT_EQ(Ids(*issued),
            (std::vector<std::string>{
                TestId(model::kCertificatePrefix, 3), TestId(model::kCertificatePrefix, 6),
                TestId(model::kCertificatePrefix, 9), TestId(model::kCertificatePrefix, 12),
                TestId(model::kCertificatePrefix, 15)}));

  auto both =
      tx->certificates().List({.account_id = kAcc2, .status = model::CertificateStatus::kIssued});
  ASSERT_TRUE(IsOk(both));
  EXPECT_EQ(Ids(*both), std::vector<std::string>{TestId(model::kCertificatePrefix, 15)});

  auto after =
      tx->certificates().List({.limit = 2, .after_id = TestId(model::kCertificatePrefix, 16)});
  ASSERT_TRUE(IsOk(after));
  EXPECT_EQ(Ids(*after), std::vector<std::string>{TestId(model::kCertificatePrefix, 17)});

  auto none = tx->certificates().List({.account_id = "acc_missing"});
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
  auto zero = tx->certificates().List({.limit = 0});
  ASSERT_TRUE(IsOk(zero));
  EXPECT_TRUE(zero->empty());
}

// Issue #17: the filters and orders of GET /v1/certificates run in SQL, before the page is cut.
TEST_P(StoreConformanceTest, CertificateListSortsAndFiltersBeforeTheLimit) {
  SeedAccounts();
  // Eight certificates in account 1. created_at is a permutation of the ids (7 and 8 tie);
  // versions 1..6 expire in the reverse order of their ids; 7 and 8 have no version.
  Commit([](Tx& tx) {
    for (int n = 1; n <= 8; ++n) {
      auto c = MakeCertificate(kAcc1, n);
      c.created_at = T((n * 5) % 8);
      if (n == 8) c.created_at = T(3);  // ties with 7
      c.tags =
          n % 2 == 0 ? model::Tags{{"env", "prod"}, {"team", "a"}} : model::Tags{{"env", "dev"}};
      if (n == 3) c.tags = {{"xenv", "prod"}};
      if (n == 5) c.tags = {{"note", "\"env\":\"prod\""}};  // the pattern inside a value
      if (n == 2) c.issuer = "acme-le";
      if (n <= 6) c.current_version_id = TestId(model::kVersionPrefix, n);
      ASSERT_TRUE(IsOk(tx.certificates().Insert(c)));
      if (n <= 6) {
        auto v = MakeVersion(c.id, 1, n);
        v.not_after = T(1000 - n * 10);
        ASSERT_TRUE(IsOk(tx.versions().Insert(v)));
      }
    }
    ASSERT_TRUE(IsOk(tx.certificates().Insert(MakeCertificate(kAcc2, 9))));
  });
  auto id = [](int n) { return TestId(model::kCertificatePrefix, n); };
  auto tx = Begin();
  // Pages of three, resumed from the last row's (key, id).
  auto walk = [&](CertificateSort sort, auto key_of) {
    std::vector<std::string> seen;
    CertificateFilter f{.account_id = kAcc1, .sort = sort, .limit = 3};
    for (int page = 0; page < 10; ++page) {
      auto got = tx->certificates().List(f);
      EXPECT_TRUE(IsOk(got));
      if (!got.ok() || got->empty()) break;
      for (const auto& c : *got) seen.push_back(c.id);
      f.after_id = got->back().id;
      f.after_key = key_of(got->back());
    }
    return seen;
  };
  EXPECT_EQ(walk(CertificateSort::kCreatedAt,
                 [](const model::Certificate& c) { return ToUnixSeconds(c.created_at); }),
            (std::vector<std::string>{id(5), id(2), id(7), id(8), id(4), id(1), id(6), id(3)}));
  EXPECT_EQ(walk(CertificateSort::kNotAfter,
                 [](const model::Certificate& c) {
                   const int n = std::stoi(c.id.substr(c.id.size() - 2));
                   return n <= 6 ? ToUnixSeconds(T(1000 - n * 10)) : kNoVersionNotAfter;
                 }),
            (std::vector<std::string>{id(6), id(5), id(4), id(3), id(2), id(1), id(7), id(8)}));

  auto ids_of = [&](CertificateFilter f) {
    f.account_id = kAcc1;
    auto got = tx->certificates().List(f);
    EXPECT_TRUE(IsOk(got));
    return got.ok() ? Ids(*got) : std::vector<std::string>{};
  };
  const std::vector<std::string> evens{id(2), id(4), id(6), id(8)};
  EXPECT_EQ(ids_of({.tags = {{"env", "prod"}}}), evens);
  EXPECT_EQ(ids_of({.tags = {{"env", "prod"}, {"team", "a"}}}), evens);
  EXPECT_EQ(ids_of({.tags = {{"env", "prod"}, {"team", "b"}}}), std::vector<std::string>{});
  EXPECT_EQ(ids_of({.tags = {{"team", "a"}}, .limit = 2}),
            (std::vector<std::string>{id(2), id(4)}));  // filtered before the limit
  EXPECT_EQ(ids_of({.domain_contains = "WWW4.Example"}), std::vector<std::string>{id(4)});
  EXPECT_EQ(ids_of({.domain_contains = "example.test"}).size(), 8u);
  EXPECT_TRUE(HasCode(tx->certificates().List({.domain_contains = "a\",\"b"}),
                      ErrorCode::kInvalidArgument));
  EXPECT_EQ(ids_of({.issuer = "acme-le"}), std::vector<std::string>{id(2)});
  EXPECT_EQ(ids_of({.expires_before = T(965)}), (std::vector<std::string>{id(4), id(5), id(6)}));
  EXPECT_EQ(ids_of({.expires_after = T(980)}), (std::vector<std::string>{id(1), id(2)}));
  EXPECT_EQ(ids_of({.status = model::CertificateStatus::kPending,
                    .tags = {{"env", "dev"}},
                    .expires_after = T(0)}),
            (std::vector<std::string>{id(1)}));
}

TEST_P(StoreConformanceTest, VersionRoundTripAndOrdering) {
  SeedAccounts();
  const std::string crt = TestId(model::kCertificatePrefix, 1);
  auto v1 = MakeVersion(crt, 1, 1);
  v1.issuer_ca_id = "";
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.certificates().Insert(MakeCertificate(kAcc1, 1))));
    ASSERT_TRUE(IsOk(tx.certificates().Insert(MakeCertificate(kAcc1, 2))));
    ASSERT_TRUE(IsOk(tx.versions().Insert(MakeVersion(crt, 3, 3))));
    ASSERT_TRUE(IsOk(tx.versions().Insert(v1)));
    ASSERT_TRUE(IsOk(tx.versions().Insert(MakeVersion(crt, 2, 2))));
    ASSERT_TRUE(
        IsOk(tx.versions().Insert(MakeVersion(TestId(model::kCertificatePrefix, 2), 1, 4))));
  });
  auto tx = Begin();
  auto got = tx->versions().Get(v1.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->certificate_id, crt);
  EXPECT_EQ(got->version, 1);
  EXPECT_EQ(got->serial_hex, v1.serial_hex);
  EXPECT_EQ(got->not_before, v1.not_before);
  EXPECT_EQ(got->not_after, v1.not_after);
  EXPECT_EQ(got->leaf_pem, v1.leaf_pem);
  EXPECT_EQ(got->chain_pem, v1.chain_pem);
  EXPECT_EQ(got->fingerprint_sha256, v1.fingerprint_sha256);
  EXPECT_EQ(got->key_blob_id, v1.key_blob_id);
  EXPECT_EQ(got->issuer_ca_id, "");
  EXPECT_EQ(got->created_at, v1.created_at);
  EXPECT_TRUE(HasCode(tx->versions().Get("crv_missing"), ErrorCode::kNotFound));
  auto by_serial = tx->versions().GetBySerial(v1.serial_hex);
  ASSERT_TRUE(IsOk(by_serial));
  EXPECT_EQ(by_serial->id, v1.id);
  EXPECT_TRUE(HasCode(tx->versions().GetBySerial("00ff"), ErrorCode::kNotFound));

  auto list = tx->versions().ListByCertificate(crt);
  ASSERT_TRUE(IsOk(list));
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].version, 1);
  EXPECT_EQ((*list)[1].version, 2);
  EXPECT_EQ((*list)[2].version, 3);
  auto none = tx->versions().ListByCertificate("crt_missing");
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreConformanceTest, VersionConflicts) {
  SeedAccounts();
  const std::string crt = TestId(model::kCertificatePrefix, 1);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.certificates().Insert(MakeCertificate(kAcc1, 1))));
    ASSERT_TRUE(IsOk(tx.versions().Insert(MakeVersion(crt, 1, 1))));
  });
  auto tx = Begin();
  auto same_number = MakeVersion(crt, 1, 2);
  EXPECT_TRUE(HasCode(tx->versions().Insert(same_number), ErrorCode::kConflict));
  auto same_serial = MakeVersion(crt, 2, 3);
  same_serial.serial_hex = MakeVersion(crt, 1, 1).serial_hex;
  EXPECT_TRUE(HasCode(tx->versions().Insert(same_serial), ErrorCode::kConflict));
  auto same_id = MakeVersion(crt, 3, 1);
  same_id.serial_hex = "fresh";
  EXPECT_TRUE(HasCode(tx->versions().Insert(same_id), ErrorCode::kConflict));
  EXPECT_TRUE(IsOk(tx->versions().Insert(MakeVersion(crt, 2, 4))));
}

}  // namespace
}  // namespace certfleet::store::testing
