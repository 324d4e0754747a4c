#include "api/poll_hub.h"

#include <vector>

#include "api/problem.h"
#include "base/log.h"

namespace certfleet::api {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Runs a hub callback; exceptions stop here (the poll then gets its timeout answer).
template <typename Fn>
auto Guarded(Fn&& fn, const char* what) -> std::optional<decltype(fn())> {
  try {
    return fn();
  } catch (const std::exception& e) {
    log::Error("long poll callback threw", {{"callback", what}, {"error", e.what()}});
  } catch (...) {
    log::Error("long poll callback threw", {{"callback", what}});
  }
  return std::nullopt;
}

// When a callback threw: the agent polls again after Retry-After (problem.h).
net::HttpResponse NoAnswer() {
  return ProblemResponse(Unavailable("the long poll could not be answered").ForClients());
}

}  // namespace

PollHub::PollHub(std::chrono::milliseconds recheck) : recheck_(recheck) {}

PollHub::~PollHub() { Stop(); }

void PollHub::Start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void PollHub::Stop() {
  std::map<std::string, Waiter> rest;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lk(mu_);
    rest.swap(waiters_);
  }
  for (auto& [id, w] : rest) {
    auto r = Guarded([&] { return w.timeout(); }, "timeout");
    w.deferred->Complete(r ? std::move(*r) : NoAnswer());
  }
}

size_t PollHub::parked() const {
  std::lock_guard lk(mu_);
  return waiters_.size();
}

net::HttpResponse PollHub::Park(const std::string& agent_id, std::chrono::seconds wait, Check check,
                                Timeout timeout) {
  auto deferred = net::MakeDeferred();
  std::optional<Waiter> old;
  {
    std::lock_guard lk(mu_);
    if (stopping_ || !thread_.joinable()) return timeout();
    auto it = waiters_.find(agent_id);
    if (it != waiters_.end()) old = std::move(it->second);
    waiters_[agent_id] =
        Waiter{deferred, SteadyClock::now() + wait, std::move(check), std::move(timeout)};
    dirty_.insert(agent_id);
  }
  cv_.notify_one();
  // At debug level only (one line per idle poll); the e2e tests wait for it before revoking.
  log::Debug("long poll parked", {{"agent_id", agent_id}});
  if (old) {
    auto r = Guarded([&] { return old->timeout(); }, "timeout");
    old->deferred->Complete(r ? std::move(*r) : NoAnswer());
  }
  net::HttpResponse response;
  response.deferred = std::move(deferred);
  return response;
}

void PollHub::Notify(const std::string& agent_id) {
  {
    std::lock_guard lk(mu_);
    if (waiters_.count(agent_id) == 0) return;
    dirty_.insert(agent_id);
  }
  cv_.notify_one();
}

void PollHub::Run() {
  std::unique_lock lk(mu_);
  auto next_recheck = SteadyClock::now() + recheck_;
  while (!stopping_) {
    auto wake = next_recheck;
    for (const auto& [id, w] : waiters_) wake = std::min(wake, w.deadline);
    cv_.wait_until(lk, wake, [&] { return stopping_ || !dirty_.empty(); });
    if (stopping_) break;
    const auto now = SteadyClock::now();
    if (now >= next_recheck) {
      for (const auto& [id, w] : waiters_) dirty_.insert(id);
      next_recheck = now + recheck_;
    }
    std::vector<Waiter> expired;
    std::vector<std::pair<std::string, Waiter>> to_check;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second));
        it = waiters_.erase(it);
      } else if (dirty_.count(it->first) != 0) {
        to_check.emplace_back(it->first, std::move(it->second));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
    dirty_.clear();
    lk.unlock();
    for (Waiter& w : expired) {
      auto r = Guarded([&] { return w.timeout(); }, "timeout");
      w.deferred->Complete(r ? std::move(*r) : NoAnswer());
    }
    std::vector<Waiter> superseded;
    for (auto& [id, w] : to_check) {
      auto found = Guarded([&] { return w.check(); }, "check");
      if (found && *found) {
        w.deferred->Complete(std::move(**found));
        continue;
      }
      std::lock_guard relock(mu_);
      // A newer poll of the same agent arrived while we checked: it wins.
      if (waiters_.count(id) != 0 || stopping_) {
        superseded.push_back(std::move(w));
      } else {
        waiters_.emplace(id, std::move(w));
      }
    }
    for (Waiter& w : superseded) {
      auto r = Guarded([&] { return w.timeout(); }, "timeout");
      w.deferred->Complete(r ? std::move(*r) : NoAnswer());
    }
    lk.lock();
  }
}

}  // namespace certfleet::api
