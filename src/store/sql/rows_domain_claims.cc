// Domain claims (issue #13, migration kMigrationDomainClaims).
#include "store/sql/codec.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

constexpr std::string_view kClaimCols =
    "id, account_id, domain, include_subdomains, shared, created_by, created_at";

Result<model::DomainClaim> ReadClaim(const Stmt& s) {
  return model::DomainClaim{.id = s.Text(0),
                            .account_id = s.Text(1),
                            .domain = s.Text(2),
                            .include_subdomains = s.Int(3) != 0,
                            .shared = s.Int(4) != 0,
                            .created_by = s.Text(5),
                            .created_at = DecodeTime(s.Int(6))};
}

std::string Select(std::string_view rest) {
  return "SELECT " + std::string(kClaimCols) + " FROM domain_claims " + std::string(rest);
}

}  // namespace

Status SqlDomainClaims::Insert(const model::DomainClaim& c) {
  // UNIQUE (account_id, domain) and the id's primary key come back as Conflict, an unknown
  // account (foreign key) as FailedPrecondition.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO domain_claims (" + std::string(kClaimCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                         "domain_claims"));
  return s.Bind(1, c.id)
      .Bind(2, c.account_id)
      .Bind(3, c.domain)
      .Bind(4, c.include_subdomains)
      .Bind(5, c.shared)
      .Bind(6, c.created_by)
      .Bind(7, EncodeTime(c.created_at))
      .Run();
}

Result<model::DomainClaim> SqlDomainClaims::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select("WHERE id = ?1"), "domain_claims"));
  s.Bind(1, id);
  CF_ASSIGN_OR_RETURN(auto rows, CollectRows<model::DomainClaim>(s, ReadClaim));
  if (rows.empty()) return NotFound("domain claim " + id + " not found");
  return std::move(rows.front());
}

Result<std::vector<model::DomainClaim>> SqlDomainClaims::ListByAccount(
    const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select("WHERE account_id = ?1 ORDER BY id"), "domain_claims"));
  s.Bind(1, account_id);
  return CollectRows<model::DomainClaim>(s, ReadClaim);
}

Result<std::vector<model::DomainClaim>> SqlDomainClaims::List() {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select("ORDER BY id"), "domain_claims"));
  return CollectRows<model::DomainClaim>(s, ReadClaim);
}

Status SqlDomainClaims::Delete(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("DELETE FROM domain_claims WHERE id = ?1", "domain_claims"));
  CF_TRY(s.Bind(1, id).Run());
  if (s_.db().Changes() == 0) return NotFound("domain claim " + id + " not found");
  return Ok();
}

}  // namespace certfleet::store::sql
