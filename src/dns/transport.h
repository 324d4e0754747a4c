// Internal to src/dns (not for other modules): RAII owners for ldns objects and one DNS exchange
// over TCP (RFC 7766) with a bounded time. TCP avoids truncation and the UDP spoofing window; every
// server the solver talks to (an authoritative primary) must answer on TCP.
//
// Exchange() encodes `query` with ldns, sends it to each address `server` resolves to in turn,
// and returns the first answer that parses (ldns_wire2pkt) and matches the query id with QR set,
// together with its wire bytes (needed to verify TSIG). Errors: Unavailable (retryable) when no
// address answered within `timeout` per address; Malformed for an unparsable or mismatched answer.
// The response rcode is not checked here. Thread-safe (no shared state).
#pragma once

// First: ldns/common.h otherwise defines `bool`, `true` and `false` as macros, which breaks the
// C++ standard library headers that follow.
#include <stdbool.h>

#include <ldns/ldns.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "dns/server.h"

namespace certfleet::dns::internal {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct RdfFree {
  void operator()(ldns_rdf* p) const { ldns_rdf_deep_free(p); }
};
struct RrFree {
  void operator()(ldns_rr* p) const { ldns_rr_free(p); }
};
struct RrListFree {
  void operator()(ldns_rr_list* p) const { ldns_rr_list_deep_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;
using RdfPtr = std::unique_ptr<ldns_rdf, RdfFree>;
using RrPtr = std::unique_ptr<ldns_rr, RrFree>;
using RrListPtr = std::unique_ptr<ldns_rr_list, RrListFree>;

struct Response {
  PktPtr pkt;
  std::vector<uint8_t> wire;
};

Result<Response> Exchange(const DnsServer& server, const ldns_pkt& query,
                          std::chrono::milliseconds timeout);

// An absolute domain name rdf from a canonical name ("" is the root). InvalidArgument if ldns
// refuses it.
Result<RdfPtr> NameRdf(std::string_view name);
// The canonical form (lower case, no trailing dot) of a dname rdf.
std::string NameOf(const ldns_rdf* dname);
// "NOERROR", "REFUSED", "NOTAUTH", ... or "RCODE n".
std::string RcodeName(ldns_pkt_rcode rcode);
// A query for `name` `type` class IN with a random id and RD clear (we ask authoritative
// servers what they hold, not what they can resolve), or set when `recursion_desired` (the
// validator's lookups through a recursive resolver, resolver.h).
Result<PktPtr> NewQuery(std::string_view name, ldns_rr_type type, bool recursion_desired = false);
// The value of a TXT RR: its <character-string>s concatenated (RFC 7208 style).
std::string TxtValue(const ldns_rr* rr);

}  // namespace certfleet::dns::internal
