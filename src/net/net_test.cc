// HttpsServer and HttpsClient against each other on loopback, with throwaway certificates.
// Every server binds port 0; nothing depends on timing except explicit deadlines, which are
// asserted with generous margins.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "net/address_policy.h"
#include "net/http.h"
#include "net/https_client.h"
#include "net/https_server.h"
#include "net/test_tls.h"

namespace certfleet::net {
namespace {

using namespace std::chrono_literals;
using testing::MakeCa;
using testing::MakeLeaf;
using testing::RawTlsClient;
using testing::TestCert;

constexpr char kLocalSan[] = "IP:127.0.0.1,DNS:localhost";

HttpResponse Text(std::string body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.headers["Content-Type"] = "text/plain";
  r.body = std::move(body);
  return r;
}

// Echoes what the server saw, so tests can check parsing end to end.
HttpResponse Echo(const HttpRequest& req) {
  HttpResponse r = Text(req.method + " " + req.target + " " + req.body);
  if (auto h = req.header("x-test")) r.headers["X-Echo"] = *h;
  r.headers["X-Remote"] = req.remote_address;
  return r;
}

class NetTest : public ::testing::Test {
 protected:
  NetTest()
      : ca_(MakeCa("certfleet test CA")),
        server_cert_(MakeLeaf(ca_, "server", kLocalSan, /*server=*/true)) {}

  std::unique_ptr<HttpsServer> StartServer(Handler handler,
                                           const std::function<void(ServerOptions&)>& tweak = {},
                                           const TestCert* cert = nullptr) {
    if (cert == nullptr) cert = &server_cert_;
    ServerOptions options;
    options.port = 0;
    options.cert_chain_pem = cert->cert_pem;
    options.key_pem = SecretBytes::FromView(cert->key_pem);
    options.io_threads = 1;
    options.worker_threads = 4;
    if (tweak) tweak(options);
    auto server = HttpsServer::Create(std::move(options), std::move(handler));
    if (!server.ok()) {
      ADD_FAILURE() << server.error().ToString();
      return nullptr;
    }
    auto started = (*server)->Start();
    EXPECT_TRUE(started.ok());
    EXPECT_NE((*server)->port(), 0);
    return std::move(server).value();
  }

  std::unique_ptr<HttpsClient> MakeClient(const std::function<void(ClientOptions&)>& tweak = {}) {
    ClientOptions options;
    options.trust_pem = ca_.cert_pem;
    options.timeout = 10s;
    if (tweak) tweak(options);
    auto client = HttpsClient::Create(std::move(options));
    if (!client.ok()) {
      ADD_FAILURE() << client.error().ToString();
      return nullptr;
    }
    return std::move(client).value();
  }

  static std::string UrlFor(const HttpsServer& server, const std::string& target = "/") {
    return "https://127.0.0.1:" + std::to_string(server.port()) + target;
  }

  TestCert ca_;
  TestCert server_cert_;
};

TEST_F(NetTest, GetAndPostRoundTrip) {
  auto server = StartServer(Echo);
  auto client = MakeClient();

  auto get = client->Do("GET", UrlFor(*server, "/v1/x?a=b%20c"), {{"X-Test", "hello"}}, "");
  ASSERT_TRUE(get.ok()) << get.error().ToString();
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "GET /v1/x?a=b%20c ");
  EXPECT_EQ(get->headers["x-echo"], "hello");  // client lower-cases response field names
  EXPECT_EQ(get->headers["cache-control"], "no-store");
  EXPECT_EQ(get->headers["content-length"], std::to_string(get->body.size()));
  EXPECT_EQ(get->headers["content-type"], "text/plain");
  EXPECT_EQ(get->headers.count("server"), 0u);  // no product or version advertised
  EXPECT_EQ(get->headers["x-remote"].rfind("127.0.0.1:", 0), 0u);

  std::string body = R"({"name":"web"})";
  auto post = client->Do("POST", UrlFor(*server, "/v1/certificates"),
                         {{"Content-Type", "application/json"}}, body);
  ASSERT_TRUE(post.ok()) << post.error().ToString();
  EXPECT_EQ(post->body, "POST /v1/certificates " + body);

  // An empty POST still carries Content-Length: 0 and reaches the handler.
  auto empty = client->Do("POST", UrlFor(*server, "/e"), {}, "");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->body, "POST /e ");
}

TEST_F(NetTest, AddressFilterIsCheckedOnResolvedAddressesBeforeConnecting) {
  std::atomic<int> handled{0};
  auto server = StartServer([&handled](const HttpRequest& r) {
    ++handled;
    return Echo(r);
  });
  std::vector<std::string> seen;
  std::mutex mu;
  auto refusing = MakeClient([&](ClientOptions& o) {
    o.address_allowed = [&](std::string_view ip) {
      std::lock_guard lock(mu);
      seen.emplace_back(ip);
      return false;
    };
  });
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    auto r =
        refusing->Do("GET", "https://" + host + ":" + std::to_string(server->port()) + "/", {}, "");
    ASSERT_FALSE(r.ok()) << host;
    EXPECT_EQ(r.error().code(), ErrorCode::kForbidden) << r.error().ToString();
  }
  EXPECT_EQ(handled.load(), 0);  // never connected
  EXPECT_FALSE(seen.empty());
  EXPECT_EQ(seen[0], "127.0.0.1");

  auto allowing = MakeClient([](ClientOptions& o) {
    o.address_allowed = [](std::string_view ip) { return ip == "127.0.0.1"; };
  });
  auto ok = allowing->Do("GET", UrlFor(*server, "/"), {}, "");
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(ok->status, 200);
}

TEST_F(NetTest, HeadAnswersWithLengthButNoBody) {
  auto server = StartServer([](const HttpRequest&) { return Text("twelve bytes"); });
  auto client = MakeClient();
  auto head = client->Do("HEAD", UrlFor(*server), {}, "");
  ASSERT_TRUE(head.ok()) << head.error().ToString();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["content-length"], "12");
  EXPECT_EQ(head->body, "");
}

TEST_F(NetTest, ServerOwnsFramingAndDropsUnsafeHandlerHeaders) {
  auto server = StartServer([](const HttpRequest&) {
    HttpResponse r = Text("abc");
    r.headers["Content-Length"] = "999";
    r.headers["Cache-Control"] = "public, max-age=3600";
    r.headers["X-Injected"] = "a\r\nSet-Cookie: evil=1";
    r.headers["Bad Name"] = "x";
    r.headers["Location"] = "/v1/x";
    return r;
  });
  auto client = MakeClient();
  auto res = client->Do("GET", UrlFor(*server), {}, "");
  ASSERT_TRUE(res.ok()) << res.error().ToString();
  EXPECT_EQ(res->body, "abc");
  EXPECT_EQ(res->headers["content-length"], "3");
  EXPECT_EQ(res->headers["cache-control"], "no-store");
  EXPECT_EQ(res->headers.count("x-injected"), 0u);
  EXPECT_EQ(res->headers.count("set-cookie"), 0u);
  EXPECT_EQ(res->headers["location"], "/v1/x");

  auto no_content = StartServer([](const HttpRequest&) { return Text("ignored", 204); });
  res = client->Do("GET", UrlFor(*no_content), {}, "");
  ASSERT_TRUE(res.ok()) << res.error().ToString();
  EXPECT_EQ(res->status, 204);
  EXPECT_EQ(res->body, "");
  EXPECT_EQ(res->headers.count("content-length"), 0u);
}

TEST_F(NetTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  std::mutex mu;
  std::set<std::string> remotes;
  auto server = StartServer([&](const HttpRequest& req) {
    std::lock_guard lock(mu);
    remotes.insert(req.remote_address);
    return Text(req.target);
  });
  RawTlsClient conn;
  ASSERT_TRUE(conn.Connect(server->port()));
  for (int i = 0; i < 3; ++i) {
    std::string target = "/seq/" + std::to_string(i);
    ASSERT_TRUE(conn.Send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto response = conn.ReadResponse();
    ASSERT_TRUE(response) << "request " << i;
    EXPECT_EQ(response->rfind("HTTP/1.1 200", 0), 0u);
    EXPECT_NE(response->find("\r\n\r\n" + target), std::string::npos);
  }
  // Pipelined: both requests in one write; answered in order on the same connection.
  ASSERT_TRUE(conn.Send("GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto first = conn.ReadResponse();
  auto second = conn.ReadResponse();
  ASSERT_TRUE(first && second);
  EXPECT_NE(first->find("\r\n\r\n/p1"), std::string::npos);
  EXPECT_NE(second->find("\r\n\r\n/p2"), std::string::npos);
  std::lock_guard lock(mu);
  EXPECT_EQ(remotes.size(), 1u);
}

TEST_F(NetTest, BodyOverLimitGets413ProblemDocument) {
  std::atomic<int> calls{0};
  auto server = StartServer([&](const HttpRequest& req) {
    ++calls;
    return Text(std::to_string(req.body.size()));
  });
  auto client = MakeClient();

  auto at_limit = client->Do("POST", UrlFor(*server), {}, std::string(1 << 20, 'a'));
  ASSERT_TRUE(at_limit.ok()) << at_limit.error().ToString();
  EXPECT_EQ(at_limit->status, 200);
  EXPECT_EQ(at_limit->body, "1048576");

  auto over = client->Do("POST", UrlFor(*server), {}, std::string((1 << 20) + 1, 'a'));
  ASSERT_TRUE(over.ok()) << over.error().ToString();
  EXPECT_EQ(over->status, 413);
  EXPECT_EQ(over->headers["content-type"], "application/problem+json");
  EXPECT_EQ(over->headers["cache-control"], "no-store");
  EXPECT_EQ(over->headers["connection"], "close");
  EXPECT_EQ(over->body, R"({"type":"urn:certfleet:problem:too_large","title":"Payload too large",)"
                        R"("status":413,"detail":"request body exceeds 1048576 bytes"})");
  EXPECT_EQ(calls.load(), 1);  // the handler never saw the oversize request
}

TEST_F(NetTest, GiantHeaderGets431) {
  auto server = StartServer(Echo);
  auto client = MakeClient();
  auto res = client->Do("GET", UrlFor(*server), {{"X-Big", std::string(20 << 10, 'h')}}, "");
  ASSERT_TRUE(res.ok()) << res.error().ToString();
  EXPECT_EQ(res->status, 431);
  EXPECT_EQ(res->headers["content-type"], "application/problem+json");
  EXPECT_NE(res->body.find("\"status\":431"), std::string::npos);
}

TEST_F(NetTest, MalformedRequestGets400) {
  auto server = StartServer(Echo);
  RawTlsClient conn;
  ASSERT_TRUE(conn.Connect(server->port()));
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nBad Header Without Colon\r\n\r\n"));
  auto response = conn.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->rfind("HTTP/1.1 400", 0), 0u) << *response;
  EXPECT_NE(response->find("urn:certfleet:problem:malformed"), std::string::npos);
  EXPECT_TRUE(conn.WaitForClose(5s));
}

TEST_F(NetTest, PlainHttpToTlsPortFailsCleanly) {
  auto server = StartServer(Echo);
  auto plain = MakeClient([](ClientOptions& o) { o.allow_plain_http = true; });
  auto res = plain->Do("GET", "http://127.0.0.1:" + std::to_string(server->port()) + "/", {}, "");
  ASSERT_FALSE(res.ok());
  // The TLS server reads the request line as a broken ClientHello and closes.
  EXPECT_EQ(res.error().code(), ErrorCode::kUnavailable) << res.error().ToString();
  // The server is unharmed.
  auto ok = MakeClient()->Do("GET", UrlFor(*server), {}, "");
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(ok->status, 200);
}

TEST_F(NetTest, ClientRefusesUntrustedServerCertificate) {
  auto server = StartServer(Echo);
  TestCert other_ca = MakeCa("some other CA");
  auto client = MakeClient([&](ClientOptions& o) { o.trust_pem = other_ca.cert_pem; });
  auto res = client->Do("GET", UrlFor(*server), {}, "");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kForbidden) << res.error().ToString();
  EXPECT_FALSE(res.error().retryable());
}

TEST_F(NetTest, ClientRefusesCertificateForAnotherName) {
  TestCert wrong_name = MakeLeaf(ca_, "elsewhere", "DNS:elsewhere.test", /*server=*/true);
  auto server = StartServer(Echo, {}, &wrong_name);
  auto res = MakeClient()->Do("GET", UrlFor(*server), {}, "");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kForbidden) << res.error().ToString();

  // The right certificate also verifies by DNS name.
  auto good = StartServer(Echo);
  auto by_name =
      MakeClient()->Do("GET", "https://localhost:" + std::to_string(good->port()) + "/", {}, "");
  ASSERT_TRUE(by_name.ok()) << by_name.error().ToString();
}

TEST_F(NetTest, ClientRefusesPlainHttpUnlessAllowed) {
  auto client = MakeClient();
  auto res = client->Do("GET", "http://127.0.0.1:1/", {}, "");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kInvalidArgument);

  EXPECT_EQ(client->Do("GET", "https://user@127.0.0.1/", {}, "").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(client->Do("GET", "https://127.0.0.1/", {{"X-A", "b\r\nX-C: d"}}, "").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(client->Do("GE T", "https://127.0.0.1/", {}, "").error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(NetTest, MutualTlsExposesVerifiedClientCertificate) {
  TestCert client_ca = MakeCa("client CA");
  TestCert client_cert = MakeLeaf(client_ca, "agent-1", "DNS:agent-1.test", /*server=*/false);
  std::mutex mu;
  std::optional<std::string> seen;
  auto server = StartServer(
      [&](const HttpRequest& req) {
        std::lock_guard lock(mu);
        seen = req.client_cert_der;
        return Text(req.client_cert_der ? "cert" : "none");
      },
      [&](ServerOptions& o) { o.client_ca_pem = client_ca.cert_pem; });

  auto with = MakeClient([&](ClientOptions& o) {
    o.client_cert_pem = client_cert.cert_pem;
    o.client_key_pem = SecretBytes::FromView(client_cert.key_pem);
  });
  auto res = with->Do("GET", UrlFor(*server), {}, "");
  ASSERT_TRUE(res.ok()) << res.error().ToString();
  EXPECT_EQ(res->body, "cert");
  {
    std::lock_guard lock(mu);
    ASSERT_TRUE(seen);
    EXPECT_EQ(*seen, client_cert.Der());
  }

  auto without = MakeClient()->Do("GET", UrlFor(*server), {}, "");
  ASSERT_TRUE(without.ok()) << without.error().ToString();
  EXPECT_EQ(without->body, "none");

  // A certificate from a CA the server does not trust fails the handshake.
  TestCert rogue_ca = MakeCa("rogue CA");
  TestCert rogue = MakeLeaf(rogue_ca, "agent-1", "DNS:agent-1.test", /*server=*/false);
  auto rogue_client = MakeClient([&](ClientOptions& o) {
    o.client_cert_pem = rogue.cert_pem;
    o.client_key_pem = SecretBytes::FromView(rogue.key_pem);
  });
  auto refused = rogue_client->Do("GET", UrlFor(*server), {}, "");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden) << refused.error().ToString();
}

TEST_F(NetTest, WithoutClientCaNoClientCertificateIsSeen) {
  TestCert client_ca = MakeCa("client CA");
  TestCert client_cert = MakeLeaf(client_ca, "agent-1", "DNS:agent-1.test", /*server=*/false);
  auto server = StartServer(
      [](const HttpRequest& req) { return Text(req.client_cert_der ? "cert" : "none"); });
  auto client = MakeClient([&](ClientOptions& o) {
    o.client_cert_pem = client_cert.cert_pem;
    o.client_key_pem = SecretBytes::FromView(client_cert.key_pem);
  });
  auto res = client->Do("GET", UrlFor(*server), {}, "");
  ASSERT_TRUE(res.ok()) << res.error().ToString();
  EXPECT_EQ(res->body, "none");
}

TEST_F(NetTest, HandlerExceptionBecomes500) {
  auto server = StartServer([](const HttpRequest& req) -> HttpResponse {
    if (req.path() == "/throw") throw std::runtime_error("database exploded: secret detail");
    if (req.path() == "/throw-int") throw 42;
    if (req.path() == "/bad-status") return Text("x", 42);
    return Text("fine");
  });
  auto client = MakeClient();
  for (const char* path : {"/throw", "/throw-int", "/bad-status"}) {
    auto res = client->Do("GET", UrlFor(*server, path), {}, "");
    ASSERT_TRUE(res.ok()) << res.error().ToString();
    EXPECT_EQ(res->status, 500) << path;
    EXPECT_EQ(res->headers["content-type"], "application/problem+json");
    EXPECT_NE(res->body.find("urn:certfleet:problem:internal"), std::string::npos);
    EXPECT_EQ(res->body.find("secret detail"), std::string::npos);  // logged, never shown
  }
  auto res = client->Do("GET", UrlFor(*server, "/ok"), {}, "");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->body, "fine");
}

TEST_F(NetTest, ResponseOverCapIsTooLarge) {
  auto server = StartServer([](const HttpRequest&) { return Text(std::string(2 << 20, 'x')); });
  auto small = MakeClient([](ClientOptions& o) { o.max_response_bytes = 1 << 20; });
  auto res = small->Do("GET", UrlFor(*server), {}, "");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kTooLarge) << res.error().ToString();

  auto big = MakeClient([](ClientOptions& o) { o.max_response_bytes = 2 << 20; });
  auto ok = big->Do("GET", UrlFor(*server), {}, "");
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(ok->body.size(), size_t{2} << 20);
}

// A plain-HTTP peer that answers each connection with `raw` in a single write, so that the
// header and the body reach the client in one read.
class RawHttpPeer {
 public:
  explicit RawHttpPeer(std::string raw) : raw_(std::move(raw)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 4) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot listen");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      int conn = accept(fd_, nullptr, nullptr);
      if (conn < 0) return;
      char buf[4096];
      (void)!read(conn, buf, sizeof buf);
      (void)!write(conn, raw_.data(), raw_.size());
      close(conn);
    });
  }
  ~RawHttpPeer() {
    shutdown(fd_, SHUT_RDWR);  // wakes a pending accept
    thread_.join();
    close(fd_);
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

 private:
  std::string raw_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST_F(NetTest, ResponseOverCapIsTooLargeWhenHeaderAndBodyArriveTogether) {
  auto client = MakeClient([](ClientOptions& o) {
    o.allow_plain_http = true;
    o.max_response_bytes = 1000;
  });
  const std::string body(5000, 'x');
  for (const std::string& raw : std::vector<std::string>{
           "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + body,
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n" + body + "\r\n0\r\n\r\n",
           "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body,  // ends at EOF
       }) {
    RawHttpPeer peer(raw);
    auto res = client->Do("GET", peer.Url(), {}, "");
    ASSERT_FALSE(res.ok()) << raw.substr(0, 40);
    EXPECT_EQ(res.error().code(), ErrorCode::kTooLarge) << res.error().ToString();
  }
  RawHttpPeer fits("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + body.substr(0, 1000));
  auto ok = client->Do("GET", fits.Url(), {}, "");
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(ok->body.size(), 1000u);

  // Over TLS: a body that fits in the TLS record of the header.
  auto server = StartServer([](const HttpRequest&) { return Text(std::string(5000, 'y')); });
  auto small = MakeClient([](ClientOptions& o) { o.max_response_bytes = 1000; });
  auto res = small->Do("GET", UrlFor(*server), {}, "");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kTooLarge) << res.error().ToString();
}

TEST_F(NetTest, SilentListenerTimesOutWithinDeadline) {
  testing::SilentListener silent;
  auto client = MakeClient([](ClientOptions& o) { o.timeout = 300ms; });
  auto start = std::chrono::steady_clock::now();
  auto res = client->Do("GET", "https://127.0.0.1:" + std::to_string(silent.port()) + "/", {}, "");
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(res.error().retryable());
  EXPECT_NE(res.error().message().find("timed out"), std::string::npos) << res.error().message();
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 3s);
}

TEST_F(NetTest, RefusedConnectionIsRetryableUnavailable) {
  auto res = MakeClient()->Do(
      "GET", "https://127.0.0.1:" + std::to_string(testing::UnusedPort()) + "/", {}, "");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(res.error().retryable());
  EXPECT_EQ(res.error().message().find("timed out"), std::string::npos);
}

// Four handlers block until released; four fast requests from other threads must still complete
// meanwhile, through the single I/O thread. If a handler ran on the I/O thread, the fast
// requests would time out instead.
TEST_F(NetTest, SlowHandlersDoNotDelayFastRequests) {
  constexpr int kSlow = 4;
  constexpr int kFast = 4;
  std::mutex mu;
  std::condition_variable cv;
  int entered = 0;
  bool release = false;
  auto server = StartServer(
      [&](const HttpRequest& req) {
        if (req.path() == "/slow") {
          std::unique_lock lock(mu);
          ++entered;
          cv.notify_all();
          cv.wait_for(lock, 20s, [&] { return release; });
          return Text("slow");
        }
        return Text("fast");
      },
      [](ServerOptions& o) {
        o.io_threads = 1;
        o.worker_threads = kSlow + kFast;
      });
  auto client = MakeClient([](ClientOptions& o) { o.timeout = 15s; });

  std::vector<std::thread> slow_threads;
  std::atomic<int> slow_ok{0};
  for (int i = 0; i < kSlow; ++i) {
    slow_threads.emplace_back([&] {
      auto res = client->Do("GET", UrlFor(*server, "/slow"), {}, "");
      if (res.ok() && res->body == "slow") ++slow_ok;
    });
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return entered == kSlow; }));
  }

  std::vector<std::thread> fast_threads;
  std::atomic<int> fast_ok{0};
  auto fast_start = std::chrono::steady_clock::now();
  for (int i = 0; i < kFast; ++i) {
    fast_threads.emplace_back([&] {
      auto res = client->Do("GET", UrlFor(*server, "/fast"), {}, "");
      if (res.ok() && res->body == "fast") ++fast_ok;
    });
  }
  for (auto& t : fast_threads) t.join();
  auto fast_elapsed = std::chrono::steady_clock::now() - fast_start;
  {
    std::lock_guard lock(mu);
    EXPECT_FALSE(release);  // the slow handlers were still blocked throughout
    release = true;
  }
  cv.notify_all();
  for (auto& t : slow_threads) t.join();
  EXPECT_EQ(fast_ok.load(), kFast);
  EXPECT_EQ(slow_ok.load(), kSlow);
  EXPECT_LT(fast_elapsed, 10s);
}

TEST_F(NetTest, IdleKeepAliveConnectionIsClosed) {
  auto server = StartServer(Echo, [](ServerOptions& o) { o.idle_timeout_seconds = 1; });
  RawTlsClient conn;
  ASSERT_TRUE(conn.Connect(server->port()));
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(conn.ReadResponse());
  auto closed_after = conn.WaitForClose(10s);
  ASSERT_TRUE(closed_after);
  EXPECT_GE(*closed_after, 500ms);
}

// Drain (a replica leaving a load balancer's rotation): still served, but each connection is
// closed after its next response, so a keep-alive client reconnects through the balancer.
TEST_F(NetTest, DrainClosesEachConnectionAfterItsNextResponse) {
  auto server = StartServer(Echo);
  RawTlsClient conn;
  ASSERT_TRUE(conn.Connect(server->port()));
  ASSERT_TRUE(conn.Send("GET /before HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto before = conn.ReadResponse();
  ASSERT_TRUE(before);
  EXPECT_EQ(before->find("Connection: close"), std::string::npos) << *before;
  server->Drain();
  ASSERT_TRUE(conn.Send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto after = conn.ReadResponse();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->rfind("HTTP/1.1 200", 0), 0u) << *after;
  EXPECT_NE(after->find("Connection: close"), std::string::npos) << *after;
  EXPECT_TRUE(conn.WaitForClose(5s));
  // New connections are still served (and closed after one response).
  RawTlsClient fresh;
  ASSERT_TRUE(fresh.Connect(server->port()));
  ASSERT_TRUE(fresh.Send("GET /fresh HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto answer = fresh.ReadResponse();
  ASSERT_TRUE(answer);
  EXPECT_NE(answer->find("\r\n\r\nGET /fresh"), std::string::npos) << *answer;
}

TEST_F(NetTest, SlowRequestIsCutOff) {
  auto server = StartServer(Echo, [](ServerOptions& o) { o.request_timeout_seconds = 1; });
  RawTlsClient conn;
  ASSERT_TRUE(conn.Connect(server->port()));
  ASSERT_TRUE(conn.Send("GET / HTTP/1.1\r\nHost: x\r\n"));  // never finishes the header
  auto closed_after = conn.WaitForClose(10s);
  ASSERT_TRUE(closed_after);
  EXPECT_LT(*closed_after, 5s);
}

TEST_F(NetTest, ConnectionsBeyondTheLimitAreClosed) {
  auto server = StartServer(Echo, [](ServerOptions& o) { o.max_connections = 2; });
  RawTlsClient a;
  RawTlsClient b;
  ASSERT_TRUE(a.Connect(server->port()));
  ASSERT_TRUE(b.Connect(server->port()));
  // Both handshakes completed, so the server has registered both connections.
  RawTlsClient c;
  EXPECT_FALSE(c.Connect(server->port()));
  ASSERT_TRUE(a.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(a.ReadResponse());
}

// Issue #13: one client address cannot take every slot; refusals are counted for /metrics, and
// the connections already open keep working.
TEST_F(NetTest, ConnectionsBeyondThePerAddressLimitAreClosedAndCounted) {
  ConnectionCounters counters;
  auto server = StartServer(Echo, [&](ServerOptions& o) {
    o.max_connections = 100;
    o.max_connections_per_address = 2;
    o.counters = &counters;
  });
  RawTlsClient a;
  RawTlsClient b;
  ASSERT_TRUE(a.Connect(server->port()));
  ASSERT_TRUE(b.Connect(server->port()));
  EXPECT_EQ(counters.open.load(), 2);
  RawTlsClient c;
  EXPECT_FALSE(c.Connect(server->port()));
  EXPECT_EQ(counters.refused_per_address.load(), 1u);
  EXPECT_EQ(counters.refused_max_connections.load(), 0u);
  ASSERT_TRUE(a.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(a.ReadResponse());
  ASSERT_TRUE(b.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(b.ReadResponse());
}

// --- PROXY protocol (issue #15): a load balancer announcing its clients --------------------------

// A PROXY protocol v2 header for a TCP/IPv4 client `a.b.c.d`:`port` (to 10.0.0.11:8443), as
// HAProxy's send-proxy-v2 sends it; `local` makes it a LOCAL header (a health check) instead.
std::string ProxyV2(std::array<uint8_t, 4> client, uint16_t port, bool local = false) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  if (local) return h + std::string("\x20\x00\x00\x00", 4);
  h += std::string("\x21\x11\x00\x0c", 4);
  for (uint8_t b : client) h.push_back(static_cast<char>(b));
  h += std::string("\x0a\x00\x00\x0b", 4);
  h.push_back(static_cast<char>(port >> 8));
  h.push_back(static_cast<char>(port & 0xff));
  h += std::string("\x20\xfb", 2);
  return h;
}

std::vector<Cidr> Networks(std::initializer_list<const char*> texts) {
  std::vector<Cidr> out;
  for (const char* t : texts) out.push_back(Cidr::Parse(t).value());
  return out;
}

// X-Remote of one GET on `conn`: the remote address the handler saw.
std::string SeenRemote(RawTlsClient& conn) {
  if (!conn.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) return "(send failed)";
  auto response = conn.ReadResponse();
  if (!response) return "(no response)";
  const size_t at = response->find("X-Remote: ");
  if (at == std::string::npos) return "(no X-Remote)";
  return response->substr(at + 10, response->find("\r\n", at) - at - 10);
}

TEST_F(NetTest, TrustedProxysHeaderNamesTheClient) {
  ConnectionCounters counters;
  auto server = StartServer(Echo, [&](ServerOptions& o) {
    o.trusted_proxies = Networks({"127.0.0.0/30"});
    o.counters = &counters;
  });
  RawTlsClient v2;
  ASSERT_TRUE(v2.Connect(server->port(), ProxyV2({192, 0, 2, 7}, 51000)));
  EXPECT_EQ(SeenRemote(v2), "192.0.2.7:51000");
  EXPECT_EQ(SeenRemote(v2), "192.0.2.7:51000");  // every request of the connection
  RawTlsClient v1;
  ASSERT_TRUE(v1.Connect(server->port(), "PROXY TCP6 2001:db8::7 2001:db8::11 51001 8443\r\n"));
  EXPECT_EQ(SeenRemote(v1), "[2001:db8::7]:51001");
  // LOCAL (HAProxy's health check with check-send-proxy): the proxy's own address stands.
  RawTlsClient local;
  ASSERT_TRUE(local.Connect(server->port(), ProxyV2({}, 0, /*local=*/true), "127.0.0.2"));
  EXPECT_EQ(SeenRemote(local).rfind("127.0.0.2:", 0), 0u);
  EXPECT_EQ(counters.refused_proxy_header.load(), 0u);
}

TEST_F(NetTest, TrustedProxyWithoutAValidHeaderIsClosed) {
  ConnectionCounters counters;
  auto server = StartServer(Echo, [&](ServerOptions& o) {
    o.trusted_proxies = Networks({"127.0.0.1/32"});
    o.proxy_header_timeout_seconds = 1;
    o.counters = &counters;
  });
  RawTlsClient plain;  // TLS straight away: the ClientHello is no PROXY header
  EXPECT_FALSE(plain.Connect(server->port()));
  RawTlsClient garbage;
  EXPECT_FALSE(garbage.Connect(server->port(), "PROXY TCP4 192.0.2.300 10.0.0.11 1 2\r\n"));
  // A proxy that connects and says nothing is closed after the header timeout.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const auto started = std::chrono::steady_clock::now();
  char byte = 0;
  EXPECT_EQ(::recv(fd, &byte, 1, 0), 0);  // EOF, not the 10 s receive timeout
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  ::close(fd);
  // The server counts a refusal after it closes the connection: wait for the third count rather
  // than race it.
  for (int i = 0; i < 500 && counters.refused_proxy_header.load() < 3u; ++i) {
    std::this_thread::sleep_for(10ms);  // bounded poll of the counter
  }
  EXPECT_EQ(counters.refused_proxy_header.load(), 3u);
  // Other addresses are not trusted: a direct client from one of them is served as ever.
  RawTlsClient direct;
  ASSERT_TRUE(direct.Connect(server->port(), {}, "127.0.0.2"));
  EXPECT_EQ(SeenRemote(direct).rfind("127.0.0.2:", 0), 0u);
}

TEST_F(NetTest, UntrustedPeersProxyHeaderIsNeverBelieved) {
  auto server = StartServer(Echo, [&](ServerOptions& o) {
    o.trusted_proxies = Networks({"10.0.0.0/8", "::1/128"});
  });
  // Sent from 127.0.0.1, which is no trusted proxy: the header is fed to TLS, which fails.
  RawTlsClient spoofer;
  EXPECT_FALSE(spoofer.Connect(server->port(), ProxyV2({192, 0, 2, 7}, 51000)));
  RawTlsClient spoofer_v1;
  EXPECT_FALSE(spoofer_v1.Connect(server->port(), "PROXY TCP4 192.0.2.7 10.0.0.11 1 2\r\n"));
  RawTlsClient direct;
  ASSERT_TRUE(direct.Connect(server->port()));
  EXPECT_EQ(SeenRemote(direct).rfind("127.0.0.1:", 0), 0u);
}

// Behind a proxy the per-address limit counts the clients the headers name, not the proxy.
TEST_F(NetTest, PerAddressLimitCountsProxiedClients) {
  ConnectionCounters counters;
  auto server = StartServer(Echo, [&](ServerOptions& o) {
    o.trusted_proxies = Networks({"127.0.0.1/32"});
    o.max_connections_per_address = 2;
    o.counters = &counters;
  });
  RawTlsClient a1;
  std::optional<RawTlsClient> a2;
  a2.emplace();
  ASSERT_TRUE(a1.Connect(server->port(), ProxyV2({192, 0, 2, 7}, 1000)));
  ASSERT_TRUE(a2->Connect(server->port(), ProxyV2({192, 0, 2, 7}, 1001)));
  RawTlsClient a3;
  EXPECT_FALSE(a3.Connect(server->port(), ProxyV2({192, 0, 2, 7}, 1002)));
  // Counted by the server's session, which may still be running when the client sees the close.
  for (int i = 0; i < 500 && counters.refused_per_address.load() < 1u; ++i) {
    std::this_thread::sleep_for(10ms);  // bounded poll of the counter
  }
  EXPECT_EQ(counters.refused_per_address.load(), 1u);
  // Another client through the same proxy: its own share, though the proxy holds three.
  RawTlsClient b1;
  RawTlsClient b2;
  ASSERT_TRUE(b1.Connect(server->port(), ProxyV2({192, 0, 2, 8}, 1000)));
  ASSERT_TRUE(b2.Connect(server->port(), ProxyV2({192, 0, 2, 8}, 1001)));
  EXPECT_EQ(SeenRemote(b2), "192.0.2.8:1001");
  EXPECT_EQ(SeenRemote(a1), "192.0.2.7:1000");
  // A closed connection gives its client's slot back.
  a2.reset();
  for (int i = 0; i < 200 && counters.open.load() > 3; ++i) std::this_thread::sleep_for(10ms);
  RawTlsClient a4;
  EXPECT_TRUE(a4.Connect(server->port(), ProxyV2({192, 0, 2, 7}, 1003)));
}

TEST_F(NetTest, StopClosesOpenConnectionsAndWaitsForHandlers) {
  std::atomic<bool> in_handler{false};
  auto server = StartServer([&](const HttpRequest& req) {
    if (req.path() == "/slow") {
      in_handler = true;
      std::this_thread::sleep_for(300ms);
    }
    return Text("ok");
  });
  RawTlsClient idle;
  ASSERT_TRUE(idle.Connect(server->port()));
  auto client = MakeClient([](ClientOptions& o) { o.timeout = 10s; });
  std::thread in_flight([&] { (void)client->Do("GET", UrlFor(*server, "/slow"), {}, ""); });
  while (!in_handler) std::this_thread::sleep_for(5ms);

  auto start = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(idle.WaitForClose(5s));
  in_flight.join();
  server->Stop();  // idempotent
  EXPECT_EQ(server->Start().error().code(), ErrorCode::kFailedPrecondition);
}

TEST_F(NetTest, CreateRejectsBadOptions) {
  ServerOptions options;
  options.port = 0;
  options.cert_chain_pem = server_cert_.cert_pem;
  options.key_pem = SecretBytes::FromView(MakeCa("unrelated").key_pem);
  auto mismatched = HttpsServer::Create(std::move(options), Echo);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_EQ(mismatched.error().code(), ErrorCode::kInvalidArgument);

  ServerOptions garbage;
  garbage.port = 0;
  garbage.cert_chain_pem = "not a certificate";
  garbage.key_pem = SecretBytes::FromView("not a key");
  EXPECT_EQ(HttpsServer::Create(std::move(garbage), Echo).error().code(),
            ErrorCode::kInvalidArgument);

  // An encrypted key is refused (and OpenSSL does not prompt for its passphrase).
  ServerOptions encrypted;
  encrypted.port = 0;
  encrypted.cert_chain_pem = server_cert_.cert_pem;
  encrypted.key_pem = SecretBytes::FromView(server_cert_.EncryptedKeyPem("hunter22"));
  EXPECT_EQ(HttpsServer::Create(std::move(encrypted), Echo).error().code(),
            ErrorCode::kInvalidArgument);

  auto server = StartServer(Echo);
  ServerOptions taken;
  taken.port = server->port();
  taken.cert_chain_pem = server_cert_.cert_pem;
  taken.key_pem = SecretBytes::FromView(server_cert_.key_pem);
  // SO_REUSEADDR does not allow two listeners on one port.
  EXPECT_EQ(HttpsServer::Create(std::move(taken), Echo).error().code(), ErrorCode::kUnavailable);

  ClientOptions bad_trust;
  bad_trust.trust_pem = "garbage";
  EXPECT_EQ(HttpsClient::Create(std::move(bad_trust)).error().code(), ErrorCode::kInvalidArgument);
  ClientOptions cert_without_key;
  cert_without_key.client_cert_pem = server_cert_.cert_pem;
  EXPECT_EQ(HttpsClient::Create(std::move(cert_without_key)).error().code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace certfleet::net
