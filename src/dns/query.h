// Queries the dns-01 solver asks of an authoritative DNS server (issue #6): which TXT values a
// name has, where `_acme-challenge.<name>` delegates to by CNAME, which zone a name is in, and
// whether a value has propagated.
//
// Every function sends non-recursive queries (RD clear) over TCP to `server` only, with
// `timeout` per exchange, and validates names first (ValidateRecordName). Errors: InvalidArgument
// for bad input; Unavailable (retryable) when the server does not answer in time or answers
// SERVFAIL; Forbidden for REFUSED (the server is not authoritative for the name); Malformed for a
// garbled answer; FailedPrecondition for a CNAME loop or an overlong chain; Timeout from
// WaitForTxt. Names returned are canonical (lower case, no trailing dot). Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "dns/server.h"

namespace certfleet::dns {

inline constexpr std::chrono::milliseconds kDefaultQueryTimeout{3000};
// CNAME hops followed before giving up (a chain that long is a misconfiguration).
inline constexpr int kMaxCnameChain = 8;

// The TXT values at exactly `fqdn` (each RR's strings concatenated, RFC 7208 style; order as the
// server sent them). NXDOMAIN and NODATA give an empty list.
Result<std::vector<std::string>> QueryTxt(const DnsServer& server, std::string_view fqdn,
                                          std::chrono::milliseconds timeout = kDefaultQueryTimeout);

// Follows CNAMEs from `fqdn` (e.g. "_acme-challenge.app.example.test") and returns the name the
// TXT record must be written at: `fqdn` itself when it has no CNAME, else the end of the chain
// (ACM-style delegation: "_acme-challenge.app.example.test CNAME app.delegated.test"). Every
// name of the chain is asked of `server`, so the zones along it must be served there. At most
// kMaxCnameChain hops; a name seen twice is a loop (FailedPrecondition naming the chain).
Result<std::string> ResolveCnameTarget(const DnsServer& server, std::string_view fqdn,
                                       std::chrono::milliseconds timeout = kDefaultQueryTimeout);

// The apex of the zone `fqdn` is in, as `server` sees it: the owner of the SOA record in the
// answer (a query at the apex) or the authority section (a name below it). Walks up one label at
// a time while the server REFUSEs or gives no SOA; NotFound when no ancestor has one.
Result<std::string> FindZone(const DnsServer& server, std::string_view fqdn,
                             std::chrono::milliseconds timeout = kDefaultQueryTimeout);

struct WaitOptions {
  std::chrono::milliseconds timeout{60000};  // total; at most one hour
  std::chrono::milliseconds poll{1000};      // between queries; at least 1 ms
  std::chrono::milliseconds query_timeout = kDefaultQueryTimeout;
  // Time source and sleeper; defaults are the system clock and std::this_thread::sleep_for.
  // Tests inject a FakeClock and a sleeper that advances it.
  const Clock* clock = nullptr;
  std::function<void(std::chrono::milliseconds)> sleep;
};

// Polls `server` until `fqdn` has the TXT value `value` (Ok), or options.timeout has passed on
// options.clock (Timeout, with the last query error as cause). The number of queries is bounded
// by timeout/poll + 1 even if the clock does not move. Query errors in between are retried.
Status WaitForTxt(const DnsServer& server, std::string_view fqdn, std::string_view value,
                  const WaitOptions& options = {});

}  // namespace certfleet::dns
