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

Result<Pool::Lease> Pool::Acquire(bool writer) {
  const auto deadline = std::chrono::steady_clock::now() + wait_;
  std::unique_lock lock(mu_);
  if (writer) {
    if (!cv_.wait_until(lock, deadline, [&] { return !writer_busy_; })) {
      return Unavailable("sqlite: timed out waiting for the writer slot").WithRetry();
    }
    writer_busy_ = true;
  }
  auto give_up = [&](Error e) -> Error {
    if (writer) writer_busy_ = false;
    cv_.notify_all();
    return e;
  };
  if (!cv_.wait_until(lock, deadline, [&] { return !idle_.empty() || open_ < max_; })) {
    return give_up(Unavailable("sqlite: timed out waiting for a connection").WithRetry());
  }
  if (!idle_.empty()) {
    auto db = std::move(idle_.back());
    idle_.pop_back();
    return Lease(shared_from_this(), std::move(db), writer);
  }
  // Open outside the lock: it touches the file system and may wait on SQLite's busy timeout.
  ++open_;
  lock.unlock();
  auto db = opener_();
  if (!db.ok()) {
    lock.lock();
    --open_;
    return give_up(std::move(db).error());
  }
  return Lease(shared_from_this(), std::move(db).value(), writer);
}

void Pool::Release(std::unique_ptr<Db> db, bool writer) {
  {
    std::lock_guard lock(mu_);
    if (db) {
      idle_.push_back(std::move(db));
    } else {
      --open_;
    }
    if (writer) writer_busy_ = false;
  }
  cv_.notify_all();
}

Pool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::move(other.pool_)),
      db_(std::move(other.db_)),
      writer_(other.writer_),
      discard_(other.discard_) {}

Pool::Lease::~Lease() {
  if (!pool_) return;         // moved from
  if (discard_) db_.reset();  // closed here, outside the pool's lock
  pool_->Release(std::move(db_), writer_);
}

}  // namespace certfleet::store::sqlite
