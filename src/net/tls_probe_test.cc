// ProbeTls (tls_probe.h) against real TLS listeners on loopback (test_tls.h's TlsAlpnServer), a
// listener that never answers, a refused port and a plain-HTTP server; and HttpsClient without
// server verification (ClientOptions::verify_server_certificate). Every listener binds port 0.
#include "net/tls_probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/https_client.h"
#include "net/https_server.h"
#include "net/test_tls.h"

namespace certfleet::net {
namespace {

using namespace std::chrono_literals;
using testing::MakeCa;
using testing::MakeLeaf;
using testing::TestCert;
using testing::TlsAlpnServer;

constexpr char kAcmeTls1[] = "acme-tls/1";

class TlsProbeTest : public ::testing::Test {
 protected:
  TlsProbeTest()
      : ca_(MakeCa("probe test CA")),
        cert_(MakeLeaf(ca_, "app", "DNS:app.example.test", /*server=*/true)) {}

  static TlsProbeRequest Request(uint16_t port, std::string host = "127.0.0.1") {
    TlsProbeRequest r;
    r.host = std::move(host);
    r.port = port;
    r.server_name = "app.example.test";
    r.alpn = {kAcmeTls1};
    r.timeout = 5s;
    return r;
  }

  TestCert ca_;
  TestCert cert_;
};

TEST_F(TlsProbeTest, NegotiatesAlpnAndReturnsThePeerCertificate) {
  TlsAlpnServer server(cert_.cert_pem, cert_.key_pem, kAcmeTls1);
  TlsProbeRequest request = Request(server.port(), "localhost");
  request.alpn = {"h2", kAcmeTls1};
  Result<TlsProbeResult> r = ProbeTls(request);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->alpn, kAcmeTls1);
  EXPECT_EQ(r->peer_certificate_der, cert_.Der());  // no verification: an untrusted CA is fine
  EXPECT_EQ(server.last_server_name(), "app.example.test");
  EXPECT_EQ(server.last_offered_alpn(), (std::vector<std::string>{"h2", kAcmeTls1}));

  // Without SNI and ALPN.
  request.server_name.clear();
  request.alpn.clear();
  r = ProbeTls(request);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->alpn, "");
  EXPECT_EQ(server.last_server_name(), "");
  EXPECT_TRUE(server.last_offered_alpn().empty());
}

TEST_F(TlsProbeTest, ServerWithoutAlpnSelectsNothing) {
  TlsAlpnServer server(cert_.cert_pem, cert_.key_pem, "");
  Result<TlsProbeResult> r = ProbeTls(Request(server.port()));
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->alpn, "");
  EXPECT_EQ(r->peer_certificate_der, cert_.Der());
}

TEST_F(TlsProbeTest, AlpnRefusalFailsTheHandshake) {
  TlsAlpnServer server(cert_.cert_pem, cert_.key_pem, "h2");  // does not speak acme-tls/1
  Result<TlsProbeResult> r = ProbeTls(Request(server.port()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kFailedPrecondition) << r.error().ToString();
  EXPECT_NE(r.error().message().find("TLS handshake with 127.0.0.1:"), std::string::npos)
      << r.error().message();
}

TEST_F(TlsProbeTest, PeerThatDoesNotSpeakTlsFailsTheHandshake) {
  // A plain-HTTP peer: answers whatever arrives with an HTTP error and closes.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::thread peer([fd] {
    int conn = accept(fd, nullptr, nullptr);
    if (conn < 0) return;
    char buf[512];
    (void)!read(conn, buf, sizeof buf);
    const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    (void)!write(conn, answer, sizeof answer - 1);
    close(conn);
  });
  Result<TlsProbeResult> r = ProbeTls(Request(ntohs(addr.sin_port)));
  peer.join();
  close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kFailedPrecondition) << r.error().ToString();
}

TEST_F(TlsProbeTest, AddressFilterRefusesBeforeConnectingWithoutNamingTheAddress) {
  TlsAlpnServer server(cert_.cert_pem, cert_.key_pem, kAcmeTls1);
  std::vector<std::string> seen;
  TlsProbeRequest request = Request(server.port(), "localhost");
  request.address_allowed = [&seen](std::string_view ip) {
    seen.emplace_back(ip);
    return false;
  };
  Result<TlsProbeResult> r = ProbeTls(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(r.error().message().find("localhost"), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().ToString().find("127.0.0.1"), std::string::npos) << r.error().ToString();
  EXPECT_EQ(seen, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(server.connections(), 0);

  request.address_allowed = [](std::string_view ip) { return ip == "127.0.0.1"; };
  EXPECT_TRUE(ProbeTls(request).ok());
  EXPECT_EQ(server.connections(), 1);
}

TEST_F(TlsProbeTest, SilentListenerTimesOutWithinDeadline) {
  testing::SilentListener silent;
  TlsProbeRequest request = Request(silent.port());
  request.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  Result<TlsProbeResult> r = ProbeTls(request);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(r.error().retryable());
  EXPECT_NE(r.error().message().find("timed out after 300 ms in the TLS handshake"),
            std::string::npos)
      << r.error().message();
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 3s);
}

TEST_F(TlsProbeTest, RefusedConnectionIsUnavailable) {
  Result<TlsProbeResult> r = ProbeTls(Request(testing::UnusedPort()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message().find("connecting to 127.0.0.1:"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(r.error().message().find("timed out"), std::string::npos);
}

TEST_F(TlsProbeTest, UnresolvableNamesCarryANotFoundCause) {
  // An empty label: the system resolver refuses the name without asking any server.
  Result<TlsProbeResult> r = ProbeTls(Request(443, "no..such.invalid"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable) << r.error().ToString();
  ASSERT_NE(r.error().cause(), nullptr) << r.error().ToString();
  EXPECT_EQ(r.error().cause()->code(), ErrorCode::kNotFound);
  // Connection failures do not.
  r = ProbeTls(Request(testing::UnusedPort()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().cause(), nullptr);

  ClientOptions options;
  options.allow_plain_http = true;
  auto client = HttpsClient::Create(std::move(options));
  ASSERT_TRUE(client.ok());
  auto res = (*client)->Do("GET", "http://no..such.invalid/", {}, "");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kUnavailable) << res.error().ToString();
  ASSERT_NE(res.error().cause(), nullptr) << res.error().ToString();
  EXPECT_EQ(res.error().cause()->code(), ErrorCode::kNotFound);
  res = (*client)->Do("GET", "http://127.0.0.1:" + std::to_string(testing::UnusedPort()) + "/", {},
                      "");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().cause(), nullptr);
}

TEST_F(TlsProbeTest, BadRequestsAreRefused) {
  TlsProbeRequest r = Request(443);
  r.host.clear();
  EXPECT_EQ(ProbeTls(r).error().code(), ErrorCode::kInvalidArgument);
  r = Request(0);
  EXPECT_EQ(ProbeTls(r).error().code(), ErrorCode::kInvalidArgument);
  r = Request(443);
  r.alpn = {""};
  EXPECT_EQ(ProbeTls(r).error().code(), ErrorCode::kInvalidArgument);
  r.alpn = {std::string(256, 'a')};
  EXPECT_EQ(ProbeTls(r).error().code(), ErrorCode::kInvalidArgument);
  r = Request(443);
  r.server_name = "bad name";
  EXPECT_EQ(ProbeTls(r).error().code(), ErrorCode::kInvalidArgument);
  r = Request(443);
  r.timeout = 0ms;
  EXPECT_EQ(ProbeTls(r).error().code(), ErrorCode::kInvalidArgument);
}

// --- HttpsClient without server verification -------------------------------------------------

TEST_F(TlsProbeTest, ClientWithoutVerificationAcceptsAnyCertificate) {
  // A certificate from a CA nobody trusts, for another name.
  ServerOptions options;
  options.port = 0;
  options.cert_chain_pem = cert_.cert_pem;
  options.key_pem = SecretBytes::FromView(cert_.key_pem);
  options.worker_threads = 1;
  auto server = HttpsServer::Create(std::move(options), [](const HttpRequest&) {
    HttpResponse r;
    r.body = "hello";
    return r;
  });
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  ASSERT_TRUE((*server)->Start().ok());
  const std::string url = "https://localhost:" + std::to_string((*server)->port()) + "/";

  auto options_with = [](bool verify) {
    ClientOptions o;
    o.timeout = 5s;
    o.verify_server_certificate = verify;
    return o;
  };
  auto strict = HttpsClient::Create(options_with(true));
  ASSERT_TRUE(strict.ok());
  auto refused = (*strict)->Do("GET", url, {}, "");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden) << refused.error().ToString();

  auto client = HttpsClient::Create(options_with(false));
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  auto ok = (*client)->Do("GET", url, {}, "");
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(ok->body, "hello");
  ok = (*client)->Do("GET", "https://127.0.0.1:" + std::to_string((*server)->port()) + "/", {}, "");
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();

  // Nothing to verify against, nothing secret to present.
  ClientOptions contradictory = options_with(false);
  contradictory.trust_pem = ca_.cert_pem;
  EXPECT_EQ(HttpsClient::Create(std::move(contradictory)).error().code(),
            ErrorCode::kInvalidArgument);
  contradictory = options_with(false);
  contradictory.client_cert_pem = cert_.cert_pem;
  contradictory.client_key_pem = SecretBytes::FromView(cert_.key_pem);
  EXPECT_EQ(HttpsClient::Create(std::move(contradictory)).error().code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace certfleet::net
