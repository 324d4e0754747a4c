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
    for (const char* k : {"version", "version_id", "serial", "not_before", "not_after",
                          "fingerprint"}) {
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
