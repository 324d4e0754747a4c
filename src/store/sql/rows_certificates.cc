// Certificates and certificate versions.
#include "base/validate.h"
#include "store/sql/codec.h"
#include "store/sql/list_sql.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

constexpr std::string_view kCertCols =
    "id, account_id, name, domains, key_type, profile, issuer, exportable, tags, status, "
    "status_detail, validity_seconds, renew_before_seconds, current_version_id, created_by, "
    "created_at, updated_at";

Result<model::Certificate> ReadCertificate(const Stmt& s) {
  model::Certificate c;
  c.id = s.Text(0);
  c.account_id = s.Text(1);
  c.name = s.Text(2);
  CF_ASSIGN_OR_RETURN(c.domains, DecodeStrings(s.Text(3), "certificates.domains"));
  c.key_type = s.Text(4);
  c.profile = s.Text(5);
  c.issuer = s.Text(6);
  c.exportable = s.Int(7) != 0;
  CF_ASSIGN_OR_RETURN(c.tags, DecodeTags(s.Text(8), "certificates.tags"));
  CF_ASSIGN_OR_RETURN(c.status,
                      DecodeEnum(model::ParseCertificateStatus(s.Text(9)), "certificates.status"));
  c.status_detail = s.Text(10);
  c.validity_seconds = s.OptInt(11);
  c.renew_before_seconds = s.OptInt(12);
  c.current_version_id = s.Text(13);
  c.created_by = s.Text(14);
  c.created_at = DecodeTime(s.Int(15));
  c.updated_at = DecodeTime(s.Int(16));
  return c;
}

constexpr std::string_view kVersionCols =
    "id, certificate_id, version, serial_hex, not_before, not_after, leaf_pem, chain_pem, "
    "fingerprint_sha256, key_blob_id, issuer_ca_id, created_at";

Result<model::CertificateVersion> ReadVersion(const Stmt& s) {
  return model::CertificateVersion{.id = s.Text(0),
                                   .certificate_id = s.Text(1),
                                   .version = static_cast<int>(s.Int(2)),
                                   .serial_hex = s.Text(3),
                                   .not_before = DecodeTime(s.Int(4)),
                                   .not_after = DecodeTime(s.Int(5)),
                                   .leaf_pem = s.Text(6),
                                   .chain_pem = s.Text(7),
                                   .fingerprint_sha256 = s.Text(8),
                                   .key_blob_id = s.Text(9),
                                   .issuer_ca_id = s.Text(10),
                                   .created_at = DecodeTime(s.Int(11))};
}

}  // namespace

// ---- certificates

Status SqlCertificates::Insert(const model::Certificate& c) {
  CF_ASSIGN_OR_RETURN(auto domains, EncodeStrings(c.domains, "certificates.domains"));
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(c.tags, "certificates.tags"));
  // current_not_after mirrors the current version's notAfter (migration 19), so that the
  // dashboard's counts read one covering index and no version row. SqlVersions::Insert sets it
  // too, for a certificate that names its version before the version row exists.
  CF_ASSIGN_OR_RETURN(
      auto s,
      s_.Prepare("INSERT INTO certificates (" + std::string(kCertCols) +
                     ", current_not_after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                     "?11, ?12, ?13, ?14, ?15, ?16, ?17, (SELECT not_after FROM "
                     "certificate_versions WHERE id = ?14))",
                 "certificates"));
  return s.Bind(1, c.id)
      .Bind(2, c.account_id)
      .Bind(3, c.name)
      .Bind(4, domains)
      .Bind(5, c.key_type)
      .Bind(6, c.profile)
      .Bind(7, c.issuer)
      .Bind(8, c.exportable)
      .Bind(9, tags)
      .Bind(10, model::CertificateStatusName(c.status))
      .Bind(11, c.status_detail)
      .Bind(12, c.validity_seconds)
      .Bind(13, c.renew_before_seconds)
      .Bind(14, c.current_version_id)
      .Bind(15, c.created_by)
      .Bind(16, EncodeTime(c.created_at))
      .Bind(17, EncodeTime(c.updated_at))
      .Run();
}

Result<model::Certificate> SqlCertificates::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("SELECT " + std::string(kCertCols) + " FROM certificates WHERE id = ?1",
                         "certificates"));
  s.Bind(1, id);
  return SingleRow<model::Certificate>(s, ReadCertificate, "certificate " + id + " not found");
}

Result<model::Certificate> SqlCertificates::GetByName(const std::string& account_id,
                                                      const std::string& name) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("SELECT " + std::string(kCertCols) +
                                     " FROM certificates WHERE account_id = ?1 AND name = ?2",
                                 "certificates"));
  s.Bind(1, account_id);
  s.Bind(2, name);
  return SingleRow<model::Certificate>(s, ReadCertificate, "certificate " + name + " not found");
}

Result<std::vector<model::Certificate>> SqlCertificates::List(const CertificateFilter& f) {
  ListSql q(s_.dialect());
  std::string key;  // the sort key, next to the id
  switch (f.sort) {
    case CertificateSort::kId:
      break;
    case CertificateSort::kCreatedAt:
      key = "c.created_at";
      break;
    case CertificateSort::kNotAfter:
      key = "COALESCE(v.not_after, " + std::to_string(kNoVersionNotAfter) + ")";
      break;
  }
  const bool join = f.sort == CertificateSort::kNotAfter || f.expires_before || f.expires_after;
  std::string cols;
  for (std::string_view rest = kCertCols; !rest.empty();) {
    const size_t comma = rest.find(", ");
    cols += (cols.empty() ? "c." : ", c.") + std::string(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
  }
  std::string sql = "SELECT " + cols + " FROM certificates c";
  if (join) sql += " LEFT JOIN certificate_versions v ON v.id = c.current_version_id";
  q.After(key, "c.id", f.after_key, f.after_id);
  if (f.account_id) q.And("c.account_id = " + q.Param(*f.account_id));
  if (f.status) {
    q.And("c.status = " + q.Param(std::string(model::CertificateStatusName(*f.status))));
  }
  if (f.issuer) q.And("c.issuer = " + q.Param(*f.issuer));
  CF_TRY(q.Tags("c.tags", f.tags));
  // The match runs on the stored JSON array of domains.
  CF_TRY(q.Contains("c.domains", f.domain_contains, "domain"));
  if (f.expires_before) q.And("v.not_after < " + q.Param(EncodeTime(*f.expires_before)));
  if (f.expires_after) q.And("v.not_after >= " + q.Param(EncodeTime(*f.expires_after)));
  sql += q.Where() + " ORDER BY " + (key.empty() ? std::string() : key + ", ") + "c.id LIMIT " +
         q.Param(EncodeLimit(f.limit));
  CF_ASSIGN_OR_RETURN(auto s, q.Prepare(s_, sql, "certificates"));
  return CollectRows<model::Certificate>(s, ReadCertificate);
}

Status SqlCertificates::Update(const model::Certificate& c) {
  // The SET list is the whole of what may change (store.h). exportable, account_id, domains,
  // key_type and profile are deliberately absent, and the certificates_immutable trigger
  // (migration 1) rejects any other statement that tries.
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(c.tags, "certificates.tags"));
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE certificates SET status = ?2, status_detail = ?3, "
                                         "current_version_id = ?4, current_not_after = (SELECT "
                                         "not_after FROM certificate_versions WHERE id = ?4), "
                                         "tags = ?5, "
                                         "renew_before_seconds = ?6, updated_at = ?7 "
                                         "WHERE id = ?1",
                                         "certificates"));
  CF_TRY(s.Bind(1, c.id)
             .Bind(2, model::CertificateStatusName(c.status))
             .Bind(3, c.status_detail)
             .Bind(4, c.current_version_id)
             .Bind(5, tags)
             .Bind(6, c.renew_before_seconds)
             .Bind(7, EncodeTime(c.updated_at))
             .Run());
  if (s_.db().Changes() == 0) return NotFound("certificate " + c.id + " not found");
  return Ok();
}

// ---- versions

Status SqlVersions::Insert(const model::CertificateVersion& v) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("INSERT INTO certificate_versions (" + std::string(kVersionCols) +
                                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                     "?11, ?12)",
                                 "certificate_versions"));
  CF_TRY(s.Bind(1, v.id)
             .Bind(2, v.certificate_id)
             .Bind(3, v.version)
             .Bind(4, v.serial_hex)
             .Bind(5, EncodeTime(v.not_before))
             .Bind(6, EncodeTime(v.not_after))
             .Bind(7, v.leaf_pem)
             .Bind(8, v.chain_pem)
             .Bind(9, v.fingerprint_sha256)
             .Bind(10, v.key_blob_id)
             .Bind(11, v.issuer_ca_id)
             .Bind(12, EncodeTime(v.created_at))
             .Run());
  // A certificate already naming this version (inserted or updated first) gets its notAfter.
  CF_ASSIGN_OR_RETURN(auto mirror, s_.Prepare("UPDATE certificates SET current_not_after = ?1 "
                                              "WHERE id = ?2 AND current_version_id = ?3",
                                              "certificates"));
  return mirror.Bind(1, EncodeTime(v.not_after)).Bind(2, v.certificate_id).Bind(3, v.id).Run();
}

Result<model::CertificateVersion> SqlVersions::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT " + std::string(kVersionCols) +
                                             " FROM certificate_versions WHERE id = ?1",
                                         "certificate_versions"));
  s.Bind(1, id);
  return SingleRow<model::CertificateVersion>(s, ReadVersion,
                                              "certificate version " + id + " not found");
}

Result<model::CertificateVersion> SqlVersions::GetBySerial(const std::string& serial_hex) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT " + std::string(kVersionCols) +
                                             " FROM certificate_versions WHERE serial_hex = ?1",
                                         "certificate_versions"));
  s.Bind(1, serial_hex);
  return SingleRow<model::CertificateVersion>(
      s, ReadVersion, "no certificate version has serial " + QuoteForMessage(serial_hex));
}

Result<std::vector<model::CertificateVersion>> SqlVersions::ListByCertificate(
    const std::string& certificate_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT " + std::string(kVersionCols) +
                                             " FROM certificate_versions WHERE certificate_id = ?1"
                                             " ORDER BY version",
                                         "certificate_versions"));
  s.Bind(1, certificate_id);
  return CollectRows<model::CertificateVersion>(s, ReadVersion);
}

}  // namespace certfleet::store::sql
