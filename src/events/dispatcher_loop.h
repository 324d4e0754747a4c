// DispatcherLoop: runs Dispatcher::RunOnce on one background thread until stopped, for
// certfleetd. After a pass that found work it goes again at once; after an idle pass or an error
// it waits `idle_wait` (or until Stop). Thread-safe: Stop may be called from any thread except
// the loop's own, and more than once; the destructor calls it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "events/dispatcher.h"

namespace certfleet::events {

class DispatcherLoop {
 public:
  DispatcherLoop(Dispatcher& dispatcher,
                 std::chrono::milliseconds idle_wait = std::chrono::milliseconds(250));
  ~DispatcherLoop() { Stop(); }
  DispatcherLoop(const DispatcherLoop&) = delete;
  DispatcherLoop& operator=(const DispatcherLoop&) = delete;
  // Waits for the current pass (bounded by the HTTP client's timeout per delivery) to finish.
  void Stop();

 private:
  void Run();

  Dispatcher& dispatcher_;
  const std::chrono::milliseconds idle_wait_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace certfleet::events
