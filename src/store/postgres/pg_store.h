// The PostgreSQL store backend: several certfleetd replicas share one database (issue #15,
// docs/high-availability.md). The repositories are the SQL mappers SQLite uses (store/sql/).
//
// Transactions. Every Tx from Begin() is a writer, as in SQLite: it takes a transaction-scoped
// advisory lock (the writer lock) before its first statement, so writers run one at a time
// across every replica and see each other's committed changes. That keeps every guarantee the
// SQLite backend gives through its single writer (events' seq order, the audit chain, serial
// reservation, read-then-write sequences in the services) without each caller reasoning about
// concurrent writers. Job claims also lock their rows with FOR UPDATE SKIP LOCKED. BeginRead()
// runs a READ ONLY REPEATABLE READ transaction beside the writers, on its own connection.
// Commit() returns OK once PostgreSQL reports the commit, i.e. once it is durable under the
// server's synchronous_commit setting (on by default).
//
// Connections come from a bounded pool; a connection that fails is dropped and replaced on the
// next Begin(), so certfleetd recovers by itself when the database comes back. While it is
// unreachable, Begin() fails with Unavailable (retryable).
//
// Credentials: the URL must not carry a password (it would be visible in argv and logs); the
// password comes from `password_file`, or from libpq's PGPASSFILE / ~/.pgpass. TLS to the
// database is libpq's: sslmode, sslrootcert, sslcert and sslkey in the URL.
#pragma once

#include <memory>
#include <string>

#include "base/error.h"
#include "store/store.h"

namespace certfleet::store {

struct PostgresOptions {
  // postgres://USER@HOST:PORT/DB[?sslmode=...] (or postgresql://, or a key=value string).
  std::string url;
  // A file whose first line is the password (owner-only mode); empty to use libpq's own.
  std::string password_file;
  // The schema that holds certfleet's tables, created if missing (tests use one per store).
  std::string schema = "public";
  // Connections at most (readers and writers together).
  int max_connections = 16;
  // How long Begin() waits for a connection and for the writer lock.
  int busy_timeout_ms = 5000;
};

namespace postgres {
struct ConnectOptions;  // store/postgres/conn.h
// What a connection of a store opened with `o` uses (the password read from its file).
Result<ConnectOptions> ConnectOptionsFor(const PostgresOptions& o);
}  // namespace postgres

// Checks the URL (scheme, no password in it) without connecting. InvalidArgument naming the
// problem, never echoing a password.
Status ValidatePostgresUrl(const std::string& url);

// On success, a Store whose schema is at the latest version (migrated under an advisory lock).
// InvalidArgument for bad options, Unavailable if the database cannot be reached,
// FailedPrecondition if it was migrated by a newer certfleetd.
Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& o);

}  // namespace certfleet::store
