// Tokens of certfleetd's own http-01 listener, shared by every replica.
#include "store/sql/codec.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {

Result<std::optional<Http01Token>> SqlHttp01Tokens::Get(const std::string& identifier,
                                                        const std::string& token) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT owner, key_authorization, created_at FROM "
                                         "http01_tokens WHERE identifier = ?1 AND token = ?2",
                                         "http01_tokens"));
  s.Bind(1, identifier).Bind(2, token);
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<Http01Token>();
  return std::optional<Http01Token>(Http01Token{.identifier = identifier,
                                                .token = token,
                                                .owner = s.Text(0),
                                                .key_authorization = s.Text(1),
                                                .created_at = DecodeTime(s.Int(2))});
}

Status SqlHttp01Tokens::Put(const Http01Token& t) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO http01_tokens (identifier, token, owner, "
                                         "key_authorization, created_at) VALUES (?1, ?2, ?3, "
                                         "?4, ?5) ON CONFLICT (identifier, token) DO UPDATE SET "
                                         "owner = excluded.owner, key_authorization = "
                                         "excluded.key_authorization, created_at = "
                                         "excluded.created_at",
                                         "http01_tokens"));
  return s.Bind(1, t.identifier)
      .Bind(2, t.token)
      .Bind(3, t.owner)
      .Bind(4, t.key_authorization)
      .Bind(5, EncodeTime(t.created_at))
      .Run();
}

Status SqlHttp01Tokens::Delete(const std::string& identifier, const std::string& token,
                               const std::string& owner) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("DELETE FROM http01_tokens WHERE identifier = ?1 AND "
                                         "token = ?2 AND owner = ?3",
                                         "http01_tokens"));
  return s.Bind(1, identifier).Bind(2, token).Bind(3, owner).Run();
}

Result<int64_t> SqlHttp01Tokens::DeleteCreatedBefore(TimePoint before) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("DELETE FROM http01_tokens WHERE created_at < ?1", "http01_tokens"));
  CF_TRY(s.Bind(1, EncodeTime(before)).Run());
  return s_.db().Changes();
}

Result<int64_t> SqlHttp01Tokens::Count() {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT COUNT(*) FROM http01_tokens", "http01_tokens"));
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Internal("http01_tokens: COUNT returned no row");
  return s.Int(0);
}

}  // namespace certfleet::store::sql
