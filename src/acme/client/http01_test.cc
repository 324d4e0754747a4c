// http-01 (issue #6): the token map and the responder on their own, then end to end against a
// real Pebble whose VA fetches from the responder (httpPort = the responder's port) and resolves
// names through a real BIND9 (every name under example.test is 127.0.0.1), without
// PEBBLE_VA_ALWAYS_VALID. The same setup covers resuming an order and picking a preferred chain
// (PEBBLE_ALTERNATE_ROOTS=1). Missing pebble or named binaries fail these tests; they never skip.
#include "acme/client/http01.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "acme/client/client.h"
#include "acme/client/order_flow.h"
#include "acme/client/pebble.h"
#include "base/clock.h"
#include "base/time_util.h"
#include "dns/testing_named.h"
#include "store/sqlite/sqlite_store.h"

namespace certfleet::acme {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kToken = "tok_en-123";
constexpr std::string_view kKeyAuthz = "tok_en-123.dGh1bWJwcmludA";

// --- A raw HTTP client: the responder must cope with what a hostile peer sends. ---

int ConnectTo(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Everything the server sends until it closes (or 5 s pass).
std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string Exchange(uint16_t port, std::string_view request) {
  int fd = ConnectTo(port);
  if (fd < 0) return "<connect failed>";
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (431)
    sent += static_cast<size_t>(n);
  }
  std::string response = ReadAll(fd);
  close(fd);
  return response;
}

std::string Get(uint16_t port, std::string_view target) {
  return Exchange(port, "GET " + std::string(target) + " HTTP/1.1\r\nHost: a.example.test\r\n" +
                            "User-Agent: test\r\nAccept: */*\r\n\r\n");
}

int StatusOf(std::string_view response) {
  if (response.size() < 12 || response.substr(0, 9) != "HTTP/1.1 ") return -1;
  return std::stoi(std::string(response.substr(9, 3)));
}

std::string BodyOf(std::string_view response) {
  size_t at = response.find("\r\n\r\n");
  return at == std::string_view::npos ? "" : std::string(response.substr(at + 4));
}

// --- Http01TokenMap ---

TEST(Http01TokenMapTest, PresentFindReplaceCleanUp) {
  Http01TokenMap map;
  EXPECT_FALSE(map.Find("a.example.test", kToken).has_value());
  ASSERT_TRUE(map.Present("a.example.test", kToken, kKeyAuthz).ok());
  EXPECT_EQ(map.Find("a.example.test", kToken), std::string(kKeyAuthz));
  ASSERT_TRUE(map.Present("a.example.test", kToken, "tok_en-123.b3RoZXI").ok());
  EXPECT_EQ(map.Find("a.example.test", kToken), "tok_en-123.b3RoZXI");
  EXPECT_EQ(map.size(), 1u);
  EXPECT_TRUE(map.CleanUp("a.example.test", kToken).ok());
  EXPECT_FALSE(map.Find("a.example.test", kToken).has_value());
  EXPECT_TRUE(map.CleanUp("a.example.test", kToken).ok());    // absent: Ok by contract
  EXPECT_TRUE(map.CleanUp("a.example.test", "../bad").ok());  // invalid: nothing to remove
  EXPECT_FALSE(map.Find("a.example.test", "../bad").has_value());
}

TEST(Http01TokenMapTest, RefusesBadTokensAndKeyAuthorizations) {
  Http01TokenMap map;
  for (std::string_view token : {"", "a/b", "a.b", "tok en", "tok%2f", "tok\n"}) {
    Status s = map.Present("a.example.test", token, std::string(token) + ".dGh1bWI");
    ASSERT_FALSE(s.ok()) << token;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(
      map.Present("a.example.test", std::string(257, 'a'), std::string(257, 'a') + ".dGh1bWI")
          .ok());
  for (std::string_view ka : {"", "tok_en-123", "tok_en-123.", "other.dGh1bWI", "tok_en-123.a b",
                              "tok_en-123.a\r\nX: y", "tok_en-123x.dGh1bWI"}) {
    Status s = map.Present("a.example.test", kToken, ka);
    ASSERT_FALSE(s.ok()) << ka;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    // The message never carries the key authorization.
    if (!ka.empty()) {
      EXPECT_EQ(s.error().message().find(ka), std::string::npos);
    }
  }
  std::string too_long = std::string(kToken) + "." + std::string(600, 'x');
  EXPECT_EQ(map.Present("a.example.test", kToken, too_long).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(map.size(), 0u);
}

TEST(Http01TokenMapTest, EntriesAreCapped) {
  Http01TokenMap map(2);
  ASSERT_TRUE(map.Present("a.example.test", "a", "a.x").ok());
  ASSERT_TRUE(map.Present("a.example.test", "b", "b.x").ok());
  Status full = map.Present("a.example.test", "c", "c.x");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code(), ErrorCode::kTooLarge);
  EXPECT_TRUE(map.Present("a.example.test", "b", "b.y").ok());  // replacing is not growing
  ASSERT_TRUE(map.CleanUp("a.example.test", "a").ok());
  EXPECT_TRUE(map.Present("a.example.test", "c", "c.x").ok());
  EXPECT_EQ(Http01TokenMap::kDefaultMaxEntries, 10000u);
}

TEST(Http01TokenMapTest, ConcurrentUse) {
  Http01TokenMap map;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&map, t] {
      for (int i = 0; i < 500; ++i) {
        std::string token = "t" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(map.Present("a.example.test", token, token + ".dGh1bWI").ok());
        EXPECT_EQ(map.Find("a.example.test", token), token + ".dGh1bWI");
        if (i % 2 == 0) {
          EXPECT_TRUE(map.CleanUp("a.example.test", token).ok());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(map.size(), 1000u);
}

// --- Http01Responder ---

class Http01ResponderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(map_.Present("a.example.test", kToken, kKeyAuthz).ok());
    Http01ResponderOptions opts;
    opts.address = "127.0.0.1";
    opts.port = 0;
    opts.read_timeout = milliseconds(500);
    opts.max_request_bytes = 1024;
    auto responder = Http01Responder::Create(
        opts, [this](std::string_view h, std::string_view t) { return map_.Find(h, t); });
    ASSERT_TRUE(responder.ok()) << responder.error().ToString();
    responder_ = std::move(responder).value();
    ASSERT_NE(responder_->port(), 0);
    ASSERT_TRUE(responder_->Start().ok());
  }

  uint16_t port() const { return responder_->port(); }

  Http01TokenMap map_;
  std::unique_ptr<Http01Responder> responder_;
};

TEST_F(Http01ResponderTest, ServesThePresentedKeyAuthorization) {
  std::string response = Get(port(), "/.well-known/acme-challenge/tok_en-123");
  EXPECT_EQ(StatusOf(response), 200) << response;
  EXPECT_EQ(BodyOf(response), kKeyAuthz);
  EXPECT_NE(response.find("\r\nContent-Type: application/octet-stream\r\n"), std::string::npos);
  EXPECT_NE(response.find("\r\nContent-Length: " + std::to_string(kKeyAuthz.size()) + "\r\n"),
            std::string::npos);
  EXPECT_NE(response.find("\r\nConnection: close\r\n"), std::string::npos);
  // HTTP/1.0 is served too (with a Host); after CleanUp the token is gone.
  response = Exchange(port(),
                      "GET /.well-known/acme-challenge/tok_en-123 HTTP/1.0\r\nHost: "
                      "a.example.test\r\n\r\n");
  EXPECT_EQ(BodyOf(response), kKeyAuthz);
  ASSERT_TRUE(map_.CleanUp("a.example.test", kToken).ok());
  EXPECT_EQ(StatusOf(Get(port(), "/.well-known/acme-challenge/tok_en-123")), 404);
}

TEST_F(Http01ResponderTest, UnknownTokensAndOtherPathsAre404) {
  for (std::string_view target :
       {"/.well-known/acme-challenge/unknown", "/.well-known/acme-challenge/",
        "/.well-known/acme-challenge/tok_en-123?x=1", "/.well-known/acme-challenge/tok_en-123/",
        "/.well-known/acme-challenge/../acme-challenge/tok_en-123",
        "/.well-known/acme-challenge/tok%5Fen-123", "/", "/tok_en-123",
        "/.well-known/ACME-challenge/tok_en-123", "*",
        "http://a.example.test/.well-known/acme-challenge/tok_en-123"}) {
    std::string response = Get(port(), target);
    EXPECT_EQ(StatusOf(response), 404) << target << "\n" << response;
    EXPECT_EQ(response.find(kKeyAuthz), std::string::npos) << target;
  }
}

// Issue #13: a token answers only for the name it was presented for. The CA fetches
// http://<identifier>/.well-known/acme-challenge/<token>, so another Host (another name routed
// to the same listener, a bare address, none at all) must not get it.
TEST_F(Http01ResponderTest, TokenAnswersOnlyForItsIdentifiersHost) {
  const std::string path = "/.well-known/acme-challenge/tok_en-123";
  auto with_host = [&](const std::string& host_line) {
    return Exchange(port(), "GET " + path + " HTTP/1.1\r\n" + host_line + "\r\n");
  };
  for (const char* ok : {"Host: a.example.test\r\n", "Host: A.Example.TEST:80\r\n",
                         "host: a.example.test.\r\n", "Host: a.example.test:5002\r\n"}) {
    std::string response = with_host(ok);
    EXPECT_EQ(StatusOf(response), 200) << ok << response;
    EXPECT_EQ(BodyOf(response), kKeyAuthz);
  }
  for (const char* other : {"Host: b.example.test\r\n", "Host: 127.0.0.1\r\n",
                            "Host: x.a.example.test\r\n", "Host: example.test\r\n", ""}) {
    std::string response = with_host(other);
    EXPECT_EQ(StatusOf(response), 404) << other << response;
    EXPECT_EQ(response.find(kKeyAuthz), std::string::npos);
  }
  // Two Host fields are malformed (RFC 9112 section 3.2).
  EXPECT_EQ(StatusOf(with_host("Host: a.example.test\r\nHost: b.example.test\r\n")), 400);
}

TEST(Http01TokenMapTest, EntriesBelongToTheAccountThatPresentedThem) {
  Http01TokenMap map;
  auto alpha = map.ForAccount("acc_alpha");
  auto beta = map.ForAccount("acc_beta");
  ASSERT_TRUE(alpha->Present("App.Example.test", kToken, kKeyAuthz).ok());
  EXPECT_EQ(map.OwnerOf("app.example.test", kToken), "acc_alpha");
  EXPECT_EQ(map.Find("app.example.test", kToken), std::string(kKeyAuthz));
  EXPECT_FALSE(map.Find("other.example.test", kToken).has_value());
  EXPECT_FALSE(map.Find("", kToken).has_value());
  // Another account can neither replace nor withdraw it.
  Status taken = beta->Present("app.example.test", kToken, "tok_en-123.b3RoZXI");
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code(), ErrorCode::kConflict);
  EXPECT_TRUE(beta->CleanUp("app.example.test", kToken).ok());
  EXPECT_EQ(map.Find("app.example.test", kToken), std::string(kKeyAuthz));
  // The same token under another name is a separate entry.
  ASSERT_TRUE(beta->Present("b.example.test", kToken, "tok_en-123.b3RoZXI").ok());
  EXPECT_EQ(map.Find("b.example.test", kToken), "tok_en-123.b3RoZXI");
  EXPECT_EQ(map.Find("app.example.test", kToken), std::string(kKeyAuthz));
  ASSERT_TRUE(alpha->CleanUp("app.example.test", kToken).ok());
  EXPECT_FALSE(map.Find("app.example.test", kToken).has_value());
  // Identifiers are DNS names.
  for (std::string_view bad : {"", "*.example.test", "127.0.0.1", "a b.example.test"}) {
    EXPECT_EQ(alpha->Present(bad, kToken, kKeyAuthz).error().code(), ErrorCode::kInvalidArgument)
        << bad;
  }
}

// Issue #15: tokens in the store. Two StoreHttp01Tokens over one SQLite file stand for two
// replicas: what one presents, the other's listener answers, with the map's ownership rules.
TEST(StoreHttp01TokensTest, ATokenPresentedOnOneReplicaIsAnsweredByAnother) {
  char dir[] = "/tmp/cf-http01-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/store.db";
  auto store = store::OpenSqliteStore({.path = path});
  ASSERT_TRUE(store.ok());
  FakeClock clock(UtcDate(2026, 12, 7));
  StoreHttp01Tokens replica1(**store, clock);
  StoreHttp01Tokens replica2(**store, clock);
  auto alpha = replica1.ForAccount("acc_alpha");
  auto beta = replica2.ForAccount("acc_beta");
  ASSERT_TRUE(alpha->Present("App.Example.test.", kToken, kKeyAuthz).ok());
  EXPECT_EQ(replica2.Find("app.example.test", kToken), std::string(kKeyAuthz));
  EXPECT_EQ(replica2.Find("APP.example.test.", kToken), std::string(kKeyAuthz));
  EXPECT_FALSE(replica2.Find("other.example.test", kToken).has_value());
  EXPECT_FALSE(replica2.Find("app.example.test", "not a token").has_value());
  // Another account can neither replace nor withdraw it, from any replica.
  Status taken = beta->Present("app.example.test", kToken, "tok_en-123.b3RoZXI");
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code(), ErrorCode::kConflict);
  EXPECT_TRUE(beta->CleanUp("app.example.test", kToken).ok());
  EXPECT_EQ(replica1.Find("app.example.test", kToken), std::string(kKeyAuthz));
  // Bad entries are refused as by the map.
  EXPECT_EQ(alpha->Present("*.example.test", kToken, kKeyAuthz).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(alpha->Present("a.example.test", kToken, "nope").error().code(),
            ErrorCode::kInvalidArgument);
  // Withdrawn through the other replica by its owner.
  auto alpha2 = replica2.ForAccount("acc_alpha");
  ASSERT_TRUE(alpha2->CleanUp("app.example.test", kToken).ok());
  EXPECT_FALSE(replica1.Find("app.example.test", kToken).has_value());
  // A token left behind by a crash is swept a day later, when the next one is presented.
  ASSERT_TRUE(alpha->Present("left.example.test", kToken, kKeyAuthz).ok());
  clock.Advance(std::chrono::hours(25));
  ASSERT_TRUE(beta->Present("b.example.test", kToken, "tok_en-123.b3RoZXI").ok());
  EXPECT_FALSE(replica1.Find("left.example.test", kToken).has_value());
  EXPECT_TRUE(replica1.Find("b.example.test", kToken).has_value());
  // Capped like the map.
  StoreHttp01Tokens capped(**store, clock, 1);
  EXPECT_EQ(capped.ForAccount("x")->Present("c.example.test", kToken, kKeyAuthz).error().code(),
            ErrorCode::kTooLarge);
  store->reset();
  std::filesystem::remove_all(dir);
}

TEST_F(Http01ResponderTest, OtherMethodsAre405) {
  for (std::string_view method : {"POST", "HEAD", "PUT", "DELETE", "OPTIONS", "get"}) {
    std::string response = Exchange(port(), std::string(method) +
                                                " /.well-known/acme-challenge/tok_en-123 "
                                                "HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(StatusOf(response), 405) << method << "\n" << response;
    EXPECT_NE(response.find("\r\nAllow: GET\r\n"), std::string::npos);
    EXPECT_EQ(response.find(kKeyAuthz), std::string::npos);
  }
}

TEST_F(Http01ResponderTest, MalformedRequestsAre400) {
  const std::string path = "/.well-known/acme-challenge/tok_en-123";
  for (const std::string& request : std::vector<std::string>{
           "GARBAGE\r\n\r\n",
           "GET " + path + " HTTP/2.0\r\n\r\n",
           "GET  " + path + " HTTP/1.1\r\n\r\n",
           "GET " + path + " HTTP/1.1 extra\r\n\r\n",
           "GET " + path + " HTTP/1.1\r\nNoColon\r\n\r\n",
           "GET " + path + " HTTP/1.1\r\n folded: x\r\n\r\n",
           "GET " + path + " HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
           "GET " + path + " HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "G(T " + path + " HTTP/1.1\r\n\r\n",
       }) {
    std::string response = Exchange(port(), request);
    EXPECT_EQ(StatusOf(response), 400) << request << "\n" << response;
    EXPECT_EQ(response.find(kKeyAuthz), std::string::npos);
  }
}

TEST_F(Http01ResponderTest, OversizeRequestIs431) {
  std::string request =
      "GET /.well-known/acme-challenge/tok_en-123 HTTP/1.1\r\nX-Pad: " + std::string(4000, 'a') +
      "\r\n\r\n";
  std::string response = Exchange(port(), request);
  EXPECT_EQ(StatusOf(response), 431) << response;
  EXPECT_EQ(response.find(kKeyAuthz), std::string::npos);
  // A head that never ends is cut off at the limit too, not read forever.
  response = Exchange(port(), "GET /" + std::string(100000, 'a'));
  EXPECT_EQ(StatusOf(response), 431) << response.substr(0, 200);
}

TEST_F(Http01ResponderTest, SlowClientIsDisconnectedWithoutAnswer) {
  int fd = ConnectTo(port());
  ASSERT_GE(fd, 0);
  ASSERT_GT(send(fd, "GET /.well", 10, MSG_NOSIGNAL), 0);
  const auto start = std::chrono::steady_clock::now();
  std::string response = ReadAll(fd);  // returns at EOF
  close(fd);
  EXPECT_EQ(response, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // The responder still serves others afterwards.
  EXPECT_EQ(StatusOf(Get(port(), "/.well-known/acme-challenge/tok_en-123")), 200);
}

TEST_F(Http01ResponderTest, StopClosesOpenConnectionsAndIsIdempotent) {
  int idle = ConnectTo(port());
  ASSERT_GE(idle, 0);
  std::this_thread::sleep_for(milliseconds(50));  // let the responder accept it
  const auto start = std::chrono::steady_clock::now();
  responder_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(400));
  EXPECT_EQ(ReadAll(idle), "");
  close(idle);
  responder_->Stop();
  EXPECT_EQ(responder_->Start().error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_LT(ConnectTo(port()), 0);
}

TEST_F(Http01ResponderTest, ManyConcurrentClients) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (BodyOf(Get(port(), "/.well-known/acme-challenge/tok_en-123")) == kKeyAuthz) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 80);
}

TEST(Http01ResponderCreateTest, ValidatesOptions) {
  Http01TokenMap map;
  auto make = [&map](auto change) {
    Http01ResponderOptions opts;
    opts.address = "127.0.0.1";
    opts.port = 0;
    change(opts);
    return Http01Responder::Create(
        opts, [&map](std::string_view h, std::string_view t) { return map.Find(h, t); });
  };
  EXPECT_EQ(make([](auto& o) { o.address = "not an address"; }).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(make([](auto& o) { o.max_request_bytes = 10; }).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(make([](auto& o) { o.read_timeout = milliseconds(0); }).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(make([](auto& o) { o.max_connections = 0; }).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Http01Responder::Create({}, Http01Responder::Lookup{}).error().code(),
            ErrorCode::kInvalidArgument);
  // A port in use: Unavailable.
  auto first = make([](auto&) {});
  ASSERT_TRUE(first.ok());
  uint16_t taken = (*first)->port();
  EXPECT_EQ(make([taken](auto& o) { o.port = taken; }).error().code(), ErrorCode::kUnavailable);
  // Never started: destroying it is fine.
}

// --- End to end against Pebble ---

// Presents something other than the key authorization.
class WrongHttp01Solver : public Http01Solver {
 public:
  explicit WrongHttp01Solver(Http01Solver& inner) : inner_(inner) {}
  Status Present(std::string_view identifier, std::string_view token, std::string_view) override {
    return inner_.Present(identifier, token, std::string(token) + ".bm90LXRoZS10aHVtYnByaW50");
  }
  Status CleanUp(std::string_view identifier, std::string_view token) override {
    return inner_.CleanUp(identifier, token);
  }

 private:
  Http01Solver& inner_;
};

class FailingHttp01Solver : public Http01Solver {
 public:
  Status Present(std::string_view, std::string_view, std::string_view) override {
    ++presents_;
    return Unavailable("web server down");
  }
  Status CleanUp(std::string_view, std::string_view) override {
    ++cleanups_;
    return Ok();
  }
  int presents_ = 0, cleanups_ = 0;
};

class Http01PebbleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto named = dns::testing::TestingNamed::Start({{"example.test", "* IN A 127.0.0.1\n"}});
    if (!named.ok()) {
      start_error_ = new std::string("named: " + named.error().ToString());
      return;
    }
    named_ = std::move(named).value().release();
    tokens_ = new Http01TokenMap();
    Http01ResponderOptions opts;
    opts.address = "127.0.0.1";
    opts.port = 0;
    auto responder = Http01Responder::Create(
        opts,
        [tokens = tokens_](std::string_view h, std::string_view t) { return tokens->Find(h, t); });
    if (!responder.ok() || !(*responder)->Start().ok()) {
      start_error_ = new std::string("responder did not start");
      return;
    }
    responder_ = std::move(responder).value().release();
    auto pebble = testing::Pebble::Start(
        {{"PEBBLE_VA_NOSLEEP", "1"}, {"PEBBLE_AUTHZREUSE", "0"}, {"PEBBLE_ALTERNATE_ROOTS", "1"}},
        {}, {"-dnsserver", named_->server().ToString()}, responder_->port());
    if (!pebble.ok()) {
      start_error_ = new std::string("pebble: " + pebble.error().ToString());
      return;
    }
    pebble_ = std::move(pebble).value().release();
  }
  static void TearDownTestSuite() {
    delete pebble_;
    pebble_ = nullptr;
    delete responder_;
    responder_ = nullptr;
    delete tokens_;
    tokens_ = nullptr;
    delete named_;
    named_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(pebble_, nullptr) << "could not start the servers: "
                                << (start_error_ ? *start_error_ : "");
    client_ = Connect();
    ASSERT_NE(client_, nullptr);
  }

  std::unique_ptr<Client> Connect() {
    ClientOptions opts;
    opts.directory_url = pebble_->directory_url();
    opts.trust_pem = pebble_->listener_ca_pem();
    opts.request_timeout = milliseconds(10000);
    opts.poll_min_interval = milliseconds(20);
    opts.poll_max_interval = milliseconds(250);
    opts.poll_timeout = std::chrono::seconds(20);
    auto key = std::make_shared<const crypto::PrivateKey>(
        std::move(crypto::PrivateKey::Generate(crypto::KeyType::kP256)).value());
    auto client = Client::Create(
        std::move(opts), clock_, [](milliseconds d) { std::this_thread::sleep_for(d); }, key);
    EXPECT_TRUE(client.ok()) << client.error().ToString();
    if (!client.ok()) return nullptr;
    auto account = (*client)->NewAccount({.terms_of_service_agreed = true});
    EXPECT_TRUE(account.ok()) << account.error().ToString();
    return account.ok() ? std::move(client).value() : nullptr;
  }

  static crypto::PrivateKey CertKey() {
    return std::move(crypto::PrivateKey::Generate(crypto::KeyType::kP256)).value();
  }

  static SolverFor Http01Only(Http01Solver& solver) {
    return [&solver](std::string_view) -> Result<ChallengeSolvers> {
      return ChallengeSolvers{.http01 = &solver};
    };
  }

  static Result<x509::Certificate> Root(int index) {
    CF_ASSIGN_OR_RETURN(std::string pem, pebble_->RootPem(index));
    return x509::Certificate::FromPem(pem);
  }

  static void ExpectVerifies(const CertificateChain& chain, int root_index,
                             std::vector<std::string> names) {
    ASSERT_GE(chain.certificates.size(), 2u);
    const x509::Certificate& leaf = chain.certificates.front();
    std::vector<std::string> sans = leaf.dns_names();
    std::sort(sans.begin(), sans.end());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(sans, names);
    auto root = Root(root_index);
    ASSERT_TRUE(root.ok()) << root.error().ToString();
    std::vector<x509::Certificate> intermediates(chain.certificates.begin() + 1,
                                                 chain.certificates.end());
    Status verified = x509::VerifyChain(
        leaf, intermediates, {*root}, std::chrono::system_clock::now(), x509::Purpose::kServerAuth);
    EXPECT_TRUE(verified.ok()) << verified.error().ToString();
  }

  static dns::testing::TestingNamed* named_;
  static Http01TokenMap* tokens_;
  static Http01Responder* responder_;
  static testing::Pebble* pebble_;
  static std::string* start_error_;
  SystemClock clock_;
  std::unique_ptr<Client> client_;
};

dns::testing::TestingNamed* Http01PebbleTest::named_ = nullptr;
Http01TokenMap* Http01PebbleTest::tokens_ = nullptr;
Http01Responder* Http01PebbleTest::responder_ = nullptr;
testing::Pebble* Http01PebbleTest::pebble_ = nullptr;
std::string* Http01PebbleTest::start_error_ = nullptr;

TEST_F(Http01PebbleTest, TwoNamesIssuedThroughHttp01AndTokensRemoved) {
  std::vector<std::string> steps;
  std::vector<std::string> order_urls;
  IssueOptions options;
  options.on_step = [&](std::string_view step) { steps.emplace_back(step); };
  options.on_order = [&](const std::string& url) { order_urls.push_back(url); };
  crypto::PrivateKey cert_key = CertKey();
  const std::vector<std::string> names = {"h1.example.test", "h2.example.test"};
  auto issued = IssueOrder(*client_, Http01Only(*tokens_), names, cert_key, options);
  ASSERT_TRUE(issued.ok()) << issued.error().ToString() << "\n" << pebble_->LogTail();
  ExpectVerifies(issued->chain, 0, names);
  auto leaf_key = issued->chain.certificates.front().public_key();
  ASSERT_TRUE(leaf_key.ok());
  EXPECT_EQ(leaf_key->spki_der(), cert_key.public_key().spki_der());
  EXPECT_EQ(tokens_->size(), 0u);
  ASSERT_EQ(order_urls.size(), 1u);
  EXPECT_EQ(order_urls.front(), issued->order_url);
  // on_order came before any challenge was answered.
  auto presenting = std::find(steps.begin(), steps.end(), "presenting http-01 resources");
  EXPECT_NE(presenting, steps.end());
  EXPECT_NE(std::find(steps.begin(), steps.end(), "removing http-01 resources"), steps.end());
  EXPECT_EQ(std::find(steps.begin(), steps.end(), "presenting dns-01 records"), steps.end());
  EXPECT_EQ(steps.back(), "downloading certificate");
}

TEST_F(Http01PebbleTest, WrongKeyAuthorizationFailsWithTheCasProblem) {
  WrongHttp01Solver wrong(*tokens_);
  crypto::PrivateKey cert_key = CertKey();
  const auto start = std::chrono::steady_clock::now();
  auto issued = IssueOrder(*client_, Http01Only(wrong), {"wrong.example.test"}, cert_key);
  ASSERT_FALSE(issued.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  const std::string message = issued.error().ToString();
  RecordProperty("error", message);
  EXPECT_NE(message.find("validating http-01 for wrong.example.test: the CA refused: "),
            std::string::npos)
      << message;
  EXPECT_EQ(tokens_->size(), 0u);
}

TEST_F(Http01PebbleTest, WildcardWithOnlyHttp01FailsNamingTheOfferedTypes) {
  FailingHttp01Solver unused;
  crypto::PrivateKey cert_key = CertKey();
  auto issued = IssueOrder(*client_, Http01Only(unused), {"*.wild.example.test"}, cert_key);
  ASSERT_FALSE(issued.ok());
  EXPECT_EQ(issued.error().code(), ErrorCode::kFailedPrecondition);
  const std::string message = issued.error().message();
  EXPECT_NE(message.find("*.wild.example.test"), std::string::npos) << message;
  EXPECT_NE(message.find("dns-01"), std::string::npos) << message;
  EXPECT_NE(message.find("wildcard"), std::string::npos) << message;
  EXPECT_EQ(unused.presents_, 0);
}

TEST_F(Http01PebbleTest, Dns01IsPreferredWhenBothSolversAreGiven) {
  class FailingDns01 : public Dns01Solver {
   public:
    Status Present(std::string_view, std::string_view) override { return Unavailable("dns down"); }
    Status CleanUp(std::string_view, std::string_view) override { return Ok(); }
  } dns;
  FailingHttp01Solver http;
  crypto::PrivateKey cert_key = CertKey();
  auto issued = IssueOrder(
      *client_,
      [&](std::string_view) -> Result<ChallengeSolvers> {
        return ChallengeSolvers{.dns01 = &dns, .http01 = &http};
      },
      {"both.example.test"}, cert_key);
  ASSERT_FALSE(issued.ok());
  EXPECT_EQ(issued.error().message(), "presenting dns-01 record for both.example.test: dns down");
  EXPECT_EQ(http.presents_, 0);
}

TEST_F(Http01PebbleTest, SolverForErrorNamesTheIdentifier) {
  crypto::PrivateKey cert_key = CertKey();
  auto issued = IssueOrder(
      *client_,
      [](std::string_view id) -> Result<ChallengeSolvers> {
        return NotFound("no solver configured for " + std::string(id));
      },
      {"nosolver.example.test"}, cert_key);
  ASSERT_FALSE(issued.ok());
  EXPECT_EQ(issued.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(issued.error().message().find("choosing a solver for nosolver.example.test"),
            std::string::npos);
}

TEST_F(Http01PebbleTest, ResumeAfterFailedPresentEndsIssuedOnTheSameOrder) {
  FailingHttp01Solver failing;
  std::string saved_url;
  IssueOptions first;
  first.on_order = [&](const std::string& url) { saved_url = url; };
  crypto::PrivateKey cert_key = CertKey();
  auto aborted =
      IssueOrder(*client_, Http01Only(failing), {"resume.example.test"}, cert_key, first);
  ASSERT_FALSE(aborted.ok());
  EXPECT_EQ(aborted.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(failing.presents_, 1);
  EXPECT_EQ(failing.cleanups_, 1);
  ASSERT_FALSE(saved_url.empty());

  // "After the crash": a new client for the same account resumes the saved order.
  std::vector<std::string> steps;
  IssueOptions second;
  second.resume_order_url = saved_url;
  second.on_step = [&](std::string_view step) { steps.emplace_back(step); };
  auto issued =
      IssueOrder(*client_, Http01Only(*tokens_), {"resume.example.test"}, cert_key, second);
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();
  EXPECT_EQ(issued->order_url, saved_url);
  ExpectVerifies(issued->chain, 0, {"resume.example.test"});
  EXPECT_EQ(std::find(steps.begin(), steps.end(), "creating order"), steps.end());
  EXPECT_EQ(steps.front(), "resuming order");
}

TEST_F(Http01PebbleTest, ResumeOfAReadyOrderFinalizesWithoutChallenges) {
  // Validate by hand up to "ready", as if the process died just before finalizing.
  auto order = client_->NewOrder({.identifiers = {{"dns", "ready.example.test"}}});
  ASSERT_TRUE(order.ok()) << order.error().ToString();
  for (const std::string& url : order->authorizations) {
    auto authz = client_->GetAuthorization(url);
    ASSERT_TRUE(authz.ok());
    const Challenge* challenge = authz->Find("http-01");
    ASSERT_NE(challenge, nullptr);
    auto ka = client_->KeyAuthorization(challenge->token);
    ASSERT_TRUE(ka.ok());
    ASSERT_TRUE(tokens_->Present(authz->identifier.value, challenge->token, *ka).ok());
    ASSERT_TRUE(client_->RespondToChallenge(*challenge).ok());
    auto done = client_->WaitAuthorization(url);
    ASSERT_TRUE(done.ok()) << done.error().ToString();
    ASSERT_TRUE(tokens_->CleanUp(authz->identifier.value, challenge->token).ok());
  }
  auto ready = client_->WaitOrder(order->url);
  ASSERT_TRUE(ready.ok());
  ASSERT_EQ(ready->status, "ready");

  FailingHttp01Solver never_called;
  std::vector<std::string> steps;
  IssueOptions options;
  options.resume_order_url = order->url;
  options.on_step = [&](std::string_view step) { steps.emplace_back(step); };
  crypto::PrivateKey cert_key = CertKey();
  auto issued =
      IssueOrder(*client_, Http01Only(never_called), {"ready.example.test"}, cert_key, options);
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();
  EXPECT_EQ(issued->order_url, order->url);
  EXPECT_EQ(never_called.presents_, 0);
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.front(), "resuming order");
  EXPECT_NE(std::find(steps.begin(), steps.end(), "finalizing"), steps.end());
  EXPECT_EQ(std::find(steps.begin(), steps.end(), "fetching authorizations"), steps.end());
  EXPECT_EQ(std::find(steps.begin(), steps.end(), "creating order"), steps.end());
  EXPECT_EQ(steps.back(), "downloading certificate");
}

TEST_F(Http01PebbleTest, ResumeOfAValidOrderOnlyDownloads) {
  crypto::PrivateKey cert_key = CertKey();
  auto first = IssueOrder(*client_, Http01Only(*tokens_), {"valid.example.test"}, cert_key);
  ASSERT_TRUE(first.ok()) << first.error().ToString();

  FailingHttp01Solver never_called;
  std::vector<std::string> steps;
  IssueOptions options;
  options.resume_order_url = first->order_url;
  options.on_step = [&](std::string_view step) { steps.emplace_back(step); };
  auto again =
      IssueOrder(*client_, Http01Only(never_called), {"valid.example.test"}, cert_key, options);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(again->order_url, first->order_url);
  EXPECT_EQ(again->chain.certificates.front().der(), first->chain.certificates.front().der());
  EXPECT_EQ(steps, (std::vector<std::string>{"resuming order", "downloading certificate"}));

  // The same order resumed with another certificate key: its certificate is useless, so a new
  // order is made (and reported through on_order).
  crypto::PrivateKey other_key = CertKey();
  std::vector<std::string> order_urls;
  IssueOptions other;
  other.resume_order_url = first->order_url;
  other.on_order = [&](const std::string& url) { order_urls.push_back(url); };
  auto fresh = IssueOrder(*client_, Http01Only(*tokens_), {"valid.example.test"}, other_key, other);
  ASSERT_TRUE(fresh.ok()) << fresh.error().ToString();
  EXPECT_NE(fresh->order_url, first->order_url);
  auto leaf_key = fresh->chain.certificates.front().public_key();
  ASSERT_TRUE(leaf_key.ok());
  EXPECT_EQ(leaf_key->spki_der(), other_key.public_key().spki_der());
  EXPECT_EQ(order_urls, (std::vector<std::string>{first->order_url, fresh->order_url}));
}

TEST_F(Http01PebbleTest, ResumeOfAnInvalidOrOtherOrderStartsANewOne) {
  WrongHttp01Solver wrong(*tokens_);
  std::string saved_url;
  IssueOptions first;
  first.on_order = [&](const std::string& url) { saved_url = url; };
  crypto::PrivateKey cert_key = CertKey();
  ASSERT_FALSE(
      IssueOrder(*client_, Http01Only(wrong), {"invalid.example.test"}, cert_key, first).ok());
  ASSERT_FALSE(saved_url.empty());

  IssueOptions second;
  second.resume_order_url = saved_url;
  auto issued =
      IssueOrder(*client_, Http01Only(*tokens_), {"invalid.example.test"}, cert_key, second);
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();
  EXPECT_NE(issued->order_url, saved_url);

  // An order for other names is not resumed either, nor is an unreadable URL.
  second.resume_order_url = issued->order_url;
  auto other = IssueOrder(*client_, Http01Only(*tokens_), {"other.example.test"}, cert_key, second);
  ASSERT_TRUE(other.ok()) << other.error().ToString();
  EXPECT_NE(other->order_url, issued->order_url);
  second.resume_order_url = issued->order_url + "-does-not-exist";
  auto unreadable =
      IssueOrder(*client_, Http01Only(*tokens_), {"invalid.example.test"}, cert_key, second);
  ASSERT_TRUE(unreadable.ok()) << unreadable.error().ToString();
}

TEST_F(Http01PebbleTest, PreferredChainPicksTheAlternateRoot) {
  auto root0 = Root(0);
  auto root1 = Root(1);
  ASSERT_TRUE(root0.ok() && root1.ok());
  const std::string cn0 = root0->subject_common_name();
  const std::string cn1 = root1->subject_common_name();
  ASSERT_FALSE(cn1.empty());
  ASSERT_NE(cn0, cn1);
  crypto::PrivateKey cert_key = CertKey();

  IssueOptions options;
  options.preferred_chain = cn1;
  auto alt = IssueOrder(*client_, Http01Only(*tokens_), {"chain.example.test"}, cert_key, options);
  ASSERT_TRUE(alt.ok()) << alt.error().ToString();
  ExpectVerifies(alt->chain, 1, {"chain.example.test"});
  EXPECT_EQ(alt->chain.certificates.back().issuer(), root1->subject());

  options.preferred_chain = cn0;
  auto dflt = IssueOrder(*client_, Http01Only(*tokens_), {"chain.example.test"}, cert_key, options);
  ASSERT_TRUE(dflt.ok()) << dflt.error().ToString();
  ExpectVerifies(dflt->chain, 0, {"chain.example.test"});

  options.preferred_chain = "No Such Root CA";
  auto none = IssueOrder(*client_, Http01Only(*tokens_), {"chain.example.test"}, cert_key, options);
  ASSERT_TRUE(none.ok()) << none.error().ToString();
  ExpectVerifies(none->chain, 0, {"chain.example.test"});
}

}  // namespace
}  // namespace certfleet::acme
