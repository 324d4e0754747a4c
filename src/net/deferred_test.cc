// Deferred (long-poll) responses: DeferredResponse on its own, then through the real HttpsServer
// and HttpsClient on loopback. Every server binds port 0; waits are bounded by generous limits.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "net/http.h"
#include "net/https_client.h"
#include "net/https_server.h"
#include "net/internal.h"
#include "net/test_tls.h"

namespace certfleet::net {
namespace {

using namespace std::chrono_literals;
using testing::MakeCa;
using testing::MakeLeaf;
using testing::RawTlsClient;
using testing::TestCert;

HttpResponse Text(std::string body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.headers["Content-Type"] = "text/plain";
  r.body = std::move(body);
  return r;
}

HttpResponse Later(std::shared_ptr<DeferredResponse> deferred) {
  HttpResponse r = Text("ignored: the deferred answer replaces this", 500);
  r.deferred = std::move(deferred);
  return r;
}

// The requests a handler parked, with their targets, so the test can complete them later.
class Parked {
 public:
  void Add(std::string target, std::shared_ptr<DeferredResponse> deferred) {
    std::lock_guard lock(mu_);
    parked_.emplace_back(std::move(target), std::move(deferred));
    cv_.notify_all();
  }
  bool WaitFor(size_t count, std::chrono::seconds limit = 30s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return parked_.size() >= count; });
  }
  std::vector<std::pair<std::string, std::shared_ptr<DeferredResponse>>> Take() {
    std::lock_guard lock(mu_);
    return std::move(parked_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<std::string, std::shared_ptr<DeferredResponse>>> parked_;
};

// --- DeferredResponse alone -----------------------------------------------------------------

struct Delivered {
  int calls = 0;
  HttpResponse last;
};

std::function<void(HttpResponse)> Recorder(Delivered& out) {
  return [&out](HttpResponse r) {
    ++out.calls;
    out.last = std::move(r);
  };
}

TEST(DeferredResponseTest, CompleteAfterAttachDeliversOnceFirstCallWins) {
  Delivered got;
  auto deferred = MakeDeferred();
  ASSERT_TRUE(internal::DeferredAccess::Attach(*deferred, Recorder(got)));
  EXPECT_EQ(got.calls, 0);
  EXPECT_FALSE(deferred->completed());
  EXPECT_TRUE(deferred->Complete(Text("first")));
  EXPECT_FALSE(deferred->Complete(Text("second")));
  EXPECT_TRUE(deferred->completed());
  deferred.reset();  // completed: the destructor adds nothing
  EXPECT_EQ(got.calls, 1);
  EXPECT_EQ(got.last.body, "first");
}

TEST(DeferredResponseTest, CompleteBeforeAttachDeliversOnAttach) {
  Delivered got;
  auto deferred = MakeDeferred();
  EXPECT_TRUE(deferred->Complete(Text("early")));
  EXPECT_FALSE(deferred->Complete(Text("late")));
  ASSERT_TRUE(internal::DeferredAccess::Attach(*deferred, Recorder(got)));
  EXPECT_EQ(got.calls, 1);
  EXPECT_EQ(got.last.body, "early");
  // A second attach (one object returned for two requests) is refused and never delivers.
  Delivered second;
  EXPECT_FALSE(internal::DeferredAccess::Attach(*deferred, Recorder(second)));
  EXPECT_EQ(second.calls, 0);
}

TEST(DeferredResponseTest, DroppedUncompletedDelivers503) {
  Delivered got;
  auto deferred = MakeDeferred();
  ASSERT_TRUE(internal::DeferredAccess::Attach(*deferred, Recorder(got)));
  deferred.reset();
  EXPECT_EQ(got.calls, 1);
  EXPECT_EQ(got.last.status, 503);
  EXPECT_NE(got.last.body.find("urn:certfleet:problem:unavailable"), std::string::npos);

  // Never attached: nobody waits, nothing to deliver (and nothing crashes).
  MakeDeferred().reset();
  auto unreturned = MakeDeferred();
  EXPECT_TRUE(unreturned->Complete(Text("x")));
}

TEST(DeferredResponseTest, ResponseNamingItselfDoesNotLeak) {
  Delivered got;
  auto deferred = MakeDeferred();
  HttpResponse loop = Text("loop");
  loop.deferred = deferred;
  EXPECT_TRUE(deferred->Complete(std::move(loop)));
  ASSERT_TRUE(internal::DeferredAccess::Attach(*deferred, Recorder(got)));
  EXPECT_EQ(got.last.deferred, nullptr);
  EXPECT_EQ(deferred.use_count(), 1);  // LeakSanitizer would also catch a cycle
}

// --- Through the server ---------------------------------------------------------------------

class DeferredServerTest : public ::testing::Test {
 protected:
  DeferredServerTest()
      : ca_(MakeCa("certfleet test CA")),
        server_cert_(MakeLeaf(ca_, "server", "IP:127.0.0.1,DNS:localhost", /*server=*/true)) {}

  std::unique_ptr<HttpsServer> StartServer(Handler handler,
                                           const std::function<void(ServerOptions&)>& tweak = {}) {
    ServerOptions options;
    options.port = 0;
    options.cert_chain_pem = server_cert_.cert_pem;
    options.key_pem = SecretBytes::FromView(server_cert_.key_pem);
    options.io_threads = 1;
    options.worker_threads = 2;
    if (tweak) tweak(options);
    auto server = HttpsServer::Create(std::move(options), std::move(handler));
    if (!server.ok()) {
      ADD_FAILURE() << server.error().ToString();
      return nullptr;
    }
    EXPECT_TRUE((*server)->Start().ok());
    return std::move(server).value();
  }

  std::unique_ptr<HttpsClient> MakeClient() {
    ClientOptions options;
    options.trust_pem = ca_.cert_pem;
    options.timeout = 30s;
    auto client = HttpsClient::Create(std::move(options));
    if (!client.ok()) {
      ADD_FAILURE() << client.error().ToString();
      return nullptr;
    }
    return std::move(client).value();
  }

  std::string UrlFor(const HttpsServer& server, const std::string& target) {
    return "https://127.0.0.1:" + std::to_string(server.port()) + target;
  }

  // Parks every request under /wait; answers anything else at once with its target.
  Handler ParkingHandler() {
    return [this](const HttpRequest& req) {
      if (req.path() != "/wait") return Text("now " + req.target);
      auto deferred = MakeDeferred();
      parked_.Add(req.target, deferred);
      return Later(std::move(deferred));
    };
  }

  TestCert ca_;
  TestCert server_cert_;
  Parked parked_;
};

// 50 requests wait at once on a server with two workers: if a parked request held a worker, only
// two would ever reach the handler and the wait for 50 would time out.
TEST_F(DeferredServerTest, ParkedRequestsHoldNoWorkerThread) {
  constexpr int kClients = 50;
  auto server = StartServer(ParkingHandler());
  auto client = MakeClient();

  std::vector<std::thread> clients;
  std::vector<Result<HttpResponse>> results(kClients, Internal("not run"));
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      results[i] = client->Do("GET", UrlFor(*server, "/wait?n=" + std::to_string(i)), {}, "");
    });
  }
  ASSERT_TRUE(parked_.WaitFor(kClients)) << "requests did not all reach the handler";
  // Still parked: nobody has answered.
  auto waiting = parked_.Take();
  for (auto& [target, deferred] : waiting) EXPECT_FALSE(deferred->completed());

  std::thread completer([&] {
    for (auto& [target, deferred] : waiting) {
      EXPECT_TRUE(deferred->Complete(Text("done " + target, 201)));
      EXPECT_FALSE(deferred->Complete(Text("again")));
    }
  });
  completer.join();
  for (auto& t : clients) t.join();
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].error().ToString();
    EXPECT_EQ(results[i]->status, 201);
    EXPECT_EQ(results[i]->body, "done /wait?n=" + std::to_string(i));
    EXPECT_EQ(results[i]->headers["cache-control"], "no-store");
  }
}

TEST_F(DeferredServerTest, CompletedBeforeTheServerAttachesIsSentAtOnce) {
  std::mutex mu;
  std::vector<std::thread> racers;
  auto server = StartServer([&](const HttpRequest& req) {
    auto deferred = MakeDeferred();
    if (req.path() == "/race") {
      // Completes while the server attaches, on either side of it.
      std::lock_guard lock(mu);
      racers.emplace_back([deferred, target = req.target] { deferred->Complete(Text(target)); });
    } else {
      EXPECT_TRUE(deferred->Complete(Text("early", 202)));
    }
    return Later(std::move(deferred));
  });
  auto client = MakeClient();

  auto res = client->Do("GET", UrlFor(*server, "/early"), {}, "");
  ASSERT_TRUE(res.ok()) << res.error().ToString();
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(res->body, "early");

  for (int i = 0; i < 20; ++i) {
    std::string target = "/race?i=" + std::to_string(i);
    auto raced = client->Do("GET", UrlFor(*server, target), {}, "");
    ASSERT_TRUE(raced.ok()) << raced.error().ToString();
    EXPECT_EQ(raced->body, target);
  }
  std::lock_guard lock(mu);
  for (auto& t : racers) t.join();
}

TEST_F(DeferredServerTest, DroppingWithoutCompleteAnswers503) {
  auto server = StartServer([this](const HttpRequest& req) {
    auto deferred = MakeDeferred();
    if (req.path() == "/keep") parked_.Add(req.target, deferred);
    return Later(std::move(deferred));  // "/drop": the server holds the last reference
  });
  auto client = MakeClient();

  auto dropped = client->Do("GET", UrlFor(*server, "/drop"), {}, "");
  ASSERT_TRUE(dropped.ok()) << dropped.error().ToString();
  EXPECT_EQ(dropped->status, 503);
  EXPECT_EQ(dropped->headers["content-type"], "application/problem+json");
  EXPECT_NE(dropped->body.find("urn:certfleet:problem:unavailable"), std::string::npos);

  // Dropped later, from another thread.
  Result<HttpResponse> kept = Internal("not run");
  std::thread waiter([&] { kept = client->Do("GET", UrlFor(*server, "/keep"), {}, ""); });
  ASSERT_TRUE(parked_.WaitFor(1));
  std::thread([taken = parked_.Take()]() mutable { taken.clear(); }).join();
  waiter.join();
  ASSERT_TRUE(kept.ok()) << kept.error().ToString();
  EXPECT_EQ(kept->status, 503);
}

TEST_F(DeferredServerTest, OneDeferredReturnedForTwoRequestsAnswersTheSecond500) {
  auto shared = MakeDeferred();
  std::atomic<int> calls{0};
  auto server = StartServer([&](const HttpRequest&) {
    ++calls;
    return Later(shared);
  });
  auto client = MakeClient();
  Result<HttpResponse> first = Internal("not run");
  Result<HttpResponse> second = Internal("not run");
  std::thread a([&] { first = client->Do("GET", UrlFor(*server, "/a"), {}, ""); });
  std::thread b([&] { second = client->Do("GET", UrlFor(*server, "/b"), {}, ""); });
  while (calls.load() < 2) std::this_thread::sleep_for(5ms);
  // Whichever request attaches first (or takes the answer if Complete comes before both) gets
  // it; the other is refused with 500 instead of hanging.
  EXPECT_TRUE(shared->Complete(Text("real")));
  a.join();
  b.join();
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  std::multiset<int> statuses{first->status, second->status};
  EXPECT_EQ(statuses, (std::multiset<int>{200, 500}));
}

TEST_F(DeferredServerTest, StopAnswersParkedRequestsPromptly) {
  constexpr int kClients = 5;
  auto server = StartServer(ParkingHandler());
  auto client = MakeClient();
  std::vector<std::thread> clients;
  std::atomic<int> finished{0};
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      // 503 or a closed connection, depending on which reaches the strand first.
      auto res = client->Do("GET", UrlFor(*server, "/wait"), {}, "");
      if (!res.ok() || res->status == 503) ++finished;
    });
  }
  ASSERT_TRUE(parked_.WaitFor(kClients));

  auto start = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  for (auto& t : clients) t.join();
  EXPECT_EQ(finished.load(), kClients);

  // The handler's references outlive the server; completing or dropping them is harmless.
  auto waiting = parked_.Take();
  for (auto& [target, deferred] : waiting) {
    EXPECT_TRUE(deferred->completed());
    EXPECT_FALSE(deferred->Complete(Text("too late")));
  }
  server.reset();
  waiting.clear();
}

// Completions from another thread race Stop's own: each request is answered once, and Stop
// neither hangs nor touches freed memory (AddressSanitizer).
TEST_F(DeferredServerTest, StopRacingCompletionsIsSafe) {
  constexpr int kClients = 20;
  auto server = StartServer(ParkingHandler());
  auto client = MakeClient();
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] { (void)client->Do("GET", UrlFor(*server, "/wait"), {}, ""); });
  }
  ASSERT_TRUE(parked_.WaitFor(kClients));
  auto waiting = parked_.Take();
  std::atomic<int> won{0};
  std::thread completer([&] {
    for (auto& [target, deferred] : waiting) {
      if (deferred->Complete(Text("raced"))) ++won;
      std::this_thread::sleep_for(1ms);
    }
  });
  std::this_thread::sleep_for(5ms);
  auto start = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  completer.join();
  for (auto& t : clients) t.join();
  for (auto& [target, deferred] : waiting) EXPECT_TRUE(deferred->completed());
  EXPECT_LE(won.load(), kClients);
}

// A handler still running when Stop begins parks its request afterwards: Park answers it itself.
TEST_F(DeferredServerTest, StopAnswersRequestsParkedDuringStop) {
  std::atomic<bool> in_handler{false};
  auto server = StartServer([&](const HttpRequest& req) {
    in_handler = true;
    std::this_thread::sleep_for(500ms);  // Stop starts meanwhile
    auto deferred = MakeDeferred();
    parked_.Add(req.target, deferred);
    return Later(std::move(deferred));
  });
  auto client = MakeClient();
  std::thread waiter([&] { (void)client->Do("GET", UrlFor(*server, "/wait"), {}, ""); });
  while (!in_handler) std::this_thread::sleep_for(5ms);

  auto start = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  waiter.join();
  auto waiting = parked_.Take();
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_TRUE(waiting[0].second->completed());
  server.reset();
}

// Parked past both timeouts, then answered; the connection then serves a pipelined request and
// a further one. The socket deadline only runs while an operation is pending.
TEST_F(DeferredServerTest, ParkedRequestOutlivesTimeoutsAndKeepsTheConnection) {
  auto server = StartServer(ParkingHandler(), [](ServerOptions& o) {
    o.request_timeout_seconds = 1;
    o.idle_timeout_seconds = 1;
  });
  RawTlsClient conn;
  ASSERT_TRUE(conn.Connect(server->port()));
  // The second request is already in the server's buffer while the first is parked.
  ASSERT_TRUE(conn.Send(
      "GET /wait?first HTTP/1.1\r\nHost: x\r\n\r\nGET /pipelined HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(parked_.WaitFor(1));
  std::this_thread::sleep_for(2500ms);
  auto waiting = parked_.Take();
  ASSERT_EQ(waiting.size(), 1u);
  std::thread([&] { EXPECT_TRUE(waiting[0].second->Complete(Text("answered"))); }).join();

  auto first = conn.ReadResponse();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->rfind("HTTP/1.1 200", 0), 0u) << *first;
  EXPECT_NE(first->find("\r\n\r\nanswered"), std::string::npos);
  EXPECT_EQ(first->find("onnection: close"), std::string::npos) << *first;
  auto pipelined = conn.ReadResponse();
  ASSERT_TRUE(pipelined);
  EXPECT_NE(pipelined->find("\r\n\r\nnow /pipelined"), std::string::npos);

  ASSERT_TRUE(conn.Send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto after = conn.ReadResponse();
  ASSERT_TRUE(after);
  EXPECT_NE(after->find("\r\n\r\nnow /after"), std::string::npos);

  // And a second deferred request on the same connection.
  ASSERT_TRUE(conn.Send("GET /wait?second HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(parked_.WaitFor(1));
  for (auto& [target, deferred] : parked_.Take()) deferred->Complete(Text(target));
  auto second = conn.ReadResponse();
  ASSERT_TRUE(second);
  EXPECT_NE(second->find("\r\n\r\n/wait?second"), std::string::npos);
}

// A client that hangs up while parked is noticed only when its request is completed: the write
// fails (or lands in a dead socket) and the connection ends; the server keeps serving.
TEST_F(DeferredServerTest, ClientGoneWhileParkedDoesNotHurtTheServer) {
  auto server = StartServer(ParkingHandler());
  {
    RawTlsClient conn;
    ASSERT_TRUE(conn.Connect(server->port()));
    ASSERT_TRUE(conn.Send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(parked_.WaitFor(1));
  }  // closed
  auto waiting = parked_.Take();
  EXPECT_TRUE(waiting[0].second->Complete(Text("nobody listens")));
  auto res = MakeClient()->Do("GET", UrlFor(*server, "/ok"), {}, "");
  ASSERT_TRUE(res.ok()) << res.error().ToString();
  EXPECT_EQ(res->body, "now /ok");
  server->Stop();  // joins: the dead connection's coroutine has finished
}

}  // namespace
}  // namespace certfleet::net
