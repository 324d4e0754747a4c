#include "events/dispatcher_loop.h"

#include "base/log.h"

namespace certfleet::events {

DispatcherLoop::DispatcherLoop(Dispatcher& dispatcher, std::chrono::milliseconds idle_wait)
    : dispatcher_(dispatcher), idle_wait_(idle_wait), thread_([this] { Run(); }) {}

void DispatcherLoop::Stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DispatcherLoop::Run() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    lk.unlock();
    auto stats = dispatcher_.RunOnce();
    if (!stats.ok()) log::Warn("event dispatcher", {{"error", stats.error().ToString()}});
    const bool busy = stats.ok() && !stats->idle();
    lk.lock();
    if (!busy) cv_.wait_for(lk, idle_wait_, [this] { return stop_; });
  }
}

}  // namespace certfleet::events
