// A hostile ACME server (in-process net::HttpsServer with throwaway TLS) against the Client:
// every trick must end in a clear Error, quickly, without a crash or a hang.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

#include "acme/client/client.h"
#include "base/time_util.h"
#include "net/https_server.h"
#include "net/test_tls.h"

namespace certfleet::acme {
namespace {

using std::chrono::milliseconds;

enum class Trick {
  kNone,
  kOversizeDirectory,
  kInvalidJsonDirectory,
  kInvalidJsonOrder,
  kHttpUrlInDirectory,
  kTraversalToken,
  kPrivateKeyInChain,
  kOversizeChain,
  kEndlessRetryAfter,
  kBadNonceTwice,
  kBadNonceAlways,
  kProblemOnNewOrder,
};

class HostileCa {
 public:
  explicit HostileCa(Trick trick) : trick_(trick) {
    ca_ = net::testing::MakeCa("hostile ACME test CA");
    auto leaf = net::testing::MakeLeaf(ca_, "localhost", "IP:127.0.0.1,DNS:localhost", true);
    issued_ = net::testing::MakeLeaf(ca_, "app.example.test", "DNS:app.example.test", true);
    net::ServerOptions opts;
    opts.port = 0;
    opts.cert_chain_pem = leaf.cert_pem;
    opts.key_pem = SecretBytes::FromView(leaf.key_pem);
    auto server = net::HttpsServer::Create(std::move(opts),
                                           [this](const net::HttpRequest& r) { return Handle(r); });
    EXPECT_TRUE(server.ok()) << server.error().ToString();
    server_ = std::move(server).value();
    base_ = "https://127.0.0.1:" + std::to_string(server_->port());
    EXPECT_TRUE(server_->Start().ok());
  }

  ~HostileCa() {
    if (server_) server_->Stop();  // before the members the handler uses go away
  }

  std::string directory_url() const { return base_ + "/dir"; }
  std::string url(const std::string& path) const { return base_ + path; }
  const std::string& trust_pem() const { return ca_.cert_pem; }
  int requests(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_[path];
  }

 private:
  net::HttpResponse Json(int status, std::string body) {
    net::HttpResponse r;
    r.status = status;
    r.headers["Content-Type"] = "application/json";
    r.headers["Replay-Nonce"] = "nonce" + std::to_string(++nonce_);
    r.body = std::move(body);
    return r;
  }

  net::HttpResponse Problem(int status, const std::string& type, const std::string& detail) {
    auto r = Json(status, R"({"type":"urn:ietf:params:acme:error:)" + type + R"(","detail":")" +
                              detail + R"("})");
    r.headers["Content-Type"] = "application/problem+json";
    return r;
  }

  std::string OrderJson(const std::string& status) {
    return R"({"status":")" + status +
           R"(","identifiers":[{"type":"dns","value":"app.example.test"}],"authorizations":[")" +
           base_ + R"(/authz/1"],"finalize":")" + base_ + R"(/finalize/1"})";
  }

  net::HttpResponse Handle(const net::HttpRequest& req) {
    std::string path(req.path());
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_[path];
    }
    if (path == "/dir") {
      if (trick_ == Trick::kOversizeDirectory) {
        return Json(200, R"({"newNonce":")" + std::string(200 << 10, 'a') + R"("})");
      }
      if (trick_ == Trick::kInvalidJsonDirectory) return Json(200, R"({"newNonce": "https://)");
      std::string order_base = trick_ == Trick::kHttpUrlInDirectory ? "http://127.0.0.1:1" : base_;
      return Json(200, R"({"newNonce":")" + base_ + R"(/nonce","newAccount":")" + base_ +
                           R"(/acct","newOrder":")" + order_base + R"(/order","revokeCert":")" +
                           base_ + R"(/revoke"})");
    }
    if (path == "/nonce") return Json(200, "");
    if (trick_ == Trick::kBadNonceAlways ||
        (trick_ == Trick::kBadNonceTwice && path == "/acct" && requests("/acct") <= 2)) {
      return Problem(400, "badNonce", "JWS has an invalid anti-replay nonce");
    }
    if (path == "/acct") {
      auto r = Json(201, R"({"status":"valid"})");
      r.headers["Location"] = base_ + "/acct/1";
      return r;
    }
    if (path == "/order") {
      if (trick_ == Trick::kProblemOnNewOrder) {
        return Problem(400, "rejectedIdentifier", "Error creating new order :: no thanks");
      }
      auto r =
          Json(201, trick_ == Trick::kInvalidJsonOrder ? "{\"status\": [" : OrderJson("pending"));
      r.headers["Location"] = base_ + "/order/1";
      return r;
    }
    if (path == "/order/1") {
      auto r = Json(200, OrderJson("processing"));
      if (trick_ == Trick::kEndlessRetryAfter) r.headers["Retry-After"] = "1000000000";
      return r;
    }
    if (path == "/authz/1") {
      std::string token =
          trick_ == Trick::kTraversalToken ? "../../../../etc/passwd" : "DGyRejmCefe7v4NfDGDKfA";
      return Json(200,
                  R"({"status":"pending","identifier":{"type":"dns","value":"app.example.test"},)"
                  R"("challenges":[{"type":"http-01","status":"pending","url":")" +
                      base_ + R"(/chal/1","token":")" + token + R"("}]})");
    }
    if (path == "/cert/1") {
      auto r = Json(200, issued_.cert_pem + ca_.cert_pem +
                             (trick_ == Trick::kPrivateKeyInChain ? issued_.key_pem : ""));
      if (trick_ == Trick::kOversizeChain) r.body.append(2 << 20, '\n');
      r.headers["Content-Type"] = "application/pem-certificate-chain";
      return r;
    }
    return Problem(404, "malformed", "no such resource");
  }

  Trick trick_;
  net::testing::TestCert ca_;
  net::testing::TestCert issued_;
  std::unique_ptr<net::HttpsServer> server_;
  std::string base_;
  std::atomic<int> nonce_{0};
  std::mutex mu_;
  std::map<std::string, int> counts_;
};

class HostileTest : public ::testing::Test {
 protected:
  HostileTest() : clock_(*ParseRfc3339("2026-11-27T00:00:00Z")) {
    key_ = std::make_shared<const crypto::PrivateKey>(
        std::move(crypto::PrivateKey::Generate(crypto::KeyType::kP256)).value());
  }

  Result<std::unique_ptr<Client>> Connect(const HostileCa& ca) {
    ClientOptions opts;
    opts.directory_url = ca.directory_url();
    opts.trust_pem = ca.trust_pem();
    opts.request_timeout = milliseconds(5000);
    opts.poll_min_interval = milliseconds(500);
    opts.poll_max_interval = milliseconds(30000);
    opts.poll_timeout = std::chrono::seconds(300);
    // The sleeper moves the fake clock: no test sleeps, yet the deadline logic runs for real.
    return Client::Create(
        std::move(opts), clock_,
        [this](milliseconds d) {
          sleeps_.push_back(d);
          clock_.Advance(d);
        },
        key_);
  }

  std::unique_ptr<Client> ConnectWithAccount(const HostileCa& ca) {
    auto client = Connect(ca);
    EXPECT_TRUE(client.ok()) << client.error().ToString();
    if (!client.ok()) return nullptr;
    auto account = (*client)->NewAccount({.terms_of_service_agreed = true});
    EXPECT_TRUE(account.ok()) << account.error().ToString();
    return std::move(client).value();
  }

  FakeClock clock_;
  std::vector<milliseconds> sleeps_;
  std::shared_ptr<const crypto::PrivateKey> key_;
};

TEST_F(HostileTest, OversizeBodyIsRefused) {
  HostileCa ca(Trick::kOversizeDirectory);
  auto client = Connect(ca);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code(), ErrorCode::kTooLarge);
  EXPECT_NE(client.error().message().find("exceeds 65536 bytes"), std::string::npos)
      << client.error().ToString();
}

TEST_F(HostileTest, InvalidJsonIsRefused) {
  HostileCa ca(Trick::kInvalidJsonDirectory);
  auto client = Connect(ca);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(client.error().message(), "the CA's directory is not valid JSON");

  HostileCa ca2(Trick::kInvalidJsonOrder);
  auto c2 = ConnectWithAccount(ca2);
  ASSERT_NE(c2, nullptr);
  auto order = c2->NewOrder({.identifiers = {{"dns", "app.example.test"}}});
  ASSERT_FALSE(order.ok());
  EXPECT_EQ(order.error().code(), ErrorCode::kMalformed);
}

TEST_F(HostileTest, HttpUrlInDirectoryIsRefused) {
  HostileCa ca(Trick::kHttpUrlInDirectory);
  auto client = Connect(ca);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(client.error().message().find("non-https URL for directory newOrder"),
            std::string::npos)
      << client.error().ToString();
}

TEST_F(HostileTest, TraversalTokenIsRefusedBeforeUse) {
  HostileCa ca(Trick::kTraversalToken);
  auto client = ConnectWithAccount(ca);
  ASSERT_NE(client, nullptr);
  auto order = client->NewOrder({.identifiers = {{"dns", "app.example.test"}}});
  ASSERT_TRUE(order.ok()) << order.error().ToString();
  auto authz = client->GetAuthorization(order->authorizations.at(0));
  ASSERT_FALSE(authz.ok());
  EXPECT_EQ(authz.error().code(), ErrorCode::kMalformed);
  EXPECT_NE(authz.error().message().find("token that is not 1 to 256 base64url"), std::string::npos)
      << authz.error().ToString();
  EXPECT_EQ(ca.requests("/chal/1"), 0);
}

TEST_F(HostileTest, ChainWithPrivateKeyIsRefused) {
  HostileCa clean(Trick::kNone);
  auto ok_client = ConnectWithAccount(clean);
  ASSERT_NE(ok_client, nullptr);
  auto chain = ok_client->DownloadCertificate(clean.url("/cert/1"));
  ASSERT_TRUE(chain.ok()) << chain.error().ToString();
  EXPECT_EQ(chain->certificates.size(), 2u);

  HostileCa ca(Trick::kPrivateKeyInChain);
  auto client = ConnectWithAccount(ca);
  ASSERT_NE(client, nullptr);
  auto bad = client->DownloadCertificate(ca.url("/cert/1"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kMalformed);
  EXPECT_NE(bad.error().message().find("PRIVATE KEY"), std::string::npos) << bad.error().ToString();
  EXPECT_EQ(bad.error().message().find("BEGIN"), std::string::npos);  // no key material echoed
}

TEST_F(HostileTest, OversizeChainIsRefused) {
  HostileCa ca(Trick::kOversizeChain);
  auto client = ConnectWithAccount(ca);
  ASSERT_NE(client, nullptr);
  auto chain = client->DownloadCertificate(ca.url("/cert/1"));
  ASSERT_FALSE(chain.ok());
  EXPECT_EQ(chain.error().code(), ErrorCode::kTooLarge);
  EXPECT_NE(chain.error().message().find("exceeds 1048576 bytes"), std::string::npos)
      << chain.error().ToString();
}

TEST_F(HostileTest, EndlessRetryAfterIsCappedAndBounded) {
  HostileCa ca(Trick::kEndlessRetryAfter);
  auto client = ConnectWithAccount(ca);
  ASSERT_NE(client, nullptr);
  auto start = std::chrono::steady_clock::now();
  auto order = client->WaitOrder(ca.url("/order/1"));
  ASSERT_FALSE(order.ok());
  EXPECT_EQ(order.error().code(), ErrorCode::kTimeout);
  EXPECT_NE(order.error().message().find("still processing"), std::string::npos)
      << order.error().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  ASSERT_FALSE(sleeps_.empty());
  for (auto d : sleeps_) EXPECT_EQ(d, milliseconds(30000));  // capped at poll_max_interval
  EXPECT_LE(sleeps_.size(), 10u);                            // 300 s deadline / 30 s
}

TEST_F(HostileTest, BadNonceIsRetried) {
  HostileCa ca(Trick::kBadNonceTwice);
  auto client = ConnectWithAccount(ca);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(ca.requests("/acct"), 3);
}

TEST_F(HostileTest, BadNonceRetriesAreBounded) {
  HostileCa ca(Trick::kBadNonceAlways);
  auto client = Connect(ca);
  ASSERT_TRUE(client.ok());
  auto account = (*client)->NewAccount({.terms_of_service_agreed = true});
  ASSERT_FALSE(account.ok());
  EXPECT_NE(account.error().message().find("the CA refused: badNonce"), std::string::npos);
  EXPECT_EQ(ca.requests("/acct"), 4);  // one try and three retries
}

TEST_F(HostileTest, ProblemDocumentsAreSurfaced) {
  HostileCa ca(Trick::kProblemOnNewOrder);
  auto client = ConnectWithAccount(ca);
  ASSERT_NE(client, nullptr);
  auto order = client->NewOrder({.identifiers = {{"dns", "app.example.test"}}});
  ASSERT_FALSE(order.ok());
  EXPECT_EQ(order.error().message(),
            "the CA refused: rejectedIdentifier: Error creating new order :: no thanks (newOrder)");
  EXPECT_EQ(order.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace certfleet::acme
