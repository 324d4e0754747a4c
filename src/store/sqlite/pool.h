// A small pool of SQLite reader connections (Store::BeginRead). Writers have a connection of
// their own (writer.h). Connections are opened on demand up to `max_connections`, reused, and
// closed when the pool dies.
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
#include "store/sqlite/db.h"

namespace certfleet::store::sqlite {

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  // Opens and configures one new connection.
  using Opener = std::function<Result<std::unique_ptr<Db>>()>;

  // `wait` bounds the wait for a free connection.
  static std::shared_ptr<Pool> Create(Opener opener, int max_connections,
                                      std::chrono::milliseconds wait);

  // Exclusive use of one connection until destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Db& db() { return *db_; }
    // The connection is in an unknown state: close it instead of reusing it.
    void Discard() { discard_ = true; }

   private:
    friend class Pool;
    Lease(std::shared_ptr<Pool> pool, std::unique_ptr<Db> db)
        : pool_(std::move(pool)), db_(std::move(db)) {}
    std::shared_ptr<Pool> pool_;
    std::unique_ptr<Db> db_;
    bool discard_ = false;
  };

  // A connection. Unavailable (retryable) when the wait runs out; the opener's error if a new
  // connection cannot be opened.
  Result<Lease> Acquire();

  // Adds an already opened connection (the one that ran migrations) to the idle list.
  void Adopt(std::unique_ptr<Db> db);

 private:
  Pool(Opener opener, int max_connections, std::chrono::milliseconds wait)
      : opener_(std::move(opener)), max_(max_connections), wait_(wait) {}
  void Release(std::unique_ptr<Db> db);

  const Opener opener_;
  const int max_;
  const std::chrono::milliseconds wait_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Db>> idle_;  // guarded by mu_
  int open_ = 0;                           // connections idle or leased; guarded by mu_
};

}  // namespace certfleet::store::sqlite
