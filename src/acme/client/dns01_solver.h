// dns-01 solvers (RFC 8555 section 8.4, issue #6 "Solvers"): something that can plant a TXT value
// at `_acme-challenge.<name>` before the CA looks, and remove exactly that value afterwards.
//
// Contract of Dns01Solver:
//  - Present(fqdn, value) returns Ok only once the value is visible where the CA will look (an
//    implementation checks propagation before returning). Other TXT values at the same name stay
//    untouched: a wildcard and its apex share one name and need two values at once.
//  - CleanUp(fqdn, value) removes exactly that value; removing a value that is not there is Ok, so
//    callers may clean up after a Present that failed half-way.
//  - Errors are base Errors (InvalidArgument for bad input, Forbidden/Unavailable/Timeout from the
//    DNS side); messages never carry key material.
// Thread safety is per implementation; Rfc2136Solver is thread-safe (it holds no mutable state:
// options and the update client are fixed at Create).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "dns/query.h"
#include "dns/rfc2136_client.h"
#include "dns/tsig_key.h"

namespace certfleet::acme {

inline constexpr std::string_view kAcmeChallengeLabel = "_acme-challenge";

// "_acme-challenge.<name>" for an identifier `name`; for a wildcard "*.x" the name is "x"
// (RFC 8555 section 8.4). Canonical (lower case, no trailing dot). InvalidArgument for anything
// that is not a DNS name.
Result<std::string> ChallengeRecordName(std::string_view identifier);

class Dns01Solver {
 public:
  virtual ~Dns01Solver() = default;
  virtual Status Present(std::string_view fqdn, std::string_view value) = 0;
  virtual Status CleanUp(std::string_view fqdn, std::string_view value) = 0;
};

struct Rfc2136SolverOptions {
  // The primary server that takes updates and answers the CNAME, SOA and propagation queries.
  dns::Rfc2136Options update;
  // The zone to update; empty: the zone of the (CNAME-resolved) record name, found by SOA
  // (dns::FindZone). When set, the resolved name must lie at or below it.
  std::string zone;
  std::chrono::milliseconds query_timeout = dns::kDefaultQueryTimeout;
  // Propagation check after the update (bounded: dns::WaitForTxt).
  dns::WaitOptions propagation;
};

// dns-01 through RFC 2136 UPDATE with TSIG. For a record name it first follows CNAME delegation
// on the configured server (ACM's model: `_acme-challenge.app.example.test CNAME
// app.delegated.test` means the TXT goes to app.delegated.test), finds the zone, adds the TXT
// value, then waits until the server answers with it. CleanUp resolves the same way and removes
// exactly the value. Errors name the record, the resolved name and the zone.
class Rfc2136Solver : public Dns01Solver {
 public:
  // InvalidArgument for a bad zone name, a bad server/timeout/TTL (Rfc2136Client::Create) or a
  // propagation timeout outside 1 ms..1 h.
  static Result<std::unique_ptr<Rfc2136Solver>> Create(Rfc2136SolverOptions options,
                                                       dns::TsigKey key);

  Status Present(std::string_view fqdn, std::string_view value) override;
  Status CleanUp(std::string_view fqdn, std::string_view value) override;

 private:
  struct Target {
    std::string name;  // where the TXT is written (after CNAMEs)
    std::string zone;
  };
  Rfc2136Solver(Rfc2136SolverOptions options, std::unique_ptr<dns::Rfc2136Client> client)
      : options_(std::move(options)), client_(std::move(client)) {}
  Result<Target> Locate(std::string_view fqdn, std::string_view value) const;

  Rfc2136SolverOptions options_;
  std::unique_ptr<dns::Rfc2136Client> client_;
};

}  // namespace certfleet::acme
