// What replicas on one PostgreSQL database share besides tables (store.h "Cross-replica
// coordination"): advisory-lock leadership and LISTEN/NOTIFY. Private to the backend.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "store/postgres/conn.h"
#include "store/store.h"

namespace certfleet::store::postgres {

// A 64-bit key for an advisory lock or a channel: FNV-1a of `text`.
int64_t AdvisoryKey(const std::string& text);

// pg_try_advisory_lock on a connection of its own. Hold() checks that the connection is alive
// (a lost session has lost the lock) and tries to take the lock when it is not held.
class AdvisoryLeadership final : public Leadership {
 public:
  AdvisoryLeadership(ConnectOptions options, std::string name);
  ~AdvisoryLeadership() override;
  Result<bool> Hold() override;
  void Release() override;

 private:
  const ConnectOptions options_;
  const std::string name_;
  const int64_t key_;
  std::mutex mu_;
  std::unique_ptr<PgConn> conn_;  // guarded by mu_
  bool held_ = false;             // guarded by mu_
};

// One LISTEN connection per store and a thread that waits on its socket and hands each
// notification to the channel's subscribers. A lost connection is reopened (every channel is
// listened to again) after a short pause; notifications sent meanwhile are lost, which the
// subscribers' periodic rechecks cover.
class Listener {
 public:
  explicit Listener(ConnectOptions options, std::string prefix);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // The server-side channel name for `channel` (prefixed with the store's schema).
  std::string ChannelName(const std::string& channel) const { return prefix_ + channel; }
  Status Subscribe(const std::string& channel, std::function<void(const std::string&)> fn);

 private:
  void Run();
  // Opens the connection and LISTENs to every channel; false (and no connection) on failure.
  bool Connect();

  const ConnectOptions options_;
  const std::string prefix_;
  int wake_fd_ = -1;  // an eventfd: a new channel, or stop
  std::mutex mu_;
  std::map<std::string, std::vector<std::function<void(const std::string&)>>>
      subscribers_;               // by server-side channel name; guarded by mu_
  bool channels_dirty_ = false;   // guarded by mu_
  std::unique_ptr<PgConn> conn_;  // used by the thread only
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace certfleet::store::postgres
