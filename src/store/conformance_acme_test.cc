// Conformance: ACME issuer/solver configurations and orders (issue #6, migration 8).
#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

AcmeConfig MakeConfig(const std::string& account_id, const std::string& kind,
                      const std::string& name, int n) {
  return AcmeConfig{.id = "acm_" + std::to_string(n),
                    .account_id = account_id,
                    .kind = kind,
                    .name = name,
                    .type = kind == "issuer" ? "acme" : "rfc2136",
                    .config_json = R"({"n":)" + std::to_string(n) + "}",
                    .created_by = "prn_x",
                    .created_at = T(100 + n),
                    .updated_at = T(100 + n)};
}

TEST_P(StoreConformanceTest, AcmeConfigsAreScopedByAccountAndKind) {
  const model::Account a1 = MakeAccount(1), a2 = MakeAccount(2);
  const model::SealedBlob blob = MakeBlob(1, "kek1");
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.accounts().Insert(a1)));
    ASSERT_TRUE(IsOk(tx.accounts().Insert(a2)));
    ASSERT_TRUE(IsOk(tx.blobs().Insert(blob)));
    AcmeConfig issuer = MakeConfig(a1.id, "issuer", "le", 1);
    issuer.secret_blob_id = blob.id;
    ASSERT_TRUE(IsOk(tx.acme_configs().Insert(issuer)));
    ASSERT_TRUE(IsOk(tx.acme_configs().Insert(MakeConfig(a1.id, "solver", "le", 2))));
    ASSERT_TRUE(IsOk(tx.acme_configs().Insert(MakeConfig(a2.id, "issuer", "le", 3))));
    ASSERT_TRUE(IsOk(tx.acme_configs().Insert(MakeConfig(a1.id, "issuer", "buypass", 4))));
    EXPECT_TRUE(HasCode(tx.acme_configs().Insert(MakeConfig(a1.id, "issuer", "le", 5)),
                        ErrorCode::kConflict));
  });
  auto tx = Begin();
  auto le = tx->acme_configs().GetByName(a1.id, "issuer", "le");
  ASSERT_TRUE(IsOk(le));
  EXPECT_EQ(le->id, "acm_1");
  EXPECT_EQ(le->secret_blob_id, blob.id);
  EXPECT_EQ(le->secret2_blob_id, "");
  EXPECT_EQ(le->config_json, R"({"n":1})");
  EXPECT_EQ(le->created_at, T(101));
  EXPECT_EQ(tx->acme_configs().GetByName(a1.id, "solver", "le")->id, "acm_2");
  EXPECT_TRUE(
      HasCode(tx->acme_configs().GetByName(a1.id, "issuer", "zerossl"), ErrorCode::kNotFound));
  auto issuers = tx->acme_configs().List(a1.id, "issuer");
  ASSERT_TRUE(IsOk(issuers));
  ASSERT_EQ(issuers->size(), 2u);
  EXPECT_EQ((*issuers)[0].name, "buypass");
  EXPECT_EQ((*issuers)[1].name, "le");
  ASSERT_TRUE(IsOk(tx->acme_configs().UpdateConfig("acm_1", R"({"account_url":"u"})", T(500))));
  EXPECT_EQ(tx->acme_configs().GetByName(a1.id, "issuer", "le")->config_json,
            R"({"account_url":"u"})");
  EXPECT_TRUE(HasCode(tx->acme_configs().UpdateConfig("acm_9", "{}", T(1)), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, AcmeOrdersKeepTheOrderUrlAndAriWindow) {
  const model::Account a1 = MakeAccount(1);
  const model::Certificate c = MakeCertificate(a1.id, 1);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.accounts().Insert(a1)));
    ASSERT_TRUE(IsOk(tx.certificates().Insert(c)));
    ASSERT_TRUE(IsOk(tx.acme_orders().Put({.order_key = c.id + "/1",
                                           .certificate_id = c.id,
                                           .order_url = "https://ca/o/1",
                                           .updated_at = T(10)})));
  });
  {
    auto tx = Begin();
    auto o = tx->acme_orders().Get(c.id + "/1");
    ASSERT_TRUE(IsOk(o));
    ASSERT_TRUE(o->has_value());
    EXPECT_EQ((*o)->order_url, "https://ca/o/1");
    EXPECT_FALSE((*o)->ari_start.has_value());
    EXPECT_FALSE((*tx->acme_orders().Get(c.id + "/2")).has_value());
    ASSERT_TRUE(IsOk(tx->acme_orders().Put({.order_key = c.id + "/1",
                                            .certificate_id = c.id,
                                            .order_url = "https://ca/o/2",
                                            .ari_start = T(1000),
                                            .ari_end = T(2000),
                                            .updated_at = T(20)})));
    ASSERT_TRUE(IsOk(tx->Commit()));
  }
  auto tx = Begin();
  auto o = tx->acme_orders().Get(c.id + "/1");
  ASSERT_TRUE(IsOk(o) && o->has_value());
  EXPECT_EQ((*o)->order_url, "https://ca/o/2");
  EXPECT_EQ((*o)->ari_start, T(1000));
  EXPECT_EQ((*o)->ari_end, T(2000));
  EXPECT_EQ((*o)->updated_at, T(20));
}

}  // namespace
}  // namespace certfleet::store::testing

namespace certfleet::store::testing {
namespace {

TEST_P(StoreConformanceTest, Http01TokensArePutReadAndDeletedByTheirOwner) {
  Http01Token t{.identifier = "www.example.test",
                .token = "tok1",
                .owner = "acc_a",
                .key_authorization = "tok1.thumb",
                .created_at = T(10)};
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.http01_tokens().Put(t))); });
  auto tx = Begin();
  auto got = tx->http01_tokens().Get("www.example.test", "tok1");
  ASSERT_TRUE(IsOk(got));
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->owner, "acc_a");
  EXPECT_EQ((*got)->key_authorization, "tok1.thumb");
  EXPECT_EQ((*got)->created_at, T(10));
  auto none = tx->http01_tokens().Get("other.example.test", "tok1");
  ASSERT_TRUE(IsOk(none));
  EXPECT_FALSE(none->has_value());
  // Replacing keeps one row.
  t.key_authorization = "tok1.thumb2";
  ASSERT_TRUE(IsOk(tx->http01_tokens().Put(t)));
  EXPECT_EQ(*tx->http01_tokens().Count(), 1);
  EXPECT_EQ((*tx->http01_tokens().Get("www.example.test", "tok1"))->key_authorization,
            "tok1.thumb2");
  // Another owner cannot delete it; the owner can.
  ASSERT_TRUE(IsOk(tx->http01_tokens().Delete("www.example.test", "tok1", "acc_b")));
  EXPECT_EQ(*tx->http01_tokens().Count(), 1);
  ASSERT_TRUE(IsOk(tx->http01_tokens().Delete("www.example.test", "tok1", "acc_a")));
  EXPECT_EQ(*tx->http01_tokens().Count(), 0);
  // Old rows are swept.
  ASSERT_TRUE(IsOk(tx->http01_tokens().Put({.identifier = "a.example.test",
                                            .token = "t1",
                                            .owner = "",
                                            .key_authorization = "t1.x",
                                            .created_at = T(5)})));
  ASSERT_TRUE(IsOk(tx->http01_tokens().Put({.identifier = "b.example.test",
                                            .token = "t2",
                                            .owner = "",
                                            .key_authorization = "t2.x",
                                            .created_at = T(50)})));
  auto swept = tx->http01_tokens().DeleteCreatedBefore(T(20));
  ASSERT_TRUE(IsOk(swept));
  EXPECT_EQ(*swept, 1);
  EXPECT_FALSE(tx->http01_tokens().Get("a.example.test", "t1")->has_value());
  EXPECT_TRUE(tx->http01_tokens().Get("b.example.test", "t2")->has_value());
}

}  // namespace
}  // namespace certfleet::store::testing
