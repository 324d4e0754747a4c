// The Client against a real Pebble (Let's Encrypt's test CA), started by the test itself
// (pebble.h). Challenges validate without DNS (PEBBLE_VA_ALWAYS_VALID=1): these tests cover the
// protocol; validation through a real DNS server comes with the solvers. Pebble's default 5%
// nonce rejection stays on, so every test also exercises the badNonce retry. A missing pebble
// binary fails these tests (CI installs it); it never skips them.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "acme/client/client.h"
#include "acme/client/pebble.h"
#include "base/encoding.h"
#include "x509/csr.h"

namespace certfleet::acme {
namespace {

using std::chrono::milliseconds;

class PebbleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto pebble = testing::Pebble::Start({{"PEBBLE_VA_ALWAYS_VALID", "1"},
                                          {"PEBBLE_VA_NOSLEEP", "1"},
                                          {"PEBBLE_ALTERNATE_ROOTS", "1"}});
    if (pebble.ok()) {
      pebble_ = std::move(pebble).value().release();
    } else {
      start_error_ = new std::string(pebble.error().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete pebble_;
    pebble_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(pebble_, nullptr) << "Pebble could not be started: "
                                << (start_error_ ? *start_error_ : "");
  }

  static std::shared_ptr<const crypto::PrivateKey> NewKey(
      crypto::KeyType type = crypto::KeyType::kP256) {
    return std::make_shared<const crypto::PrivateKey>(
        std::move(crypto::PrivateKey::Generate(type)).value());
  }

  std::unique_ptr<Client> Connect(std::shared_ptr<const crypto::PrivateKey> key) {
    ClientOptions opts;
    opts.directory_url = pebble_->directory_url();
    opts.trust_pem = pebble_->listener_ca_pem();
    opts.request_timeout = milliseconds(10000);
    opts.poll_min_interval = milliseconds(20);
    opts.poll_max_interval = milliseconds(500);
    opts.poll_timeout = std::chrono::seconds(30);
    auto client = Client::Create(
        std::move(opts), clock_, [](milliseconds d) { std::this_thread::sleep_for(d); }, key);
    EXPECT_TRUE(client.ok()) << client.error().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  std::unique_ptr<Client> ConnectWithAccount(crypto::KeyType type = crypto::KeyType::kP256) {
    auto client = Connect(NewKey(type));
    if (!client) return nullptr;
    auto account = client->NewAccount(
        {.contact = {"mailto:acme@example.test"}, .terms_of_service_agreed = true});
    EXPECT_TRUE(account.ok()) << account.error().ToString();
    return account.ok() ? std::move(client) : nullptr;
  }

  struct Issued {
    std::shared_ptr<const crypto::PrivateKey> key;
    CertificateChain chain;
  };

  // newOrder -> authorizations -> dns-01 -> finalize -> download.
  static Result<Issued> Issue(Client& client, const std::vector<std::string>& names) {
    NewOrderRequest request;
    for (const auto& n : names) request.identifiers.push_back({"dns", n});
    CF_ASSIGN_OR_RETURN(Order order, client.NewOrder(request));
    for (const auto& url : order.authorizations) {
      CF_ASSIGN_OR_RETURN(Authorization authz, client.GetAuthorization(url));
      if (authz.status == "valid") continue;  // Pebble reuses authorizations
      const Challenge* challenge = authz.Find("dns-01");
      if (challenge == nullptr) return Internal("no dns-01 challenge offered");
      CF_ASSIGN_OR_RETURN(std::string txt, client.Dns01TxtValue(challenge->token));
      if (txt.size() != 43) return Internal("bad dns-01 value");
      CF_TRY(client.RespondToChallenge(*challenge));
      CF_TRY(client.WaitAuthorization(url));
    }
    CF_ASSIGN_OR_RETURN(order, client.WaitOrder(order.url));
    auto key = NewKey();
    CF_ASSIGN_OR_RETURN(x509::Csr csr, x509::Csr::Build(*key, "", names));
    CF_ASSIGN_OR_RETURN(order, client.Finalize(order, csr.der()));
    CF_ASSIGN_OR_RETURN(order, client.WaitOrder(order.url));
    if (order.status != "valid" || order.certificate.empty()) {
      return Internal("order not valid after finalize: " + order.status);
    }
    CF_ASSIGN_OR_RETURN(CertificateChain chain, client.DownloadCertificate(order.certificate));
    return Issued{key, std::move(chain)};
  }

  static void ExpectVerifies(const CertificateChain& chain, int root_index,
                             std::vector<std::string> names) {
    ASSERT_GE(chain.certificates.size(), 2u);
    const x509::Certificate& leaf = chain.certificates.front();
    std::vector<std::string> sans = leaf.dns_names();
    std::sort(sans.begin(), sans.end());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(sans, names);
    auto root_pem = pebble_->RootPem(root_index);
    ASSERT_TRUE(root_pem.ok()) << root_pem.error().ToString();
    auto root = x509::Certificate::FromPem(*root_pem);
    ASSERT_TRUE(root.ok()) << root.error().ToString();
    std::vector<x509::Certificate> intermediates(chain.certificates.begin() + 1,
                                                 chain.certificates.end());
    Status verified = x509::VerifyChain(
        leaf, intermediates, {*root}, std::chrono::system_clock::now(), x509::Purpose::kServerAuth);
    EXPECT_TRUE(verified.ok()) << verified.error().ToString();
  }

  static testing::Pebble* pebble_;
  static std::string* start_error_;
  SystemClock clock_;
};

testing::Pebble* PebbleTest::pebble_ = nullptr;
std::string* PebbleTest::start_error_ = nullptr;

TEST_F(PebbleTest, AccountCreateThenOnlyReturnExistingFindsIt) {
  auto key = NewKey();
  auto client = Connect(key);
  ASSERT_NE(client, nullptr);
  auto created = client->NewAccount({.terms_of_service_agreed = true});
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_EQ(created->status, "valid");

  auto again = Connect(key);
  ASSERT_NE(again, nullptr);
  auto found = again->FindAccount();
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_EQ(found->url, created->url);

  auto stranger = Connect(NewKey());
  ASSERT_NE(stranger, nullptr);
  auto none = stranger->FindAccount();
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("the CA refused: accountDoesNotExist"), std::string::npos)
      << none.error().ToString();
}

TEST_F(PebbleTest, RsaAccountKeyWorks) {
  auto client = ConnectWithAccount(crypto::KeyType::kRsa2048);
  ASSERT_NE(client, nullptr);
  auto issued = Issue(*client, {"rsa.example.test"});
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();
}

TEST_F(PebbleTest, OrderForOneName) {
  auto client = ConnectWithAccount();
  ASSERT_NE(client, nullptr);
  auto issued = Issue(*client, {"app.example.test"});
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();
  ExpectVerifies(issued->chain, 0, {"app.example.test"});
  EXPECT_TRUE(issued->chain.certificates.front().MatchesKey(*issued->key));
}

TEST_F(PebbleTest, OrderForWildcardAndApex) {
  auto client = ConnectWithAccount();
  ASSERT_NE(client, nullptr);
  auto issued = Issue(*client, {"*.example.test", "example.test"});
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();
  ExpectVerifies(issued->chain, 0, {"*.example.test", "example.test"});
}

TEST_F(PebbleTest, TwentyConsecutiveOrdersSurviveNonceRejection) {
  auto client = ConnectWithAccount();
  ASSERT_NE(client, nullptr);
  for (int i = 0; i < 20; ++i) {
    std::string name = "n" + std::to_string(i) + ".example.test";
    auto issued = Issue(*client, {name});
    ASSERT_TRUE(issued.ok()) << "order " << i << ": " << issued.error().ToString();
  }
}

TEST_F(PebbleTest, KeyRolloverThenNewKeyWorksAndOldDoesNot) {
  auto old_key = NewKey();
  auto client = Connect(old_key);
  ASSERT_NE(client, nullptr);
  auto account = client->NewAccount({.terms_of_service_agreed = true});
  ASSERT_TRUE(account.ok()) << account.error().ToString();
  Status changed = client->ChangeKey(NewKey());
  ASSERT_TRUE(changed.ok()) << changed.error().ToString();
  auto issued = Issue(*client, {"rolled.example.test"});
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();

  auto old_client = Connect(old_key);
  ASSERT_NE(old_client, nullptr);
  old_client->set_account_url(account->url);
  auto refused = old_client->NewOrder({.identifiers = {{"dns", "old.example.test"}}});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("the CA refused"), std::string::npos)
      << refused.error().ToString();
  EXPECT_FALSE(old_client->FindAccount().ok());
}

TEST_F(PebbleTest, DeactivatedAccountIsRefused) {
  auto client = ConnectWithAccount();
  ASSERT_NE(client, nullptr);
  auto deactivated = client->DeactivateAccount();
  ASSERT_TRUE(deactivated.ok()) << deactivated.error().ToString();
  EXPECT_EQ(deactivated->status, "deactivated");
  auto refused = client->NewOrder({.identifiers = {{"dns", "gone.example.test"}}});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("the CA refused: unauthorized"), std::string::npos)
      << refused.error().ToString();
}

TEST_F(PebbleTest, RevocationThenSecondRevokeIsAlreadyRevoked) {
  auto client = ConnectWithAccount();
  ASSERT_NE(client, nullptr);
  auto issued = Issue(*client, {"revoked.example.test"});
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();
  const std::string& der = issued->chain.certificates.front().der();
  Status revoked = client->RevokeCertificate(der, 4 /* superseded */);
  ASSERT_TRUE(revoked.ok()) << revoked.error().ToString();
  Status again = client->RevokeCertificate(der);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kConflict);
  EXPECT_NE(again.error().message().find("the CA refused: alreadyRevoked"), std::string::npos)
      << again.error().ToString();

  // Revocation signed by the certificate's own key (RFC 8555 section 7.6).
  auto other = Issue(*client, {"keyrevoked.example.test"});
  ASSERT_TRUE(other.ok()) << other.error().ToString();
  Status by_key = client->RevokeCertificate(other->chain.certificates.front().der(), std::nullopt,
                                            other->key.get());
  EXPECT_TRUE(by_key.ok()) << by_key.error().ToString();
}

TEST_F(PebbleTest, AlternateChainsAreListedAndVerify) {
  auto client = ConnectWithAccount();
  ASSERT_NE(client, nullptr);
  auto issued = Issue(*client, {"alt.example.test"});
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();
  ASSERT_EQ(issued->chain.alternates.size(), 1u);
  auto alt = client->DownloadCertificate(issued->chain.alternates.front());
  ASSERT_TRUE(alt.ok()) << alt.error().ToString();
  EXPECT_EQ(alt->certificates.front().der(), issued->chain.certificates.front().der());
  ExpectVerifies(*alt, 1, {"alt.example.test"});
}

TEST_F(PebbleTest, RenewalInfoWhenOffered) {
  auto client = ConnectWithAccount();
  ASSERT_NE(client, nullptr);
  auto issued = Issue(*client, {"ari.example.test"});
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();
  const x509::Certificate& leaf = issued->chain.certificates.front();
  auto id = CertId(leaf);
  ASSERT_TRUE(id.ok()) << id.error().ToString();
  EXPECT_NE(id->find('.'), std::string::npos);
  auto info = client->GetRenewalInfo(leaf);
  if (client->directory().renewal_info.empty()) {
    // Pebble before 2.5 has no ARI: the CertID itself is checked against RFC 9773's example in
    // ari_test.cc.
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error().code(), ErrorCode::kFailedPrecondition);
  } else {
    ASSERT_TRUE(info.ok()) << info.error().ToString();
    EXPECT_LT(info->window_start, info->window_end);
  }
}

// External account binding against a Pebble that requires it (RFC 8555 section 7.3.4).
TEST(PebbleEabTest, AccountNeedsTheRightBinding) {
  // Pebble's documented example key for kid-1 (base64url of the HMAC key).
  const std::string mac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
  auto pebble = testing::Pebble::Start(
      {{"PEBBLE_VA_ALWAYS_VALID", "1"}, {"PEBBLE_VA_NOSLEEP", "1"}}, {{"kid-1", mac}});
  ASSERT_TRUE(pebble.ok()) << "Pebble could not be started: " << pebble.error().ToString();
  SystemClock clock;
  auto connect = [&]() {
    ClientOptions opts;
    opts.directory_url = (*pebble)->directory_url();
    opts.trust_pem = (*pebble)->listener_ca_pem();
    auto key = std::make_shared<const crypto::PrivateKey>(
        std::move(crypto::PrivateKey::Generate(crypto::KeyType::kP256)).value());
    auto client = Client::Create(
        std::move(opts), clock, [](milliseconds) {}, key);
    EXPECT_TRUE(client.ok()) << client.error().ToString();
    return std::move(client).value();
  };

  auto client = connect();
  EXPECT_TRUE(client->directory().external_account_required);
  auto missing = client->NewAccount({.terms_of_service_agreed = true});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kFailedPrecondition);

  NewAccountRequest wrong{.terms_of_service_agreed = true, .eab_kid = "kid-1"};
  wrong.eab_hmac_key = SecretBytes::FromView("not the key at all, 32 bytes ok!");
  auto refused = client->NewAccount(wrong);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("the CA refused"), std::string::npos)
      << refused.error().ToString();

  auto raw = Base64UrlDecode(mac);
  ASSERT_TRUE(raw.ok());
  NewAccountRequest right{.terms_of_service_agreed = true, .eab_kid = "kid-1"};
  right.eab_hmac_key = SecretBytes::FromString(std::move(raw).value());
  auto account = connect()->NewAccount(right);
  ASSERT_TRUE(account.ok()) << account.error().ToString();
  EXPECT_EQ(account->status, "valid");
}

}  // namespace
}  // namespace certfleet::acme
