#include "lifecycle/export_service.h"

#include "audit/audit_log.h"
#include "base/failpoint.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/validate.h"
#include "lifecycle/account_policy_loader.h"
#include "lifecycle/certificate_service.h"
#include "secrets/passphrase.h"

namespace certfleet::lifecycle {
namespace {

TimePoint Whole(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }

int CountWildcards(const std::vector<std::string>& domains) {
  int n = 0;
  for (const std::string& d : domains) n += IsWildcard(d) ? 1 : 0;
  return n;
}

}  // namespace

Status ExportService::RecordRefusal(const Caller& caller, const model::Certificate& cert,
                                    const std::string& reason, const Error& refusal) {
  model::ExportRecord rec;
  rec.id = NewId(model::kExportPrefix, clock_, random_);
  rec.account_id = cert.account_id;
  rec.certificate_id = cert.id;
  rec.principal_id = caller.principal_id;
  rec.allowed = false;
  rec.reason = reason;
  rec.at = Whole(clock_.Now());
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(tx->exports().Insert(rec));
  // The refusal's audit record commits with the refusal's export record.
  const bool denied = refusal.code() == ErrorCode::kForbidden;
  CF_TRY(audit::AppendInTx(
      caller.audit, *tx,
      {.account_id = cert.account_id,
       .resource = cert.id,
       .outcome = denied ? model::AuditOutcome::kDenied : model::AuditOutcome::kFailure,
       .status = denied ? 403 : 409,
       .detail = refusal.message()}));
  return tx->Commit();
}

Result<ExportResult> ExportService::Export(const Caller& caller, const std::string& certificate_id,
                                           std::optional<SecretBytes> passphrase) {
  if (passphrase) CF_TRY(secrets::ValidatePassphrase(*passphrase));

  // Read what we need in a short transaction; the expensive PBKDF2 runs after it ends.
  CertificateView view;
  SecretBytes key_der;
  policy::Decision policy_decision;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(view, LoadVisible(*tx, caller, certificate_id));
    CF_ASSIGN_OR_RETURN(policy::AccountPolicy pol, LoadAccountPolicy(*tx, caller.account_id));
    policy_decision = policy::EvaluateExport(pol, {.role = caller.role});
    if (view.certificate.exportable && view.version && policy_decision.allowed) {
      CF_ASSIGN_OR_RETURN(key_der, secrets_.OpenBlob(*tx, view.version->key_blob_id));
    }
  }
  const model::Certificate& cert = view.certificate;
  if (!cert.exportable) {
    const bool acme = cert.issuer == kAcmeServerIssuer;
    const std::string reason = acme ? "the certificate's key is held by its ACME client"
                                    : "certificate was requested as not exportable";
    Error refusal = Conflict(
        "certificate " + cert.id +
        (acme ? " was issued through certfleet's ACME server; its private key never left the "
                "ACME client, so certfleet cannot export it"
              : " was requested as not exportable; this cannot be changed"));
    Status recorded = RecordRefusal(caller, cert, reason, refusal);
    if (!recorded.ok()) return std::move(recorded).error();
    log::Warn(
        "export refused",
        {{"certificate_id", cert.id}, {"principal_id", caller.principal_id}, {"reason", reason}});
    return refusal;
  }
  if (!policy_decision.allowed) {
    Error refusal = policy_decision.ToStatus().error();
    Status recorded = RecordRefusal(caller, cert, policy_decision.rule, refusal);
    if (!recorded.ok()) return std::move(recorded).error();
    return refusal;
  }
  if (!view.version) {
    return FailedPrecondition("certificate " + cert.id + " has no issued version yet");
  }
  const model::CertificateVersion& v = *view.version;

  const bool generated = !passphrase.has_value();
  SecretBytes pass = generated ? secrets::GeneratePassphrase(random_) : std::move(*passphrase);
  CF_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::FromPkcs8Der(key_der));
  CF_ASSIGN_OR_RETURN(std::string key_pem, key.ToEncryptedPkcs8Pem(pass, options_.pkcs8));

  ExportResult out;
  out.export_id = NewId(model::kExportPrefix, clock_, random_);
  out.certificate_id = cert.id;
  out.version_id = v.id;
  out.version = v.version;
  out.serial_hex = v.serial_hex;
  out.certificate_pem = v.leaf_pem;
  out.chain_pem = v.chain_pem;
  out.fullchain_pem = v.leaf_pem + v.chain_pem;
  out.private_key_pem = std::move(key_pem);

  model::ExportRecord rec;
  rec.id = out.export_id;
  rec.account_id = cert.account_id;
  rec.certificate_id = cert.id;
  rec.version_id = v.id;
  rec.principal_id = caller.principal_id;
  rec.allowed = true;
  rec.fqdn_count = static_cast<int>(cert.domains.size());
  rec.wildcard_count = CountWildcards(cert.domains);
  rec.at = Whole(clock_.Now());

  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  if (generated) {
    secrets::NewSecret spec{.account_id = cert.account_id,
                            .name = "export-" + out.export_id,
                            .kind = model::SecretKind::kPassphrase,
                            .tags = cert.tags,
                            .description = "passphrase of export " + out.export_id + " of " +
                                           cert.id + " version " + std::to_string(v.version)};
    CF_ASSIGN_OR_RETURN(model::Secret secret, secrets_.Create(*tx, spec, pass));
    out.passphrase_secret_id = secret.id;
    rec.secret_id = secret.id;
  }
  CF_TRY(tx->exports().Insert(rec));
  // Crash tests (test/e2e/test_audit_trust.py) kill the process at each step: the export record
  // and its audit record commit together or not at all.
  Failpoint("export.recorded");
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = cert.account_id, .resource = cert.id, .status = 200}));
  Failpoint("export.audited");
  CF_TRY(tx->Commit());
  Failpoint("export.committed");
  log::Info("certificate exported", {{"certificate_id", cert.id},
                                     {"version", std::to_string(v.version)},
                                     {"export_id", out.export_id},
                                     {"principal_id", caller.principal_id},
                                     {"generated_passphrase", generated ? "true" : "false"}});
  return out;
}

}  // namespace certfleet::lifecycle
