// Lookups through a recursive resolver, for the ACME server's validator (issue #16): the TXT
// records of dns-01 (RFC 8555 section 8.4) and the CAA record sets of RFC 8659. Unlike query.h
// (which asks authoritative servers, RD clear), these queries set RD: the resolver is certfleetd's
// own (--acme-resolver, or the first nameserver of /etc/resolv.conf) and is asked what the world
// sees.
//
// CNAMEs: a resolver answers with the CNAME chain and the records at its end. A lookup follows the
// chain from the name asked through the answer section; when the chain ends at a name without
// records of the type asked (a server that answered the CNAME alone, e.g. an authoritative-only
// one), that name is asked again, up to kMaxCnameChain hops in all. A name seen twice is a loop.
//
// Over TCP (transport.h), `timeout` per exchange. Errors: InvalidArgument for a bad name;
// Unavailable (retryable) when the resolver does not answer in time or answers SERVFAIL; Forbidden
// for REFUSED; FailedPrecondition for other rcodes, a CNAME loop or an overlong chain; Malformed
// for a garbled answer or an unparsable CAA record. Messages name the resolver and the names
// asked. Thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "dns/caa.h"
#include "dns/query.h"
#include "dns/server.h"

namespace certfleet::dns {

struct TxtLookup {
  std::string name;                 // canonical; the end of the CNAME chain (or the name asked)
  bool nxdomain = false;            // the resolver answered NXDOMAIN for `name`
  std::vector<std::string> values;  // each RR's strings concatenated, as QueryTxt does
};
// The TXT values at `fqdn` (a record name, ValidateRecordName), CNAMEs followed. NXDOMAIN and
// NODATA are answers (values empty), not errors.
Result<TxtLookup> ResolveTxt(const DnsServer& resolver, std::string_view fqdn,
                             std::chrono::milliseconds timeout = kDefaultQueryTimeout);

struct CaaLookup {
  std::string name;  // canonical; the end of the CNAME chain (or the name asked)
  bool nxdomain = false;
  std::vector<CaaRecord> records;  // in the order the resolver sent them
};
// The CAA record set at `fqdn` (letters, digits and '-' labels; one label, a TLD, is allowed),
// CNAMEs followed. NXDOMAIN and NODATA give an empty set.
Result<CaaLookup> ResolveCaa(const DnsServer& resolver, std::string_view fqdn,
                             std::chrono::milliseconds timeout = kDefaultQueryTimeout);

struct AddressLookup {
  std::string name;  // canonical; the end of the CNAME chain (or the name asked)
  bool nxdomain = false;
  std::vector<std::string> addresses;  // numeric, IPv4 (A) first, then IPv6 (AAAA)
};
// The A and AAAA records of `host` (letters, digits, '-' and '_' labels), CNAMEs followed: the
// addresses the ACME server's validator connects to for http-01 and tls-alpn-01, resolved
// through the same resolver as dns-01 (issue #16). NXDOMAIN and NODATA give no addresses.
Result<AddressLookup> ResolveAddresses(const DnsServer& resolver, std::string_view host,
                                       std::chrono::milliseconds timeout = kDefaultQueryTimeout);

// The first `nameserver` of a resolv.conf (port 53). NotFound when there is none, Unavailable if
// the file cannot be read.
Result<DnsServer> SystemResolver(const std::string& resolv_conf_path = "/etc/resolv.conf");

}  // namespace certfleet::dns
