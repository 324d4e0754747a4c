#include "acme/client/dns01_solver.h"

#include "dns/names.h"

namespace certfleet::acme {
namespace {

Error Prefixed(const Error& e, const std::string& prefix) {
  Error out(e.code(), prefix + ": " + e.message());
  if (e.retryable()) out.WithRetry(e.retry_after());
  if (e.cause() != nullptr) return std::move(out).WithCause(*e.cause());
  return out;
}

}  // namespace

Result<std::string> ChallengeRecordName(std::string_view identifier) {
  std::string name = dns::CanonicalName(identifier);
  // RFC 8555 section 8.4: a wildcard's authorization is for the base name; the TXT sits at
  // _acme-challenge.<base>.
  if (name.rfind("*.", 0) == 0) name.erase(0, 2);
  std::string fqdn = std::string(kAcmeChallengeLabel) + "." + name;
  CF_TRY(dns::ValidateRecordName(fqdn));
  return fqdn;
}

Result<std::unique_ptr<Rfc2136Solver>> Rfc2136Solver::Create(Rfc2136SolverOptions options,
                                                             dns::TsigKey key) {
  if (!options.zone.empty()) {
    CF_TRY(dns::ValidateZoneName(options.zone));
    options.zone = dns::CanonicalName(options.zone);
  }
  if (options.propagation.timeout < std::chrono::milliseconds(1) ||
      options.propagation.timeout > std::chrono::hours(1)) {
    return InvalidArgument("propagation timeout must be between 1 ms and 1 hour");
  }
  if (options.propagation.poll < std::chrono::milliseconds(1)) {
    return InvalidArgument("propagation poll interval must be at least 1 ms");
  }
  if (options.query_timeout < std::chrono::milliseconds(1) ||
      options.query_timeout > std::chrono::seconds(60)) {
    return InvalidArgument("query timeout must be between 1 ms and 60 s");
  }
  CF_ASSIGN_OR_RETURN(std::unique_ptr<dns::Rfc2136Client> client,
                      dns::Rfc2136Client::Create(options.update, std::move(key)));
  return std::unique_ptr<Rfc2136Solver>(new Rfc2136Solver(std::move(options), std::move(client)));
}

Result<Rfc2136Solver::Target> Rfc2136Solver::Locate(std::string_view fqdn,
                                                    std::string_view value) const {
  CF_TRY(dns::ValidateRecordName(fqdn));
  CF_TRY(dns::ValidateTxtValue(value));
  const std::string name = dns::CanonicalName(fqdn);
  if (name.rfind(std::string(kAcmeChallengeLabel) + ".", 0) != 0) {
    return InvalidArgument("dns-01 record name must start with _acme-challenge.");
  }
  const dns::DnsServer& server = options_.update.server;
  Target target;
  // CNAME delegation: the CA follows the CNAME, so the value must be written at its end.
  CF_ASSIGN_OR_RETURN(target.name, dns::ResolveCnameTarget(server, name, options_.query_timeout));
  if (!options_.zone.empty()) {
    if (!dns::IsAtOrBelow(target.name, options_.zone)) {
      return InvalidArgument(target.name + " (for " + name + ") is not in the configured zone " +
                             options_.zone);
    }
    target.zone = options_.zone;
  } else {
    CF_ASSIGN_OR_RETURN(target.zone, dns::FindZone(server, target.name, options_.query_timeout));
  }
  return target;
}

Status Rfc2136Solver::Present(std::string_view fqdn, std::string_view value) {
  const std::string what = "dns-01 record " + dns::CanonicalName(fqdn);
  Result<Target> target = Locate(fqdn, value);
  if (!target.ok()) return Prefixed(target.error(), what);
  const std::string where =
      what + " (written at " + target->name + " in zone " + target->zone + ")";
  Status added = client_->AddTxt(target->zone, target->name, value);
  if (!added.ok()) return Prefixed(added.error(), where);
  // Issue #6: check propagation against the zone's server before the CA is told to look.
  Status seen = dns::WaitForTxt(options_.update.server, target->name, value, options_.propagation);
  if (!seen.ok()) return Prefixed(seen.error(), where + ": propagation check");
  return Ok();
}

Status Rfc2136Solver::CleanUp(std::string_view fqdn, std::string_view value) {
  const std::string what = "cleaning up dns-01 record " + dns::CanonicalName(fqdn);
  Result<Target> target = Locate(fqdn, value);
  if (!target.ok()) return Prefixed(target.error(), what);
  Status removed = client_->RemoveTxt(target->zone, target->name, value);
  if (!removed.ok()) {
    return Prefixed(removed.error(),
                    what + " (at " + target->name + " in zone " + target->zone + ")");
  }
  return Ok();
}

}  // namespace certfleet::acme
