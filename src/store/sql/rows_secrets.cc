// Sealed blobs, secrets and secret versions. The sealed columns are opaque BLOBs here: they are
// bound and read as bytes, never inspected, and never named in an error message.
#include "store/sql/codec.h"
#include "store/sql/list_sql.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

constexpr std::string_view kBlobCols = "id, kek_id, wrapped_dek, ciphertext, purpose, created_at";

Result<model::SealedBlob> ReadBlob(const Stmt& s) {
  return model::SealedBlob{.id = s.Text(0),
                           .kek_id = s.Text(1),
                           .wrapped_dek = s.Blob(2),
                           .ciphertext = s.Blob(3),
                           .purpose = s.Text(4),
                           .created_at = DecodeTime(s.Int(5))};
}

constexpr std::string_view kSecretCols =
    "id, account_id, name, kind, tags, current_version, description, created_at, updated_at";

Result<model::Secret> ReadSecret(const Stmt& s) {
  model::Secret out;
  out.id = s.Text(0);
  out.account_id = s.Text(1);
  out.name = s.Text(2);
  CF_ASSIGN_OR_RETURN(out.kind, DecodeEnum(model::ParseSecretKind(s.Text(3)), "secrets.kind"));
  CF_ASSIGN_OR_RETURN(out.tags, DecodeTags(s.Text(4), "secrets.tags"));
  out.current_version = static_cast<int>(s.Int(5));
  out.description = s.Text(6);
  out.created_at = DecodeTime(s.Int(7));
  out.updated_at = DecodeTime(s.Int(8));
  return out;
}

Result<model::SecretVersion> ReadSecretVersion(const Stmt& s) {
  return model::SecretVersion{.secret_id = s.Text(0),
                              .version = static_cast<int>(s.Int(1)),
                              .blob_id = s.Text(2),
                              .created_at = DecodeTime(s.Int(3))};
}

}  // namespace

// ---- sealed blobs

Status SqlBlobs::Insert(const model::SealedBlob& b) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO sealed_blobs (" + std::string(kBlobCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                         "sealed_blobs"));
  return s.Bind(1, b.id)
      .Bind(2, b.kek_id)
      .BindBlob(3, b.wrapped_dek)
      .BindBlob(4, b.ciphertext)
      .Bind(5, b.purpose)
      .Bind(6, EncodeTime(b.created_at))
      .Run();
}

Result<model::SealedBlob> SqlBlobs::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("SELECT " + std::string(kBlobCols) + " FROM sealed_blobs WHERE id = ?1",
                         "sealed_blobs"));
  s.Bind(1, id);
  return SingleRow<model::SealedBlob>(s, ReadBlob, "sealed blob " + id + " not found");
}

Status SqlBlobs::UpdateWrapping(const std::string& id, const std::string& kek_id,
                                const std::string& wrapped_dek) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("UPDATE sealed_blobs SET kek_id = ?2, wrapped_dek = ?3 WHERE id = ?1",
                         "sealed_blobs"));
  CF_TRY(s.Bind(1, id).Bind(2, kek_id).BindBlob(3, wrapped_dek).Run());
  if (s_.db().Changes() == 0) return NotFound("sealed blob " + id + " not found");
  return Ok();
}

Result<std::vector<std::string>> SqlBlobs::ListNotWrappedBy(const std::string& kek_id,
                                                            size_t limit) {
  // A walk of the primary key: after a rotation most rows match, so an index on kek_id would
  // not narrow the scan.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT id FROM sealed_blobs WHERE kek_id <> ?1 "
                                         "ORDER BY id LIMIT ?2",
                                         "sealed_blobs"));
  s.Bind(1, kek_id).Bind(2, EncodeLimit(limit));
  return CollectRows<std::string>(
      s, [](const Stmt& row) -> Result<std::string> { return row.Text(0); });
}

// ---- secrets

Status SqlSecrets::Insert(const model::Secret& secret) {
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(secret.tags, "secrets.tags"));
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO secrets (" + std::string(kSecretCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                                         "secrets"));
  return s.Bind(1, secret.id)
      .Bind(2, secret.account_id)
      .Bind(3, secret.name)
      .Bind(4, model::SecretKindName(secret.kind))
      .Bind(5, tags)
      .Bind(6, secret.current_version)
      .Bind(7, secret.description)
      .Bind(8, EncodeTime(secret.created_at))
      .Bind(9, EncodeTime(secret.updated_at))
      .Run();
}

Result<model::Secret> SqlSecrets::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(
      auto s,
      s_.Prepare("SELECT " + std::string(kSecretCols) + " FROM secrets WHERE id = ?1", "secrets"));
  s.Bind(1, id);
  return SingleRow<model::Secret>(s, ReadSecret, "secret " + id + " not found");
}

Result<std::vector<model::Secret>> SqlSecrets::ListByAccount(const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT " + std::string(kSecretCols) +
                                             " FROM secrets WHERE account_id = ?1 ORDER BY id",
                                         "secrets"));
  s.Bind(1, account_id);
  return CollectRows<model::Secret>(s, ReadSecret);
}

Result<std::vector<model::Secret>> SqlSecrets::List(const SecretFilter& f) {
  ListSql q(s_.dialect());
  q.After("", "id", 0, f.after_id);
  if (f.account_id) q.And("account_id = " + q.Param(*f.account_id));
  if (f.kind) q.And("kind = " + q.Param(std::string(model::SecretKindName(*f.kind))));
  CF_TRY(q.Tags("tags", f.tags));
  CF_TRY(q.Contains("name", f.name_contains, "name"));
  const std::string sql = "SELECT " + std::string(kSecretCols) + " FROM secrets" + q.Where() +
                          " ORDER BY id LIMIT " + q.Param(EncodeLimit(f.limit));
  CF_ASSIGN_OR_RETURN(auto s, q.Prepare(s_, sql, "secrets"));
  return CollectRows<model::Secret>(s, ReadSecret);
}

Status SqlSecrets::AddVersion(const model::SecretVersion& v, TimePoint updated_at) {
  return s_.Atomically([&]() -> Status {
    // Insert first: a duplicate version (Conflict) or a missing secret (foreign key) then
    // fails before the secret row is touched.
    CF_ASSIGN_OR_RETURN(auto ins, s_.Prepare("INSERT INTO secret_versions "
                                             "(secret_id, version, blob_id, created_at) "
                                             "VALUES (?1, ?2, ?3, ?4)",
                                             "secret_versions"));
    auto inserted = ins.Bind(1, v.secret_id)
                        .Bind(2, v.version)
                        .Bind(3, v.blob_id)
                        .Bind(4, EncodeTime(v.created_at))
                        .Run();
    if (!inserted.ok()) {
      if (inserted.error().code() == ErrorCode::kFailedPrecondition) {
        return NotFound("secret " + v.secret_id + " not found");
      }
      return inserted;
    }
    CF_ASSIGN_OR_RETURN(auto upd, s_.Prepare("UPDATE secrets SET current_version = ?2, "
                                             "updated_at = ?3 WHERE id = ?1",
                                             "secrets"));
    CF_TRY(upd.Bind(1, v.secret_id).Bind(2, v.version).Bind(3, EncodeTime(updated_at)).Run());
    if (s_.db().Changes() == 0) return NotFound("secret " + v.secret_id + " not found");
    return Ok();
  });
}

Result<model::SecretVersion> SqlSecrets::GetVersion(const std::string& secret_id, int version) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT secret_id, version, blob_id, created_at "
                                         "FROM secret_versions "
                                         "WHERE secret_id = ?1 AND version = ?2",
                                         "secret_versions"));
  s.Bind(1, secret_id).Bind(2, version);
  return SingleRow<model::SecretVersion>(
      s, ReadSecretVersion,
      "version " + std::to_string(version) + " of secret " + secret_id + " not found");
}

}  // namespace certfleet::store::sql
