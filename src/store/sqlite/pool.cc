#include "store/sqlite/pool.h"

#include <utility>

namespace certfleet::store::sqlite {

std::shared_ptr<Pool> Pool::Create(Opener opener, int max_connections,
                                   std::chrono::milliseconds wait) {
  CF_CHECK(max_connections > 0);
  return std::shared_ptr<Pool>(new Pool(std::move(opener), max_connections, wait));
}

void Pool::Adopt(std::unique_ptr<Db> db) {
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(db));
  ++open_;
}

Result<Pool::Lease> Pool::Acquire() {
  const auto deadline = std::chrono::steady_clock::now() + wait_;
  std::unique_lock lock(mu_);
  if (!cv_.wait_until(lock, deadline, [&] { return !idle_.empty() || open_ < max_; })) {
    return Unavailable("sqlite: timed out waiting for a connection").WithRetry();
  }
  if (!idle_.empty()) {
    auto db = std::move(idle_.back());
    idle_.pop_back();
    return Lease(shared_from_this(), std::move(db));
  }
  // Open outside the lock: it touches the file system and may wait on SQLite's busy timeout.
  ++open_;
  lock.unlock();
  auto db = opener_();
  if (!db.ok()) {
    lock.lock();
    --open_;
    cv_.notify_all();
    return std::move(db).error();
  }
  return Lease(shared_from_this(), std::move(db).value());
}

void Pool::Release(std::unique_ptr<Db> db) {
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

Pool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::move(other.pool_)), db_(std::move(other.db_)), discard_(other.discard_) {}

Pool::Lease::~Lease() {
  if (!pool_) return;         // moved from
  if (discard_) db_.reset();  // closed here, outside the pool's lock
  pool_->Release(std::move(db_));
}

}  // namespace certfleet::store::sqlite
