#include "store/sqlite/writer.h"

#include <utility>

namespace certfleet::store::sqlite {

// One Tx: a savepoint in the open batch, holding the writer slot until Commit() or destruction.
class Writer::Lease final : public TxLease {
 public:
  explicit Lease(std::shared_ptr<Writer> w) : w_(std::move(w)) {}
  ~Lease() override {
    if (!w_) return;
    Db& db = *w_->db_;
    // ROLLBACK TO keeps the savepoint open; RELEASE then drops it. The rest of the batch stands,
    // unless SQLite rolled the whole transaction back (it does on some I/O and memory errors),
    // which fails every member.
    Status st = db.Exec("ROLLBACK TO cf_tx; RELEASE cf_tx", "rollback");
    if (!st.ok()) {
      w_->FailBatch(st.error());
    } else if (!db.InTransaction()) {
      w_->FailBatch(Unavailable("sqlite: the batch was rolled back").WithRetry());
    }
    w_->ReleaseSlot();
  }

  sql::Conn& conn() override { return *w_->db_; }

  Status Commit() override {
    std::shared_ptr<Writer> w = std::move(w_);  // the Tx is over, whatever happens
    Db& db = *w->db_;
    Status st = db.Exec("RELEASE cf_tx", "commit");
    if (st.ok() && !db.InTransaction()) {
      st = Unavailable("sqlite: the batch was rolled back").WithRetry();
    }
    if (!st.ok()) {
      w->FailBatch(st.error());
      w->ReleaseSlot();
      return st;
    }
    ++w->members_;
    uint64_t mine;
    {
      std::lock_guard lock(w->mu_);
      mine = w->seq_;
    }
    w->ReleaseSlot();
    return w->WaitDone(mine);
  }

 private:
  std::shared_ptr<Writer> w_;  // empty once committed
};

std::shared_ptr<Writer> Writer::Create(Opener opener, std::chrono::milliseconds wait) {
  return std::shared_ptr<Writer>(new Writer(std::move(opener), wait));
}

Result<std::unique_ptr<TxLease>> Writer::Begin() {
  {
    std::unique_lock lock(mu_);
    ++waiting_;
    bool free = slot_cv_.wait_for(lock, wait_, [&] { return !busy_; });
    --waiting_;
    if (!free) return Unavailable("sqlite: timed out waiting for the writer slot").WithRetry();
    busy_ = true;
  }
  // The slot is ours: db_ and the batch fields are too.
  auto give_up = [&](Error e) -> Error {
    ReleaseSlot();
    return e;
  };
  if (!db_) {
    auto db = opener_();
    if (!db.ok()) return give_up(std::move(db).error());
    db_ = std::move(db).value();
  }
  if (!batch_open_) {
    // IMMEDIATE takes the write lock now, so a Tx never fails half-way with SQLITE_BUSY when it
    // first writes (a deferred transaction cannot upgrade once another process commits).
    Status st = db_->Exec("BEGIN IMMEDIATE", "begin");
    if (!st.ok()) return give_up(std::move(st).error());
    batch_open_ = true;
    members_ = 0;
    opened_at_ = std::chrono::steady_clock::now();
  }
  Status st = db_->Exec("SAVEPOINT cf_tx", "begin");
  if (!st.ok()) {
    FailBatch(st.error());
    return give_up(std::move(st).error());
  }
  return std::unique_ptr<TxLease>(new Lease(shared_from_this()));
}

void Writer::ReleaseSlot() {
  while (true) {
    {
      // Deciding and freeing the slot under one lock: a waiter counted here cannot give up
      // before it is handed the slot, so a batch with members is never left open unattended.
      std::lock_guard lock(mu_);
      const bool others = waiting_ > 0;
      const bool full =
          members_ >= kMaxMembers || std::chrono::steady_clock::now() - opened_at_ >= kMaxAge;
      if (!batch_open_ || (others && !full)) {
        busy_ = false;
        break;
      }
    }
    if (members_ == 0) {
      // Nothing to make durable: end the transaction so the write lock is not held idle.
      if (!db_->Exec("ROLLBACK", "rollback").ok()) db_.reset();
      batch_open_ = false;
      continue;
    }
    Status st = db_->Exec("COMMIT", "commit");
    if (!st.ok() && db_->InTransaction() && !db_->Exec("ROLLBACK", "rollback").ok()) {
      db_.reset();  // unknown state: reopen on next use
    }
    batch_open_ = false;
    std::lock_guard lock(mu_);
    FinishLocked(std::move(st));
  }
  slot_cv_.notify_one();
}

void Writer::FailBatch(const Error& why) {
  if (db_ && db_->InTransaction() && !db_->Exec("ROLLBACK", "rollback").ok()) db_.reset();
  batch_open_ = false;
  std::lock_guard lock(mu_);
  FinishLocked(why);
}

void Writer::FinishLocked(Status outcome) {
  if (members_ > 0) {
    if (outcome.ok()) {
      ++stats_.batches;
      stats_.transactions += static_cast<uint64_t>(members_);
    } else {
      ++stats_.failed_batches;
      failures_.emplace(seq_, std::move(outcome).error());
      // Waiters wake within microseconds; a thousand batches back is long gone.
      while (!failures_.empty() && failures_.begin()->first + 1024 < seq_) {
        failures_.erase(failures_.begin());
      }
    }
  }
  members_ = 0;
  done_ = seq_;
  ++seq_;
  done_cv_.notify_all();
}

Status Writer::WaitDone(uint64_t seq) {
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return done_ >= seq; });
  auto it = failures_.find(seq);
  if (it == failures_.end()) return Ok();
  return it->second;
}

WriterStats Writer::stats() {
  std::lock_guard lock(mu_);
  WriterStats s = stats_;
  s.waiting = waiting_;
  return s;
}

}  // namespace certfleet::store::sqlite
