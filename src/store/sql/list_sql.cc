#include "store/sql/list_sql.h"

#include "store/sql/codec.h"

namespace certfleet::store::sql {

std::string ListSql::Param(std::variant<std::string, int64_t> v) {
  binds_.push_back(std::move(v));
  return "?" + std::to_string(binds_.size());
}

void ListSql::And(std::string condition) { where_ += " AND " + condition; }

void ListSql::After(std::string_view key_expr, std::string_view id_col, int64_t key,
                    const std::string& after_id) {
  if (after_id.empty()) return;
  const std::string id(id_col);
  if (key_expr.empty()) {
    And(id + " > " + Param(after_id));
    return;
  }
  // (key, id) > (k, i), spelled out: both dialects then use the (key, id) index range.
  const std::string k = Param(key);
  const std::string e(key_expr);
  And("(" + e + " > " + k + " OR (" + e + " = " + k + " AND " + id + " > " + Param(after_id) +
      "))");
}

Status ListSql::Tags(std::string_view column, const TagFilter& tags) {
  const std::string contains = dialect_ == Dialect::kPostgres ? "strpos" : "instr";
  const std::string col(column);
  for (const auto& [k, v] : tags) {
    // Tags are stored as compact JSON with sorted keys ({"a":"1","b":"2"}). The member "k":"v"
    // right after '{' or ',' is that tag: inside a JSON string every '"' is escaped, so the
    // pattern cannot start or end in the middle of another key or value.
    CF_ASSIGN_OR_RETURN(std::string one, EncodeTags(model::Tags{{k, v}}, "tag filter"));
    const std::string member = one.substr(1, one.size() - 2);
    And("(" + contains + "(" + col + ", " + Param("{" + member) + ") > 0 OR " + contains + "(" +
        col + ", " + Param("," + member) + ") > 0)");
  }
  return Ok();
}

Status ListSql::Contains(std::string_view column, std::string_view text, std::string_view what) {
  if (text.empty()) return Ok();
  if (text.find_first_of("\"\\") != std::string_view::npos) {
    return InvalidArgument("a " + std::string(what) + " filter must not contain '\"' or '\\'");
  }
  std::string lowered(text);
  for (char& ch : lowered) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  const std::string contains = dialect_ == Dialect::kPostgres ? "strpos" : "instr";
  And(contains + "(lower(" + std::string(column) + "), " + Param(lowered) + ") > 0");
  return Ok();
}

Result<Stmt> ListSql::Prepare(Session& s, const std::string& sql, std::string_view table) const {
  CF_ASSIGN_OR_RETURN(auto stmt, s.Prepare(sql, table));
  for (size_t i = 0; i < binds_.size(); ++i) {
    std::visit([&](const auto& v) { stmt.Bind(static_cast<int>(i + 1), v); }, binds_[i]);
  }
  return stmt;
}

}  // namespace certfleet::store::sql
