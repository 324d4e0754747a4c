// Where a store lives, as certfleetd's --store names it (issue #15), and opening it.
//
//   (empty)                        SQLite in the data directory (the embedded default)
//   sqlite:PATH                    SQLite at PATH
//   postgres://USER@HOST:PORT/DB   PostgreSQL (also postgresql://); libpq URL parameters such
//                                  as sslmode=verify-full&sslrootcert=... are passed through
#pragma once

#include <memory>
#include <string>

#include "base/error.h"
#include "store/postgres/pg_store.h"
#include "store/store.h"

namespace certfleet::store {

struct StoreLocation {
  enum class Kind { kSqlite, kPostgres };
  Kind kind = Kind::kSqlite;
  std::string sqlite_path;
  PostgresOptions postgres;
  // For logs and messages: the path or URL (which never holds a password).
  std::string display;
};

// InvalidArgument for an unknown scheme, an empty path, or a URL with a password in it.
// `default_sqlite_path` is used for an empty `url`; `password_file` only for PostgreSQL.
Result<StoreLocation> ParseStoreLocation(const std::string& url,
                                         const std::string& default_sqlite_path,
                                         const std::string& password_file);

Result<std::unique_ptr<Store>> OpenStore(const StoreLocation& where);

}  // namespace certfleet::store
