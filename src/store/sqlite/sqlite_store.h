// The SQLite store backend: the embedded default (docs/architecture.md "Storage and scale").
//
// One database file in WAL mode, foreign keys on, durable commits (synchronous=FULL unless the
// options say otherwise). The file is created with mode 0600 before SQLite opens it, so the
// database, and the -wal and -shm files SQLite derives from it, are never readable by others.
// Symbolic links are refused. Pending migrations (store/sqlite/migrations.h) run inside
// OpenSqliteStore, before it returns.
//
// Concurrency: Store::Begin() is thread-safe. Every Tx is a writer (BEGIN IMMEDIATE): within a
// process, Begin() waits up to busy_timeout_ms for the previous Tx to end; across processes
// SQLite's busy timeout applies. Either wait running out gives Unavailable (retryable).
// A Tx holds the writer slot and its connection until it commits or is destroyed, and keeps
// the store's internals alive until then, so destroying the Store while a Tx is open is safe.
// Every connection applies the pragmas above, defensive mode and trusted_schema=OFF.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/error.h"
#include "store/store.h"

namespace certfleet::store {

struct SqliteOptions {
  // A file path, or ":memory:" for a private in-memory database (tests). An in-memory store
  // has one connection, so its transactions run strictly one after another.
  std::string path;
  // How long Begin() waits for the writer slot, in this process and in SQLite.
  int busy_timeout_ms = 5000;
  // FULL syncs the WAL on every commit (a committed Tx survives power loss). NORMAL syncs only
  // at checkpoints: still consistent after a crash, but the last commits may be lost.
  bool synchronous_full = true;
};

// On success, a Store whose schema is at the latest version. InvalidArgument for bad options,
// Unavailable if the file cannot be created or opened, FailedPrecondition if the database was
// written by a newer schema than this binary knows, Internal otherwise.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& o);

// The writer's group-commit counters (store/sqlite/writer.h), for metrics and benchmarks;
// nullopt when `store` is not an SQLite store.
struct SqliteWriterStats {
  uint64_t transactions = 0;  // committed Txs
  uint64_t batches = 0;       // durable commits that carried them
  uint64_t failed_batches = 0;
  int waiting = 0;  // threads waiting for the writer slot now
};
std::optional<SqliteWriterStats> SqliteStatsOf(Store& store);

}  // namespace certfleet::store
