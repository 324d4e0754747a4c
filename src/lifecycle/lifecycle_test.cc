#include <gtest/gtest.h>

#include "fakes/pki_env.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/export_service.h"
#include "lifecycle/issuers/internal_issuer.h"
#include "x509/certificate.h"

namespace certfleet::lifecycle {
namespace {

class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    issuers_.Register(std::make_unique<InternalIssuer>(env_.Ca()));
    certs_ = std::make_unique<CertificateService>(*env_.store, *env_.secret_store, issuers_,
                                                  env_.clock, SystemRandomSource());
    // A low iteration count keeps the unit test fast; the e2e tests use the default.
    exports_ = std::make_unique<ExportService>(
        *env_.store, *env_.secret_store, env_.clock, SystemRandomSource(),
        ExportOptions{.pkcs8 = {.pbkdf2_iterations = 10000}});
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    for (const char* id : {"acc_a", "acc_b"}) {
      ASSERT_TRUE((*tx)->accounts().Insert({id, id, env_.clock.Now()}).ok());
    }
    ASSERT_TRUE((*tx)->Commit().ok());
    // Non-system accounts hold only names they claim (issue #13).
    for (const char* id : {"acc_a", "acc_b"}) env_.ClaimDomain(id, "example.test");
  }

  CertificateRequest Req(const std::string& name, bool exportable = true) {
    CertificateRequest r;
    r.name = name;
    r.domains = {"App.Example.test", "*.example.test"};
    r.exportable = exportable;
    r.tags = {{"env", "dev"}};
    return r;
  }

  testing::PkiEnv env_;
  IssuerRegistry issuers_;
  std::unique_ptr<CertificateService> certs_;
  std::unique_ptr<ExportService> exports_;
  Caller alice_{.principal_id = "prn_alice", .account_id = "acc_a"};
  Caller bob_{.principal_id = "prn_bob", .account_id = "acc_b"};
};

TEST_F(LifecycleTest, RequestIssuesAndStoresVersion) {
  auto view = certs_->Request(alice_, Req("web"));
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  EXPECT_EQ(view->certificate.status, model::CertificateStatus::kIssued);
  ASSERT_TRUE(view->version.has_value());
  EXPECT_EQ(view->certificate.domains[0], "app.example.test");  // normalized to lower case
  auto got = certs_->Get(alice_, view->certificate.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version->serial_hex, view->version->serial_hex);
  auto leaf = x509::Certificate::FromPem(got->version->leaf_pem);
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(leaf->serial_hex(), got->version->serial_hex);
  EXPECT_EQ(certs_->List(alice_, {})->items.size(), 1u);
  EXPECT_EQ(certs_->List(bob_, {})->items.size(), 0u);
}

TEST_F(LifecycleTest, ValidationWritesNothing) {
  CertificateRequest bad = Req("web");
  bad.domains = {"a..b"};
  EXPECT_EQ(certs_->Request(alice_, bad).error().code(), ErrorCode::kInvalidArgument);
  bad = Req("web");
  bad.key_type = "dsa1024";
  EXPECT_EQ(certs_->Request(alice_, bad).error().code(), ErrorCode::kInvalidArgument);
  bad = Req("../etc");
  EXPECT_EQ(certs_->Request(alice_, bad).error().code(), ErrorCode::kInvalidArgument);
  bad = Req("web");
  bad.key_type = "ed25519";
  auto ed = certs_->Request(alice_, bad);
  ASSERT_FALSE(ed.ok());
  EXPECT_NE(ed.error().message().find("ed25519"), std::string::npos);
  EXPECT_EQ(certs_->List(alice_, {})->items.size(), 0u);
  ASSERT_TRUE(certs_->Request(alice_, Req("web")).ok());
  EXPECT_EQ(certs_->Request(alice_, Req("web")).error().code(), ErrorCode::kConflict);
  EXPECT_TRUE(certs_->Request(bob_, Req("web")).ok());  // names are per account
}

TEST_F(LifecycleTest, OtherAccountsSeeNotFound) {
  auto view = certs_->Request(alice_, Req("web"));
  ASSERT_TRUE(view.ok());
  auto foreign = certs_->Get(bob_, view->certificate.id);
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code(), ErrorCode::kNotFound);
  auto unknown = certs_->Get(bob_, "crt_00000000000000000000000000");
  EXPECT_EQ(unknown.error().message().substr(0, 11), foreign.error().message().substr(0, 11));
  EXPECT_EQ(exports_->Export(bob_, view->certificate.id, std::nullopt).error().code(),
            ErrorCode::kNotFound);
}

TEST_F(LifecycleTest, ExportWithGivenPassphrase) {
  auto view = certs_->Request(alice_, Req("web"));
  ASSERT_TRUE(view.ok());
  auto out = exports_->Export(alice_, view->certificate.id, SecretBytes::FromView("correct horse"));
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_FALSE(out->passphrase_secret_id.has_value());
  EXPECT_EQ(out->fullchain_pem, out->certificate_pem + out->chain_pem);
  auto key = crypto::PrivateKey::FromEncryptedPem(out->private_key_pem,
                                                  SecretBytes::FromView("correct horse"));
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(x509::Certificate::FromPem(out->certificate_pem)->MatchesKey(*key));
  auto tx = env_.store->Begin();
  auto recs = (*tx)->exports().List({.certificate_id = view->certificate.id});
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_TRUE((*recs)[0].allowed);
  EXPECT_EQ((*recs)[0].fqdn_count, 2);
  EXPECT_EQ((*recs)[0].wildcard_count, 1);
  EXPECT_EQ((*recs)[0].principal_id, "prn_alice");
  EXPECT_EQ((*recs)[0].version_id, view->version->id);
}

TEST_F(LifecycleTest, ExportWithGeneratedPassphraseStoresSecret) {
  auto view = certs_->Request(alice_, Req("web"));
  ASSERT_TRUE(view.ok());
  auto out = exports_->Export(alice_, view->certificate.id, std::nullopt);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  ASSERT_TRUE(out->passphrase_secret_id.has_value());
  auto tx = env_.store->Begin();
  auto secret = (*tx)->secrets().Get(*out->passphrase_secret_id);
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(secret->account_id, "acc_a");
  EXPECT_EQ(secret->tags, (model::Tags{{"env", "dev"}}));
  auto pass = env_.secret_store->Read(**tx, secret->id);
  ASSERT_TRUE(pass.ok());
  EXPECT_GE(pass->size(), 43u);
  EXPECT_TRUE(crypto::PrivateKey::FromEncryptedPem(out->private_key_pem, *pass).ok());
}

TEST_F(LifecycleTest, NonExportableIsRefusedAndRecorded) {
  auto view = certs_->Request(alice_, Req("locked", /*exportable=*/false));
  ASSERT_TRUE(view.ok());
  auto out = exports_->Export(alice_, view->certificate.id, SecretBytes::FromView("abcd1234"));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), ErrorCode::kConflict);
  auto tx = env_.store->Begin();
  auto recs = (*tx)->exports().List({.certificate_id = view->certificate.id});
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_FALSE((*recs)[0].allowed);
  EXPECT_EQ((*recs)[0].principal_id, "prn_alice");
}

TEST_F(LifecycleTest, BadPassphraseIsRejectedWithoutEcho) {
  auto view = certs_->Request(alice_, Req("web"));
  ASSERT_TRUE(view.ok());
  auto out = exports_->Export(alice_, view->certificate.id, SecretBytes::FromView("pa$$word"));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(out.error().message().find("pa$$word"), std::string::npos);
}

}  // namespace
}  // namespace certfleet::lifecycle

namespace certfleet::lifecycle {
namespace {

TEST_F(LifecycleTest, AccountPolicyDeniesNamingTheRule) {
  auto tx = env_.store->Begin();
  ASSERT_TRUE((*tx)
                  ->policies()
                  .Put({"acc_a",
                        "[request]\nallow_wildcards = false\nallowed_key_types = [\"p256\"]\n"
                        "[export]\nroles = [\"admin\"]\n",
                        1, "prn_admin", env_.clock.Now()})
                  .ok());
  ASSERT_TRUE((*tx)->Commit().ok());

  auto wildcard = certs_->Request(alice_, Req("wild"));  // Req() asks for *.example.test
  ASSERT_FALSE(wildcard.ok());
  EXPECT_EQ(wildcard.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(wildcard.error().message().find("(rule wildcard.denied)"), std::string::npos);

  CertificateRequest rsa = Req("rsa");
  rsa.domains = {"app.example.test"};
  rsa.key_type = "rsa2048";
  auto denied_key = certs_->Request(alice_, rsa);
  ASSERT_FALSE(denied_key.ok());
  EXPECT_NE(denied_key.error().message().find("key_type.not_allowed"), std::string::npos);
  EXPECT_EQ(certs_->List(alice_, {})->items.size(), 0u);  // nothing written for a denied request

  CertificateRequest ok = Req("fine");
  ok.domains = {"app.example.test"};
  auto view = certs_->Request(alice_, ok);
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  // alice_ is an operator; the policy lets only admins export.
  auto exported = exports_->Export(alice_, view->certificate.id, SecretBytes::FromView("abcd1234"));
  ASSERT_FALSE(exported.ok());
  EXPECT_NE(exported.error().message().find("export.role_denied"), std::string::npos);
  Caller admin = alice_;
  admin.role = model::Role::kAdmin;
  EXPECT_TRUE(
      exports_->Export(admin, view->certificate.id, SecretBytes::FromView("abcd1234")).ok());
  // Bob's account has no policy: the same wildcard request is fine there.
  EXPECT_TRUE(certs_->Request(bob_, Req("wild")).ok());
}

}  // namespace
}  // namespace certfleet::lifecycle
