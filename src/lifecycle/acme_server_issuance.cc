#include "lifecycle/acme_server_issuance.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "acme/protocol/server_problem.h"
#include "base/encoding.h"
#include "base/log.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "ca/profiles.h"
#include "crypto/hash.h"
#include "events/events.h"
#include "lifecycle/account_policy_loader.h"
#include "lifecycle/domain_claims.h"
#include "lifecycle/renewal_plan.h"
#include "policy/authorize.h"
#include "policy/domain_claims.h"

namespace certfleet::lifecycle {
namespace {

using acme::AcmeError;
using acme::Subproblem;

Subproblem Refused(const std::string& name, const std::string& detail) {
  return Subproblem{.type = std::string(acme::kAcmeErrorPrefix) + "rejectedIdentifier",
                    .detail = detail,
                    .identifier = name};
}

// A key type the policy allows, for checking names before the CSR (and its key) exists.
std::string AnyAllowedKeyType(const policy::AccountPolicy& pol) {
  if (pol.allowed_key_types.has_value() && !pol.allowed_key_types->empty()) {
    return pol.allowed_key_types->front();
  }
  return "p256";
}

// "acme-" and 16 hex digits of SHA-256(profile, sorted names): the record a client's orders for
// the same names under the same profile join.
std::string RecordName(const std::string& profile, std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  std::string input = profile;
  for (const std::string& n : names) input += "\n" + n;
  return "acme-" + crypto::Sha256Hex(input).substr(0, 16);
}

// The serial (as VersionRepo stores it) named by an ARI certificate id "aki.serial".
Result<std::string> SerialOfCertId(const std::string& cert_id) {
  const size_t dot = cert_id.find('.');
  if (dot == std::string::npos) return NotFound("not an ARI certificate identifier");
  CF_ASSIGN_OR_RETURN(std::string serial, Base64UrlDecode(cert_id.substr(dot + 1)));
  size_t first = serial.find_first_not_of('\0');
  if (first == std::string::npos) return NotFound("not an ARI certificate identifier");
  return HexEncode(std::string_view(serial).substr(first));
}

}  // namespace

Result<model::Principal> AcmeServerIssuance::LoadPrincipal(store::Tx& tx,
                                                           const acme::server::Binding& b) {
  Result<model::Principal> p = tx.principals().Get(b.principal_id);
  if (!p.ok() || p->disabled || p->account_id != b.account_id) {
    return AcmeError("unauthorized",
                     "the certfleet principal this ACME account acts as is gone or disabled");
  }
  return p;
}

Status AcmeServerIssuance::CheckOrder(const acme::server::Binding& b,
                                      const std::vector<store::AcmeServerIdentifier>& identifiers,
                                      const std::string& profile) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
  CF_ASSIGN_OR_RETURN(model::Principal principal, LoadPrincipal(*tx, b));
  policy::Subject subject{.principal_id = principal.id,
                          .home_account_id = principal.account_id,
                          .role = principal.role,
                          .tags = principal.tags};
  policy::Decision may = policy::Authorize(subject, policy::Action::kCertificateRequest,
                                           policy::Target{.account_id = b.account_id});
  if (!may.allowed) {
    return AcmeError("unauthorized",
                     "the certfleet principal of this ACME account may not "
                     "request certificates (" +
                         may.rule + ")");
  }
  CF_ASSIGN_OR_RETURN(policy::AccountPolicy pol, LoadAccountPolicy(*tx, b.account_id));
  CF_ASSIGN_OR_RETURN(ca::Profile prof, ca::FindProfile(profile));
  const TimePoint now = clock_.Now();
  std::vector<Subproblem> refused;
  for (const store::AcmeServerIdentifier& id : identifiers) {
    if (id.type == "ip" && !prof.allow_ip_addresses) {
      refused.push_back(Refused(id.value, "profile " + QuoteForMessage(profile) +
                                              " does not allow IP identifiers (short-lived "
                                              "does)"));
      continue;
    }
    Status claimed = CheckDomainClaims(*tx, b.account_id, {id.value});
    if (!claimed.ok()) {
      if (claimed.error().code() != ErrorCode::kForbidden) return claimed;
      refused.push_back(Refused(id.value, "the account has no domain claim covering this name"));
      continue;
    }
    policy::RequestFacts facts{
        .domains = {id.value},
        .key_type = AnyAllowedKeyType(pol),
        .profile = profile,
        .validity = std::min(prof.default_validity, ca::MaxValidity(prof, now)),
        .exportable = false};
    policy::Decision d = policy::EvaluateRequest(pol, facts);
    if (!d.allowed) refused.push_back(Refused(id.value, d.message + " (rule " + d.rule + ")"));
  }
  if (!refused.empty()) {
    return AcmeError("rejectedIdentifier",
                     std::to_string(refused.size()) +
                         " identifier(s) refused by the account's "
                         "domain claims or policy",
                     std::move(refused));
  }
  return Ok();
}

bool AcmeServerIssuance::AuthorizedWithoutChallenge(const acme::server::Binding& b,
                                                    const store::AcmeServerIdentifier& id) {
  if (!options_.authorize_claimed_without_challenge) return false;
  auto tx = store_.BeginRead();
  if (!tx.ok()) return false;
  // CheckDomainClaims lets the system account hold anything; "covered by a claim" must mean a
  // claim, so the system account gets no shortcut.
  auto claims = (*tx)->domain_claims().ListByAccount(b.account_id);
  if (!claims.ok()) return false;
  for (const model::DomainClaim& c : *claims) {
    if (policy::ClaimCovers(c, id.value)) return true;
  }
  return false;
}

Result<store::AcmeServerOrder> AcmeServerIssuance::Finalize(const acme::server::Binding& b,
                                                            const store::AcmeServerOrder& order,
                                                            const x509::Csr& csr) {
  std::vector<std::string> names;
  for (const auto& id : order.identifiers) names.push_back(id.value);
  const std::string key_type(crypto::KeyTypeName(csr.public_key().type()));
  model::Principal principal;
  std::string record = RecordName(order.profile, names);
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
    CF_ASSIGN_OR_RETURN(principal, LoadPrincipal(*tx, b));
    // The account policy and claims of today, with the CSR's key type.
    CF_TRY(CheckDomainClaims(*tx, b.account_id, names));
    CF_ASSIGN_OR_RETURN(policy::AccountPolicy pol, LoadAccountPolicy(*tx, b.account_id));
    CF_ASSIGN_OR_RETURN(ca::Profile prof, ca::FindProfile(order.profile));
    policy::RequestFacts facts{
        .domains = names,
        .key_type = key_type,
        .profile = order.profile,
        .validity = std::min(prof.default_validity, ca::MaxValidity(prof, clock_.Now())),
        .exportable = false};
    policy::Decision d = policy::EvaluateRequest(pol, facts);
    if (!d.allowed) {
      if (d.rule.rfind("key_type", 0) == 0) {
        return AcmeError("badCSR", d.message + " (rule " + d.rule + ")");
      }
      return AcmeError("unauthorized", d.message + " (rule " + d.rule + ")");
    }
    if (!order.replaces.empty()) {
      // ARI: the order renews the certificate whose version `replaces` names; it must be this
      // account's and still be one of ours.
      auto serial = SerialOfCertId(order.replaces);
      auto replaced = serial.ok() ? tx->versions().GetBySerial(*serial)
                                  : Result<model::CertificateVersion>(serial.error());
      if (!replaced.ok()) {
        return AcmeError("malformed", "\"replaces\" names no certificate of this server");
      }
      CF_ASSIGN_OR_RETURN(model::Certificate cert,
                          tx->certificates().Get(replaced->certificate_id));
      if (cert.account_id != b.account_id || cert.issuer != kAcmeServerIssuer) {
        return AcmeError("malformed", "\"replaces\" names no certificate of this account");
      }
      record = cert.name;
    }
  }
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  for (const auto& id : order.identifiers) {
    (id.type == "ip" ? ip_addresses : dns_names).push_back(id.value);
  }
  ca::LeafRequest leaf_request{.profile = order.profile,
                               .dns_names = dns_names,
                               .ip_addresses = ip_addresses,
                               .subject_public_key_der = csr.public_key().spki_der(),
                               .key_type = csr.public_key().type()};
  Result<ca::IssuedLeaf> issued = ca_.Issue(leaf_request);
  if (!issued.ok()) {
    if (issued.error().code() == ErrorCode::kInvalidArgument) {
      return AcmeError("badCSR", issued.error().message());
    }
    return issued.error();
  }
  audit::RequestScope scope(audit_, {.account_id = b.account_id,
                                     .principal_id = principal.id,
                                     .action = "acme.order.finalize",
                                     .resource = order.id,
                                     .source = "acme",
                                     .detail = "acme order " + order.id});
  Caller caller{.principal_id = principal.id,
                .account_id = b.account_id,
                .role = principal.role,
                .tags = principal.tags,
                .source_address = "acme",
                .audit = &scope};
  ExternalVersion e{.name = record,
                    .domains = names,
                    .key_type = key_type,
                    .profile = order.profile,
                    .issuer = std::string(kAcmeServerIssuer),
                    .tags = b.tags,
                    .leaf = issued->leaf,
                    .leaf_pem = issued->leaf.ToPem(),
                    .chain_pem = x509::ChainToPem(issued->chain),
                    .issuer_ca_id = issued->ca_id};
  store::AcmeServerOrder done = order;
  CF_ASSIGN_OR_RETURN(CertificateView view,
                      certificates_.RecordExternal(
                          caller, e, [&](store::Tx& tx, const CertificateView& v) -> Status {
                            done.status = "valid";
                            done.error_json.clear();
                            done.certificate_id = v.certificate.id;
                            done.version_id = v.version->id;
                            done.updated_at = clock_.Now();
                            return tx.acme_server().UpdateOrder(done);
                          }));
  (void)view;
  return done;
}

Result<std::string> AcmeServerIssuance::CertificateChain(const store::AcmeServerOrder& order) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
  CF_ASSIGN_OR_RETURN(model::CertificateVersion v, tx->versions().Get(order.version_id));
  return v.leaf_pem + v.chain_pem;
}

Status AcmeServerIssuance::Revoke(const std::optional<acme::server::Binding>& b,
                                  const x509::Certificate& leaf, int reason) {
  const TimePoint now = std::chrono::floor<Seconds>(clock_.Now());
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  Result<model::CertificateVersion> v = tx->versions().GetBySerial(leaf.serial_hex());
  if (!v.ok() || v->fingerprint_sha256 != leaf.fingerprint_sha256_hex()) {
    return AcmeError("malformed", "the certificate was not issued by this server");
  }
  CF_ASSIGN_OR_RETURN(model::Certificate cert, tx->certificates().Get(v->certificate_id));
  if (cert.issuer != kAcmeServerIssuer) {
    return AcmeError("unauthorized", "this certificate is not managed through ACME");
  }
  if (b.has_value() && b->account_id != cert.account_id) {
    return AcmeError("unauthorized", "the certificate belongs to another account");
  }
  if (v->not_after <= now) {
    return AcmeError("malformed", "the certificate has expired");
  }
  CF_ASSIGN_OR_RETURN(auto listed, tx->revocations().ListByCertificate(cert.id));
  for (const model::Revocation& r : listed) {
    if (r.serial_hex == v->serial_hex) {
      return AcmeError("alreadyRevoked", "the certificate is revoked already");
    }
  }
  const auto why = static_cast<x509::RevocationReason>(reason);
  CF_TRY(tx->revocations().Insert({.serial_hex = v->serial_hex,
                                   .ca_id = v->issuer_ca_id,
                                   .certificate_id = cert.id,
                                   .version_id = v->id,
                                   .reason = reason,
                                   .revoked_at = now}));
  if (cert.current_version_id == v->id) {
    cert.status = model::CertificateStatus::kRevoked;
    cert.status_detail = "revoked by ACME: " + std::string(x509::RevocationReasonName(why));
    cert.updated_at = now;
    CF_TRY(tx->certificates().Update(cert));
  }
  nlohmann::json data = {{"certificate_id", cert.id},
                         {"name", cert.name},
                         {"reason", std::string(x509::RevocationReasonName(why))},
                         {"serials", {v->serial_hex}},
                         {"revoked_at", FormatRfc3339(now)},
                         {"via", "acme"}};
  auto event = events::Emit(*tx, clock_, random_,
                            {.account_id = cert.account_id,
                             .type = "certificate.revoked",
                             .subject = cert.id,
                             .data_json = data.dump(),
                             .tags = cert.tags});
  if (!event.ok()) return std::move(event).error();
  auto audited = audit_.Append(*tx, {.account_id = cert.account_id,
                                     .principal_id = b ? b->principal_id : "",
                                     .action = "acme.certificate.revoke",
                                     .resource = cert.id,
                                     .status = 200,
                                     .source = "acme",
                                     .detail = b ? "acme account " + b->acme_account_id
                                                 : "signed with the certificate's key"});
  if (!audited.ok()) return std::move(audited).error();
  CF_TRY(tx->Commit());
  log::Info("certificate revoked", {{"certificate_id", cert.id},
                                    {"account_id", cert.account_id},
                                    {"serial", v->serial_hex},
                                    {"via", "acme"}});
  return Ok();
}

Result<acme::server::RenewalWindow> AcmeServerIssuance::RenewalInfo(const std::string& cert_id) {
  CF_ASSIGN_OR_RETURN(std::string serial, SerialOfCertId(cert_id));
  CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
  CF_ASSIGN_OR_RETURN(model::CertificateVersion v, tx->versions().GetBySerial(serial));
  CF_ASSIGN_OR_RETURN(model::Certificate cert, tx->certificates().Get(v.certificate_id));
  if (cert.issuer != kAcmeServerIssuer) return NotFound("not an ACME server certificate");
  CF_ASSIGN_OR_RETURN(auto revoked, tx->revocations().ListByCertificate(cert.id));
  for (const model::Revocation& r : revoked) {
    if (r.serial_hex == v.serial_hex) {
      // Revoked: renew now (RFC 9773 section 4.2 lets the window lie in the past).
      const TimePoint now = std::chrono::floor<Seconds>(clock_.Now());
      return acme::server::RenewalWindow{now - std::chrono::hours(1), now};
    }
  }
  // The window certfleet uses for its own certificates: the last third of the lifetime, the
  // first half of it suggested.
  const TimePoint start = RenewalWindowStart(cert, v);
  const TimePoint end = start + (v.not_after - start) / 2;
  return acme::server::RenewalWindow{std::chrono::floor<Seconds>(start),
                                     std::chrono::floor<Seconds>(end)};
}

Status AcmeServerIssuance::Audit(store::Tx& tx, const acme::server::Binding& b,
                                 const std::string& action, const std::string& resource) {
  auto r = audit_.Append(tx, {.account_id = b.account_id,
                              .principal_id = b.principal_id,
                              .action = action,
                              .resource = resource,
                              .outcome = model::AuditOutcome::kSuccess,
                              .status = 200,
                              .source = "acme",
                              .detail = "acme account " + b.acme_account_id});
  if (!r.ok()) return std::move(r).error();
  return Ok();
}

Status AcmeServerIssuance::EnqueueValidation(store::Tx& tx, const std::string& account_id,
                                             const std::string& challenge_id) {
  nlohmann::json input = {{"challenge_id", challenge_id}};
  auto job = engine_.Enqueue(tx, {.account_id = account_id,
                                  .type = std::string(kAcmeValidationJob),
                                  .input_json = input.dump(),
                                  .idempotency_key = challenge_id,
                                  .max_attempts = 5,
                                  .deadline = clock_.Now() + std::chrono::minutes(10)});
  if (!job.ok()) return std::move(job).error();
  return Ok();
}

void RegisterAcmeValidationJob(jobs::JobEngine& engine, acme::server::AcmeServer& server) {
  engine.Register(std::string(kAcmeValidationJob), [&server](const model::Job& job) {
    nlohmann::json input = nlohmann::json::parse(job.input_json, nullptr, false);
    if (!input.is_object() || !input.contains("challenge_id") ||
        !input["challenge_id"].is_string()) {
      return jobs::StepResult::Fail("malformed acme validation job input");
    }
    Status s = server.RunValidation(input["challenge_id"].get<std::string>());
    if (!s.ok()) return jobs::StepResult::Retry(s.error().ToString());
    return jobs::StepResult::Done();
  });
}

}  // namespace certfleet::lifecycle
