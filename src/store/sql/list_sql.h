// The WHERE clause of a list query, shared by the list mappers (certificates, agents, secrets,
// deployments, exports, audit). Only the conditions in use appear in the SQL, so that each shape
// is planned for its own index (an "?1 IS NULL OR account_id = ?1" form defeats SQLite's
// planner) and cached once per connection; parameters are numbered as they are added.
// Not thread-safe; one per query.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/sql/rows.h"

namespace certfleet::store::sql {

class ListSql {
 public:
  explicit ListSql(Dialect dialect) : dialect_(dialect) {}

  // Adds a bound value and returns its placeholder ("?N").
  std::string Param(std::variant<std::string, int64_t> v);
  // ANDs a condition (written with placeholders from Param).
  void And(std::string condition);
  // Keyset pagination: rows after (key, id) in ascending (key_expr, id_col) order, or after id
  // alone when key_expr is empty. Nothing when `after_id` is empty (the first page).
  void After(std::string_view key_expr, std::string_view id_col, int64_t key,
             const std::string& after_id);
  // Each (key, value) among the tags stored as compact sorted JSON in `column`.
  // InvalidArgument for tags that cannot be encoded.
  Status Tags(std::string_view column, const TagFilter& tags);
  // `column` contains `text`, ASCII case-insensitively. InvalidArgument naming `what` for text
  // holding '"' or '\' (the columns matched may be JSON).
  Status Contains(std::string_view column, std::string_view text, std::string_view what);

  // " WHERE 1 = 1 AND ..." (always a WHERE, so callers append without checking).
  std::string Where() const { return " WHERE 1 = 1" + where_; }
  // Prepares `sql` (which must use this object's placeholders) and binds every parameter.
  Result<Stmt> Prepare(Session& s, const std::string& sql, std::string_view table) const;

 private:
  Dialect dialect_;
  std::string where_;
  std::vector<std::variant<std::string, int64_t>> binds_;  // ?1, ?2, ... in order
};

}  // namespace certfleet::store::sql
