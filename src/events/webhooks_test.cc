// WebhookService: validation, the sealed secret, account scoping and disabling.
#include "events/webhooks.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/time_util.h"
#include "secrets/kek.h"
#include "secrets/sealer.h"
#include "store/sqlite/sqlite_store.h"

namespace certfleet::events {
namespace {

const std::string kAcc = "acc_00000000000000000000000001";
const std::string kOther = "acc_00000000000000000000000002";

class WebhookServiceTest : public ::testing::Test {
 protected:
  WebhookServiceTest() : clock_(UtcDate(2026, 11, 27)) {
    char tmpl[] = "/tmp/cf-webhooks-XXXXXX";
    CF_CHECK(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    store_ = std::move(*store::OpenSqliteStore({.path = dir_ + "/db"}));
    kek_ = std::move(*secrets::FileKek::LoadOrCreate(dir_ + "/kek", SystemRandomSource()));
    sealer_ = std::make_unique<secrets::Sealer>(*kek_, std::vector<secrets::KekProvider*>{}, clock_,
                                                SystemRandomSource());
    secrets_ = std::make_unique<secrets::SecretStore>(*sealer_, clock_, SystemRandomSource());
    service_ = std::make_unique<WebhookService>(*store_, *secrets_, clock_, SystemRandomSource());
    auto tx = std::move(*store_->Begin());
    for (const auto& id : {kAcc, kOther}) {
      CF_CHECK(tx->accounts().Insert({.id = id, .name = id, .created_at = clock_.Now()}).ok());
    }
    CF_CHECK(tx->Commit().ok());
  }
  ~WebhookServiceTest() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  NewWebhook Spec() {
    return {.account_id = kAcc,
            .url = "https://hooks.example.com/certfleet",
            .types = {"certificate.*", "deployment.failed"},
            .tags = {{"env", "prod"}},
            .secret = SecretBytes::FromView("0123456789abcdef-secret"),
            .created_by = "prn_1"};
  }

  FakeClock clock_;
  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<secrets::FileKek> kek_;
  std::unique_ptr<secrets::Sealer> sealer_;
  std::unique_ptr<secrets::SecretStore> secrets_;
  std::unique_ptr<WebhookService> service_;
};

TEST_F(WebhookServiceTest, CreateSealsTheSecretAndScopesByAccount) {
  auto w = service_->Create(Spec());
  ASSERT_TRUE(w.ok()) << w.error().ToString();
  EXPECT_TRUE(w->id.starts_with("whk_"));
  EXPECT_TRUE(w->active);
  EXPECT_FALSE(w->allow_private_address);
  EXPECT_EQ(w->created_at, clock_.Now());
  {
    auto tx = std::move(*store_->Begin());
    auto blob = tx->blobs().Get(w->secret_blob_id);
    ASSERT_TRUE(blob.ok());
    EXPECT_EQ(blob->ciphertext.find("0123456789abcdef"), std::string::npos);
    auto opened = secrets_->OpenBlob(*tx, w->secret_blob_id);
    ASSERT_TRUE(opened.ok());
    EXPECT_EQ(opened->view(), "0123456789abcdef-secret");
  }
  auto list = service_->List(kAcc);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].types, Spec().types);
  EXPECT_TRUE(service_->List(kOther)->empty());
  EXPECT_TRUE(service_->Get(kAcc, w->id).ok());
  EXPECT_EQ(service_->Get(kOther, w->id).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(service_->Disable(kOther, w->id).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(service_->Deliveries(kOther, w->id, "", 10).error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(service_->Deliveries(kAcc, w->id, "", 10)->empty());

  clock_.Advance(std::chrono::seconds(30));
  auto off = service_->Disable(kAcc, w->id);
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->active);
  EXPECT_EQ(off->updated_at, clock_.Now());
  EXPECT_TRUE(service_->Disable(kAcc, w->id).ok());  // idempotent
  EXPECT_FALSE(service_->Get(kAcc, w->id)->active);
}

TEST_F(WebhookServiceTest, Validation) {
  auto expect_invalid = [&](NewWebhook spec, const char* what) {
    auto w = service_->Create(spec);
    ASSERT_FALSE(w.ok()) << what;
    EXPECT_EQ(w.error().code(), ErrorCode::kInvalidArgument)
        << what << ": " << w.error().ToString();
  };
  auto s = Spec();
  s.url = "http://hooks.example.com/x";
  expect_invalid(std::move(s), "plain http without allow_private_address");
  s = Spec();
  s.url = "https://user:pw@hooks.example.com/x";
  expect_invalid(std::move(s), "userinfo");
  s = Spec();
  s.url = "ftp://hooks.example.com/x";
  expect_invalid(std::move(s), "scheme");
  s = Spec();
  s.types = {};
  expect_invalid(std::move(s), "no types");
  s = Spec();
  s.types = {"certificate*"};
  expect_invalid(std::move(s), "bad pattern");
  s = Spec();
  s.secret = SecretBytes::FromView("short");
  expect_invalid(std::move(s), "short secret");
  s = Spec();
  s.tags = {{"", "x"}};
  expect_invalid(std::move(s), "empty tag key");

  s = Spec();
  s.url = "http://127.0.0.1:8080/hook";
  s.allow_private_address = true;
  EXPECT_TRUE(service_->Create(std::move(s)).ok());
  s = Spec();
  s.account_id = "acc_00000000000000000000000009";
  EXPECT_EQ(service_->Create(std::move(s)).error().code(), ErrorCode::kNotFound);
}

// Issue #13: allow_private_address is server configuration ([[outbound.allow]]), per account.
TEST_F(WebhookServiceTest, PrivateAddressesNeedTheServerPolicy) {
  net::OutboundPolicy policy(
      {{.accounts = {kAcc}, .networks = {*net::Cidr::Parse("127.0.0.0/8")}}});
  WebhookService guarded(*store_, *secrets_, clock_, SystemRandomSource(), &policy);
  NewWebhook spec = Spec();
  spec.allow_private_address = true;
  spec.url = "http://127.0.0.1:9/hook";
  auto ok = guarded.Create(spec);
  ASSERT_TRUE(ok.ok()) << ok.error().message();

  spec.account_id = kOther;  // not named by the policy
  auto refused = guarded.Create(spec);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(refused.error().message().find("rule network.private_not_allowed"), std::string::npos);

  spec.account_id = kAcc;  // allowed, but only its networks
  spec.url = "http://10.1.2.3/hook";
  auto outside = guarded.Create(spec);
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().code(), ErrorCode::kForbidden);

  net::OutboundPolicy empty;
  WebhookService closed(*store_, *secrets_, clock_, SystemRandomSource(), &empty);
  spec.url = "http://127.0.0.1:9/hook";
  EXPECT_FALSE(closed.Create(spec).ok());
  spec.allow_private_address = false;
  spec.url = "https://hooks.example.com/x";
  EXPECT_TRUE(closed.Create(spec).ok());  // public destinations need nothing
}

}  // namespace
}  // namespace certfleet::events
