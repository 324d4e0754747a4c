#include "store/sql/stmt.h"

namespace certfleet::store::sql {

Status Stmt::Run() {
  while (true) {
    CF_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Ok();
  }
}

}  // namespace certfleet::store::sql
