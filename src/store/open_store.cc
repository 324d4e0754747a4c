#include "store/open_store.h"

#include "store/sqlite/sqlite_store.h"

namespace certfleet::store {

Result<StoreLocation> ParseStoreLocation(const std::string& url,
                                         const std::string& default_sqlite_path,
                                         const std::string& password_file) {
  StoreLocation where;
  if (url.empty() || url.rfind("sqlite:", 0) == 0) {
    where.kind = StoreLocation::Kind::kSqlite;
    where.sqlite_path = url.empty() ? default_sqlite_path : url.substr(7);
    if (where.sqlite_path.empty()) return InvalidArgument("store: sqlite: needs a path");
    if (!password_file.empty()) {
      return InvalidArgument("store: a password file is for a postgres:// store only");
    }
    where.display = "sqlite:" + where.sqlite_path;
    return where;
  }
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    CF_TRY(ValidatePostgresUrl(url));
    where.kind = StoreLocation::Kind::kPostgres;
    where.postgres.url = url;
    where.postgres.password_file = password_file;
    where.display = url;
    return where;
  }
  return InvalidArgument("store: must be sqlite:PATH or postgres://USER@HOST:PORT/DB");
}

Result<std::unique_ptr<Store>> OpenStore(const StoreLocation& where) {
  if (where.kind == StoreLocation::Kind::kPostgres) return OpenPostgresStore(where.postgres);
  return OpenSqliteStore({.path = where.sqlite_path});
}

}  // namespace certfleet::store
