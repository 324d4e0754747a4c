// A small pool of database connections of type C (SQLite's readers, PostgreSQL's connections).
// Connections are opened on demand up to `max_connections`, reused, and closed when the pool
// dies.
//
// Thread-safe. A Lease is owned by one thread at a time and may be handed between threads; it
// keeps the pool alive (shared ownership), so a Tx can never outlive its connection.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "base/error.h"

namespace certfleet::store::sql {

template <typename C>
class Pool : public std::enable_shared_from_this<Pool<C>> {
 public:
  // Opens and configures one new connection.
  using Opener = std::function<Result<std::unique_ptr<C>>()>;

  // `wait` bounds the wait for a free connection.
  static std::shared_ptr<Pool> Create(Opener opener, int max_connections,
                                      std::chrono::milliseconds wait) {
    CF_CHECK(max_connections > 0);
    return std::shared_ptr<Pool>(new Pool(std::move(opener), max_connections, wait));
  }

  // Exclusive use of one connection until destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept
        : pool_(std::move(other.pool_)), db_(std::move(other.db_)), discard_(other.discard_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (!pool_) return;         // moved from
      if (discard_) db_.reset();  // closed here, outside the pool's lock
      pool_->Release(std::move(db_));
    }
    C& db() { return *db_; }
    // The connection is in an unknown state: close it instead of reusing it.
    void Discard() { discard_ = true; }

   private:
    friend class Pool;
    Lease(std::shared_ptr<Pool> pool, std::unique_ptr<C> db)
        : pool_(std::move(pool)), db_(std::move(db)) {}
    std::shared_ptr<Pool> pool_;
    std::unique_ptr<C> db_;
    bool discard_ = false;
  };

  // A connection. Unavailable (retryable) when the wait runs out; the opener's error if a new
  // connection cannot be opened.
  Result<Lease> Acquire() {
    const auto deadline = std::chrono::steady_clock::now() + wait_;
    std::unique_lock lock(mu_);
    if (!cv_.wait_until(lock, deadline, [&] { return !idle_.empty() || open_ < max_; })) {
      return Unavailable("store: timed out waiting for a database connection").WithRetry();
    }
    if (!idle_.empty()) {
      auto db = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this->shared_from_this(), std::move(db));
    }
    // Open outside the lock: it may touch the file system or the network, and wait.
    ++open_;
    lock.unlock();
    auto db = opener_();
    if (!db.ok()) {
      lock.lock();
      --open_;
      cv_.notify_all();
      return std::move(db).error();
    }
    return Lease(this->shared_from_this(), std::move(db).value());
  }

  // Adds an already opened connection (the one that ran migrations) to the idle list.
  void Adopt(std::unique_ptr<C> db) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(db));
    ++open_;
  }

 private:
  Pool(Opener opener, int max_connections, std::chrono::milliseconds wait)
      : opener_(std::move(opener)), max_(max_connections), wait_(wait) {}
  void Release(std::unique_ptr<C> db) {
    {
      std::lock_guard lock(mu_);
      if (db) {
        idle_.push_back(std::move(db));
      } else {
        --open_;
      }
    }
    cv_.notify_all();
  }

  const Opener opener_;
  const int max_;
  const std::chrono::milliseconds wait_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<C>> idle_;  // guarded by mu_
  int open_ = 0;                          // connections idle or leased; guarded by mu_
};

}  // namespace certfleet::store::sql
