// Accounts, principals and API tokens.
#include "store/sql/codec.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

constexpr std::string_view kAccountCols = "id, name, created_at";

Result<model::Account> ReadAccount(const Stmt& s) {
  return model::Account{.id = s.Text(0), .name = s.Text(1), .created_at = DecodeTime(s.Int(2))};
}

constexpr std::string_view kPrincipalCols =
    "id, account_id, name, kind, role, tags, disabled, created_at";

Result<model::Principal> ReadPrincipal(const Stmt& s) {
  model::Principal p;
  p.id = s.Text(0);
  p.account_id = s.Text(1);
  p.name = s.Text(2);
  CF_ASSIGN_OR_RETURN(p.kind, DecodeEnum(model::ParsePrincipalKind(s.Text(3)), "principals.kind"));
  CF_ASSIGN_OR_RETURN(p.role, DecodeEnum(model::ParseRole(s.Text(4)), "principals.role"));
  CF_ASSIGN_OR_RETURN(p.tags, DecodeTags(s.Text(5), "principals.tags"));
  p.disabled = s.Int(6) != 0;
  p.created_at = DecodeTime(s.Int(7));
  return p;
}

constexpr std::string_view kTokenCols =
    "id, principal_id, hash_hex, created_at, expires_at, revoked";

Result<model::ApiToken> ReadToken(const Stmt& s) {
  return model::ApiToken{.id = s.Text(0),
                         .principal_id = s.Text(1),
                         .hash_hex = s.Text(2),
                         .created_at = DecodeTime(s.Int(3)),
                         .expires_at = DecodeTime(s.OptInt(4)),
                         .revoked = s.Int(5) != 0};
}

std::string Select(std::string_view cols, std::string_view rest) {
  return "SELECT " + std::string(cols) + " " + std::string(rest);
}

}  // namespace

// ---- accounts

Status SqlAccounts::Insert(const model::Account& a) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO accounts (id, name, created_at) "
                                         "VALUES (?1, ?2, ?3)",
                                         "accounts"));
  return s.Bind(1, a.id).Bind(2, a.name).Bind(3, EncodeTime(a.created_at)).Run();
}

Result<model::Account> SqlAccounts::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kAccountCols, "FROM accounts WHERE id = ?1"), "accounts"));
  s.Bind(1, id);
  return SingleRow<model::Account>(s, ReadAccount, "account " + id + " not found");
}

Result<model::Account> SqlAccounts::GetByName(const std::string& name) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare(Select(kAccountCols, "FROM accounts WHERE name = ?1"), "accounts"));
  s.Bind(1, name);
  return SingleRow<model::Account>(s, ReadAccount, "account named " + name + " not found");
}

Result<std::vector<model::Account>> SqlAccounts::List() {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kAccountCols, "FROM accounts ORDER BY id"), "accounts"));
  return CollectRows<model::Account>(s, ReadAccount);
}

// ---- principals

Status SqlPrincipals::Insert(const model::Principal& p) {
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(p.tags, "principals.tags"));
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO principals (" + std::string(kPrincipalCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                         "principals"));
  return s.Bind(1, p.id)
      .Bind(2, p.account_id)
      .Bind(3, p.name)
      .Bind(4, model::PrincipalKindName(p.kind))
      .Bind(5, model::RoleName(p.role))
      .Bind(6, tags)
      .Bind(7, p.disabled)
      .Bind(8, EncodeTime(p.created_at))
      .Run();
}

Result<model::Principal> SqlPrincipals::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare(Select(kPrincipalCols, "FROM principals WHERE id = ?1"), "principals"));
  s.Bind(1, id);
  return SingleRow<model::Principal>(s, ReadPrincipal, "principal " + id + " not found");
}

Result<model::Principal> SqlPrincipals::GetByName(const std::string& account_id,
                                                  const std::string& name) {
  CF_ASSIGN_OR_RETURN(
      auto s,
      s_.Prepare(Select(kPrincipalCols, "FROM principals WHERE account_id = ?1 AND name = ?2"),
                 "principals"));
  s.Bind(1, account_id).Bind(2, name);
  return SingleRow<model::Principal>(
      s, ReadPrincipal, "principal named " + name + " not found in account " + account_id);
}

Result<std::vector<model::Principal>> SqlPrincipals::ListByAccount(const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kPrincipalCols,
                                                "FROM principals WHERE account_id = ?1 "
                                                "ORDER BY id"),
                                         "principals"));
  s.Bind(1, account_id);
  return CollectRows<model::Principal>(s, ReadPrincipal);
}

Status SqlPrincipals::Update(const model::Principal& p) {
  // account_id and created_at are not in the SET list: a principal never changes accounts.
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(p.tags, "principals.tags"));
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE principals SET name = ?2, kind = ?3, role = ?4, "
                                         "tags = ?5, disabled = ?6 WHERE id = ?1",
                                         "principals"));
  CF_TRY(s.Bind(1, p.id)
             .Bind(2, p.name)
             .Bind(3, model::PrincipalKindName(p.kind))
             .Bind(4, model::RoleName(p.role))
             .Bind(5, tags)
             .Bind(6, p.disabled)
             .Run());
  if (s_.db().Changes() == 0) return NotFound("principal " + p.id + " not found");
  return Ok();
}

// ---- tokens

Status SqlTokens::Insert(const model::ApiToken& t) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO tokens (" + std::string(kTokenCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                         "tokens"));
  return s.Bind(1, t.id)
      .Bind(2, t.principal_id)
      .Bind(3, t.hash_hex)
      .Bind(4, EncodeTime(t.created_at))
      .Bind(5, EncodeTime(t.expires_at))
      .Bind(6, t.revoked)
      .Run();
}

Result<model::ApiToken> SqlTokens::GetByHash(const std::string& hash_hex) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kTokenCols, "FROM tokens WHERE hash_hex = ?1"), "tokens"));
  s.Bind(1, hash_hex);
  // The hash identifies a credential: do not echo it.
  return SingleRow<model::ApiToken>(s, ReadToken, "token not found");
}

Result<std::vector<model::ApiToken>> SqlTokens::ListByPrincipal(const std::string& principal_id) {
  CF_ASSIGN_OR_RETURN(
      auto s,
      s_.Prepare(Select(kTokenCols, "FROM tokens WHERE principal_id = ?1 ORDER BY id"), "tokens"));
  s.Bind(1, principal_id);
  return CollectRows<model::ApiToken>(s, ReadToken);
}

Result<model::ApiToken> SqlTokens::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kTokenCols, "FROM tokens WHERE id = ?1"), "tokens"));
  s.Bind(1, id);
  return SingleRow<model::ApiToken>(s, ReadToken, "token " + id + " not found");
}

Status SqlTokens::Revoke(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE tokens SET revoked = 1 WHERE id = ?1", "tokens"));
  CF_TRY(s.Bind(1, id).Run());
  // Changes() counts matched rows, so revoking twice is not an error.
  if (s_.db().Changes() == 0) return NotFound("token " + id + " not found");
  return Ok();
}

}  // namespace certfleet::store::sql
