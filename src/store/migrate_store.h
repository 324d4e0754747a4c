// Moving an installation from SQLite to PostgreSQL (`certfleetd migrate-store`, issue #15).
//
// Every row of every table is copied as it is: ids, serials, times, sealed blobs (still sealed
// under the same KEK), the audit chain's seqs and hashes (so `audit verify` passes afterwards),
// event seqs (the events sequence is moved past the highest). The derived renewal_unplanned set
// is rebuilt by the destination's triggers rather than copied.
//
// The source is read in one read transaction, so a certfleetd still running on it is copied as
// of one moment; stop it before switching replicas to the destination. The destination is
// migrated to the latest schema first and must hold no rows; the copy is one transaction, so a
// failure (or a kill) leaves it empty and the command can simply be run again. Afterwards every
// table's row count is compared.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "store/postgres/pg_store.h"

namespace certfleet::store {

struct TableCopy {
  std::string table;
  int64_t rows = 0;
};

struct MigrateReport {
  std::vector<TableCopy> tables;
  int64_t total_rows = 0;
};

// FailedPrecondition if the destination already holds data or the schemas do not match;
// Unavailable if either side cannot be reached.
Result<MigrateReport> MigrateSqliteToPostgres(const std::string& sqlite_path,
                                              const PostgresOptions& to);

}  // namespace certfleet::store
