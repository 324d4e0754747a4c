#include "api/dto.h"

#include "base/time_util.h"

namespace certfleet::api {

std::string Crn(const std::string& account_id, const std::string& kind, const std::string& id) {
  return "crn:certfleet:" + account_id + ":" + kind + "/" + id;
}

nlohmann::json CertificateJson(const lifecycle::CertificateView& view) {
  const model::Certificate& c = view.certificate;
  nlohmann::json j = {
      {"id", c.id},
      {"crn", Crn(c.account_id, "certificate", c.id)},
      {"account", c.account_id},
      {"name", c.name},
      {"domains", c.domains},
      {"key_type", c.key_type},
      {"profile", c.profile},
      {"issuer", c.issuer},
      {"exportable", c.exportable},
      {"tags", c.tags},
      {"status", model::CertificateStatusName(c.status)},
      {"status_detail", c.status_detail},
      {"validity", c.validity_seconds ? nlohmann::json(FormatDuration(Seconds(*c.validity_seconds)))
                                      : nlohmann::json(nullptr)},
      {"renew_before", c.renew_before_seconds
                           ? nlohmann::json(FormatDuration(Seconds(*c.renew_before_seconds)))
                           : nlohmann::json(nullptr)},
      {"created_at", FormatRfc3339(c.created_at)},
      {"updated_at", FormatRfc3339(c.updated_at)},
  };
  if (view.version) {
    const model::CertificateVersion& v = *view.version;
    j["version"] = v.version;
    j["version_id"] = v.id;
    j["serial"] = v.serial_hex;
    j["not_before"] = FormatRfc3339(v.not_before);
    j["not_after"] = FormatRfc3339(v.not_after);
    j["fingerprint"] = v.fingerprint_sha256;
  } else {
    for (const char* k :
         {"version", "version_id", "serial", "not_before", "not_after", "fingerprint"}) {
      j[k] = nullptr;
    }
  }
  return j;
}

nlohmann::json ExportJson(const lifecycle::ExportResult& r) {
  return {{"export_id", r.export_id},
          {"certificate_id", r.certificate_id},
          {"version", r.version},
          {"version_id", r.version_id},
          {"serial", r.serial_hex},
          {"certificate_pem", r.certificate_pem},
          {"chain_pem", r.chain_pem},
          {"fullchain_pem", r.fullchain_pem},
          {"private_key_pem", r.private_key_pem},
          {"passphrase_secret_id", r.passphrase_secret_id ? nlohmann::json(*r.passphrase_secret_id)
                                                          : nlohmann::json(nullptr)}};
}

Result<lifecycle::CertificateRequest> ParseCertificateRequest(JsonBody& body) {
  lifecycle::CertificateRequest r;
  CF_ASSIGN_OR_RETURN(r.name, body.String("name", 64));
  CF_ASSIGN_OR_RETURN(auto domains, body.OptStringArray("domains", lifecycle::kMaxDomains, 253));
  if (!domains || domains->empty()) return InvalidArgument("field \"domains\" is required");
  r.domains = std::move(*domains);
  CF_ASSIGN_OR_RETURN(auto key_type, body.OptString("key_type", 32));
  if (key_type) r.key_type = *key_type;
  CF_ASSIGN_OR_RETURN(auto profile, body.OptString("profile", 64));
  if (profile) r.profile = *profile;
  CF_ASSIGN_OR_RETURN(auto exportable, body.OptBool("exportable"));
  r.exportable = exportable.value_or(false);
  CF_ASSIGN_OR_RETURN(auto tags, body.OptStringMap("tags"));
  if (tags) r.tags = std::move(*tags);
  CF_ASSIGN_OR_RETURN(auto validity, body.OptString("validity", 32));
  if (validity) {
    CF_ASSIGN_OR_RETURN(Seconds v, ParseDuration(*validity));
    r.validity = v;
  }
  CF_ASSIGN_OR_RETURN(auto renew_before, body.OptString("renew_before", 32));
  if (renew_before) {
    CF_ASSIGN_OR_RETURN(Seconds v, ParseDuration(*renew_before));
    r.renew_before = v;
  }
  CF_ASSIGN_OR_RETURN(auto issuer, body.OptString("issuer", 64));
  if (issuer) r.issuer = *issuer;
  CF_TRY(body.NoOtherFields());
  return r;
}

}  // namespace certfleet::api

namespace certfleet::api {

nlohmann::json AccountJson(const model::Account& a) {
  return {{"id", a.id},
          {"name", a.name},
          {"crn", Crn(a.id, "account", a.id)},
          {"created_at", FormatRfc3339(a.created_at)}};
}

nlohmann::json PrincipalJson(const model::Principal& p) {
  return {{"id", p.id},
          {"account", p.account_id},
          {"name", p.name},
          {"kind", model::PrincipalKindName(p.kind)},
          {"role", model::RoleName(p.role)},
          {"tags", p.tags},
          {"disabled", p.disabled},
          {"created_at", FormatRfc3339(p.created_at)}};
}

nlohmann::json GrantJson(const model::Grant& g) {
  return {{"id", g.id},
          {"from_account", g.from_account_id},
          {"to_account", g.to_account_id},
          {"created_by", g.created_by},
          {"created_at", FormatRfc3339(g.created_at)},
          {"revoked", g.revoked},
          {"revoked_at",
           g.revoked_at ? nlohmann::json(FormatRfc3339(*g.revoked_at)) : nlohmann::json(nullptr)}};
}

nlohmann::json PolicyJson(const model::PolicyDocument& d) {
  return {
      {"account", d.account_id},
      {"version", d.version},
      {"toml", d.toml},
      {"updated_by", d.updated_by.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.updated_by)},
      {"updated_at",
       d.version == 0 ? nlohmann::json(nullptr) : nlohmann::json(FormatRfc3339(d.updated_at))}};
}

nlohmann::json SecretJson(const model::Secret& s) {
  return {{"id", s.id},
          {"crn", Crn(s.account_id, "secret", s.id)},
          {"account", s.account_id},
          {"name", s.name},
          {"kind", model::SecretKindName(s.kind)},
          {"tags", s.tags},
          {"version", s.current_version},
          {"description", s.description},
          {"created_at", FormatRfc3339(s.created_at)},
          {"updated_at", FormatRfc3339(s.updated_at)}};
}

nlohmann::json AuditJson(const model::AuditRecord& r) {
  return {{"seq", r.seq},
          {"id", r.id},
          {"at", FormatRfc3339(r.at)},
          {"account", r.account_id},
          {"principal", r.principal_id},
          {"action", r.action},
          {"resource", r.resource},
          {"outcome", model::AuditOutcomeName(r.outcome)},
          {"status", r.status},
          {"source", r.source},
          {"detail", r.detail},
          {"hash", r.hash}};
}

nlohmann::json ExportReportJson(const lifecycle::ExportReportRow& r) {
  return {{"account", r.account_id},    {"certificate", r.certificate_id},
          {"name", r.certificate_name}, {"exports", r.exports},
          {"fqdns", r.fqdns},           {"wildcards", r.wildcards}};
}

}  // namespace certfleet::api
