// The SQLite writer: one connection for every writing transaction, with group commit
// (issue #14, docs/design/2026-12-07-group-commit.md).
//
// SQLite admits one writer at a time, and a durable commit (synchronous=FULL) costs a WAL fsync,
// which on this project's machines is 1-5 ms: far more than the microseconds a certfleet
// transaction spends in SQL. Committing each transaction on its own therefore caps the store at a
// few hundred durable transactions a second however many callers there are. The writer batches
// them instead:
//   - A batch is one SQLite transaction (BEGIN IMMEDIATE ... COMMIT) on the writer connection.
//   - Each certfleet Tx is a SAVEPOINT inside the open batch. Its Commit() releases the savepoint
//     (no I/O), hands the writer slot to the next Tx, and then waits until the batch it joined
//     is durable. Only then does Commit() return OK: no caller is ever told "committed" before
//     its changes survive power loss. If the batch fails, every member's Commit() fails with the
//     batch's error, and none of them is applied.
//   - A Tx destroyed without Commit() rolls back to its savepoint: the rest of the batch stands.
//   - The batch commits (one fsync for all its members) when the Tx holding the slot ends and no
//     other Tx is waiting for the slot, or when the batch has kMaxMembers members or is older
//     than kMaxAge. Under load the batch is what arrived during the previous fsync; with one
//     caller it is that caller alone, so a lone Tx pays exactly what it paid before.
//   - A batch that has no committed member when the slot goes idle is rolled back, so the write
//     lock is never held while nobody writes (other processes keep SQLite's busy timeout).
// Isolation: a Tx sees the released changes of earlier members of its batch (same connection),
// which are not durable yet. That is safe for writers, because a later member commits in the same
// batch or a later one, so it can never be acknowledged while what it read is lost. Readers on
// other connections (Store::BeginRead) see only committed batches.
//
// Thread-safe. A Lease is used by one thread at a time and keeps the Writer alive.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "base/error.h"
#include "store/sql/sql_tx.h"
#include "store/sqlite/db.h"

namespace certfleet::store::sqlite {

// One transaction's hold on a connection (a Db). Destroying it without Commit() rolls the
// transaction back; Commit() is OK only once its changes are durable.
using TxLease = sql::TxLease;

// Counters since the writer was created (benchmarks and tests).
struct WriterStats {
  uint64_t transactions = 0;  // committed Txs
  uint64_t batches = 0;       // SQLite COMMITs that carried at least one Tx
  uint64_t failed_batches = 0;
  int waiting = 0;  // threads waiting for the slot at the time of the call
};

class Writer : public std::enable_shared_from_this<Writer> {
 public:
  using Opener = std::function<Result<std::unique_ptr<Db>>()>;
  static constexpr int kMaxMembers = 512;
  static constexpr std::chrono::milliseconds kMaxAge{20};

  // `wait` bounds the wait for the writer slot. The connection is opened on first use (and
  // again after a failure left it in an unknown state).
  static std::shared_ptr<Writer> Create(Opener opener, std::chrono::milliseconds wait);

  // Takes the writer slot and starts a Tx. Unavailable (retryable) when the slot is not free
  // within `wait` or SQLite's write lock is held by another process.
  Result<std::unique_ptr<TxLease>> Begin();

  WriterStats stats();

 private:
  class Lease;
  Writer(Opener opener, std::chrono::milliseconds wait) : opener_(std::move(opener)), wait_(wait) {}

  // Called with the slot held. Commits the batch when it should, then frees the slot.
  void ReleaseSlot();
  // Called with the slot held: rolls the open batch back and fails its members with `why`.
  void FailBatch(const Error& why);
  // Waits until batch `seq` is finished; its outcome.
  Status WaitDone(uint64_t seq);
  // Records batch `seq_` as finished with `outcome`; mu_ held.
  void FinishLocked(Status outcome);

  const Opener opener_;
  const std::chrono::milliseconds wait_;

  // The slot holder alone uses db_, batch_open_, members_ and opened_at_; the rest is guarded
  // by mu_.
  std::unique_ptr<Db> db_;
  bool batch_open_ = false;
  int members_ = 0;  // committed Txs in the open batch
  std::chrono::steady_clock::time_point opened_at_;

  std::mutex mu_;
  std::condition_variable slot_cv_;
  std::condition_variable done_cv_;
  bool busy_ = false;                   // the slot is held
  int waiting_ = 0;                     // threads waiting for the slot
  uint64_t seq_ = 1;                    // the open (or next) batch
  uint64_t done_ = 0;                   // batches <= done_ are finished
  std::map<uint64_t, Error> failures_;  // recent failed batches
  WriterStats stats_;
};

}  // namespace certfleet::store::sqlite
