// Schema migrations for the SQLite backend (CONVENTIONS.md #15): numbered, additive, applied in
// order at open time, each in its own transaction, and recorded in `schema_migrations`.
// Never edit or reorder a migration that has shipped; append a new one instead.
#pragma once

#include <string_view>
#include <vector>

#include "base/error.h"
#include "store/sqlite/db.h"

namespace certfleet::store::sqlite {

// The ordered SQL scripts; migration N is element N-1.
const std::vector<std::string_view>& Migrations();

// The latest migration this binary knows.
int LatestSchemaVersion();

// Applies every pending migration on `db` (outside any transaction). Safe to run concurrently
// from several processes: each step re-reads the version under BEGIN IMMEDIATE. Returns the
// schema version afterwards. FailedPrecondition if the database is newer than this binary.
Result<int> ApplyMigrations(Db& db);

// The highest applied migration (0 for an empty database).
Result<int> ReadSchemaVersion(Db& db);

}  // namespace certfleet::store::sqlite
