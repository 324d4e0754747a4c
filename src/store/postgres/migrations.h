// Schema migrations for the PostgreSQL backend (CONVENTIONS.md #15), numbered independently of
// SQLite's: migration 1 is the whole schema as SQLite had it at its migration 13, in PostgreSQL's
// types. Same rule as SQLite: never edit or reorder a migration that has shipped; append one.
//
// Column encodings are SQLite's (store/sql/codec.h): times are BIGINT Unix seconds, booleans
// 0/1, tags and lists JSON text, sealed values BYTEA. Text columns use the "C" collation (the
// cf_text domain), so ids and names sort bytewise, as in SQLite, whatever the database's locale.
#pragma once

#include <string_view>
#include <vector>

#include "base/error.h"
#include "store/postgres/conn.h"

namespace certfleet::store::postgres {

// The ordered SQL scripts; migration N is element N-1.
const std::vector<std::string_view>& Migrations();

// The latest migration this binary knows.
int LatestSchemaVersion();

// Applies every pending migration in one transaction, holding an advisory lock so that replicas
// starting together migrate once. Returns the schema version afterwards; FailedPrecondition if
// the database was migrated by a newer certfleetd than this one.
Result<int> ApplyMigrations(PgConn& conn);

// The highest applied migration (0 for an empty database).
Result<int> ReadSchemaVersion(PgConn& conn);

}  // namespace certfleet::store::postgres
