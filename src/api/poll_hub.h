// PollHub: agents' long polls (GET /v1/agent/jobs?wait=N). A poll with nothing to do is parked
// as a deferred response (net::DeferredResponse), so a waiting agent holds a connection but no
// worker thread. The hub's own thread answers a parked poll when the lifecycle layer says the
// agent has new work (AgentNotifier::Notify, called after the commit), when its wait runs out,
// or at the latest every recheck interval (work queued by another replica, or a notification
// lost in a crash, is found that way). One parked poll per agent: a newer one answers the older
// with no jobs. A revoked or disabled agent's parked poll is answered at once too: revocation
// notifies the hub, and the route's check answers 401 (routes_agents.cc). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "lifecycle/deployment_service.h"
#include "net/http.h"

namespace certfleet::api {

class PollHub final : public lifecycle::AgentNotifier {
 public:
  // Looks for work: a response to send now, or nullopt to keep waiting. Runs on the hub thread.
  using Check = std::function<std::optional<net::HttpResponse>()>;
  // The answer when the wait runs out (or the hub stops).
  using Timeout = std::function<net::HttpResponse()>;

  explicit PollHub(std::chrono::milliseconds recheck = std::chrono::seconds(5));
  ~PollHub() override;
  PollHub(const PollHub&) = delete;
  PollHub& operator=(const PollHub&) = delete;

  void Start();
  // Answers every parked poll with its timeout response and joins the thread. Idempotent.
  void Stop();

  // Parks a poll of `agent_id` for at most `wait`; returns the response the handler must return
  // (its `deferred` is set). `check` runs once on the hub thread right after parking (closing
  // the race with a Notify that came between the handler's own check and this call).
  net::HttpResponse Park(const std::string& agent_id, std::chrono::seconds wait, Check check,
                         Timeout timeout);

  void Notify(const std::string& agent_id) override;

  size_t parked() const;

 private:
  struct Waiter {
    std::shared_ptr<net::DeferredResponse> deferred;
    std::chrono::steady_clock::time_point deadline;
    Check check;
    Timeout timeout;
  };
  void Run();

  const std::chrono::milliseconds recheck_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Waiter> waiters_;  // by agent id; guarded by mu_
  std::set<std::string> dirty_;            // agents to check; guarded by mu_
  bool stopping_ = false;                  // guarded by mu_
  std::thread thread_;
};

}  // namespace certfleet::api
