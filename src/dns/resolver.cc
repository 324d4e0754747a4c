#include "dns/resolver.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/validate.h"
#include "dns/names.h"
#include "dns/transport.h"

namespace certfleet::dns {
namespace {

using internal::Response;

struct BufferFree {
  void operator()(ldns_buffer* b) const { ldns_buffer_free(b); }
};

// One recursive query; NOERROR and NXDOMAIN are answers, other rcodes errors.
Result<Response> AskResolver(const DnsServer& resolver, const std::string& name, ldns_rr_type type,
                             std::chrono::milliseconds timeout) {
  CF_ASSIGN_OR_RETURN(internal::PktPtr query,
                      internal::NewQuery(name, type, /*recursion_desired=*/true));
  CF_ASSIGN_OR_RETURN(Response answer, internal::Exchange(resolver, *query, timeout));
  const ldns_pkt_rcode rcode = ldns_pkt_get_rcode(answer.pkt.get());
  if (rcode == LDNS_RCODE_NOERROR || rcode == LDNS_RCODE_NXDOMAIN) return answer;
  std::string what = "DNS resolver " + resolver.ToString() + " answered " +
                     internal::RcodeName(rcode) + " for " + name;
  switch (rcode) {
    case LDNS_RCODE_REFUSED:
      return Forbidden(std::move(what));
    case LDNS_RCODE_SERVFAIL:
      return Unavailable(std::move(what)).WithRetry();
    default:
      return FailedPrecondition(std::move(what));
  }
}

// The RDATA of `rr` in wire form (its rdfs' data back to back, which is how ldns splits it).
Result<std::string> RdataWire(const ldns_rr* rr) {
  std::unique_ptr<ldns_buffer, BufferFree> buffer(ldns_buffer_new(LDNS_MAX_PACKETLEN));
  if (!buffer) return Internal("out of memory for a DNS record");
  if (ldns_rr_rdata2buffer_wire(buffer.get(), rr) != LDNS_STATUS_OK) {
    return Malformed("cannot encode a DNS record's data");
  }
  return std::string(reinterpret_cast<const char*>(ldns_buffer_begin(buffer.get())),
                     ldns_buffer_position(buffer.get()));
}

// What one lookup found at the end of its CNAME chain: the records of the type asked.
struct ChainEnd {
  std::string name;
  bool nxdomain = false;
  std::vector<const ldns_rr*> records;  // borrowed from `answers`
  std::vector<Response> answers;        // every answer the walk received, kept alive
};

std::string ChainText(const std::vector<std::string>& chain) {
  std::string out;
  for (const std::string& n : chain) out += (out.empty() ? "" : " -> ") + n;
  return out;
}

Result<ChainEnd> Follow(const DnsServer& resolver, const std::string& fqdn, ldns_rr_type type,
                        std::chrono::milliseconds timeout) {
  ChainEnd end;
  std::vector<std::string> chain{fqdn};
  std::string asked = fqdn;
  // Each pass asks once; every pass but the first follows at least one more CNAME, so the number
  // of passes is bounded by the hop limit.
  while (true) {
    CF_ASSIGN_OR_RETURN(Response answer, AskResolver(resolver, asked, type, timeout));
    const ldns_rr_list* rrs = ldns_pkt_answer(answer.pkt.get());
    const size_t count = rrs == nullptr ? 0 : ldns_rr_list_rr_count(rrs);
    std::string current = asked;
    while (true) {
      std::vector<const ldns_rr*> found;
      const ldns_rr* cname = nullptr;
      for (size_t i = 0; i < count; ++i) {
        const ldns_rr* rr = ldns_rr_list_rr(rrs, i);
        if (internal::NameOf(ldns_rr_owner(rr)) != current) continue;
        if (ldns_rr_get_type(rr) == type) found.push_back(rr);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && cname == nullptr) cname = rr;
      }
      if (!found.empty() || cname == nullptr || ldns_rr_rd_count(cname) < 1) {
        end.records = std::move(found);
        break;
      }
      std::string target = internal::NameOf(ldns_rr_rdf(cname, 0));
      chain.push_back(target);
      if (std::count(chain.begin(), chain.end(), target) > 1) {
        return FailedPrecondition("CNAME loop: " + ChainText(chain));
      }
      if (static_cast<int>(chain.size()) - 1 > kMaxCnameChain) {
        return FailedPrecondition("CNAME chain longer than " + std::to_string(kMaxCnameChain) +
                                  " hops: " + ChainText(chain));
      }
      current = std::move(target);
    }
    const bool nxdomain = ldns_pkt_get_rcode(answer.pkt.get()) == LDNS_RCODE_NXDOMAIN;
    end.answers.push_back(std::move(answer));
    // Done when records were found, when the chain did not move, or when the resolver says the
    // end of the chain does not exist; otherwise the answer stopped at a CNAME: ask its target.
    if (!end.records.empty() || current == asked || nxdomain) {
      end.name = current;
      end.nxdomain = nxdomain && end.records.empty();
      return end;
    }
    asked = std::move(current);
  }
}

}  // namespace

Result<TxtLookup> ResolveTxt(const DnsServer& resolver, std::string_view fqdn,
                             std::chrono::milliseconds timeout) {
  CF_TRY(ValidateRecordName(fqdn));
  CF_ASSIGN_OR_RETURN(ChainEnd end,
                      Follow(resolver, CanonicalName(fqdn), LDNS_RR_TYPE_TXT, timeout));
  TxtLookup out;
  out.name = std::move(end.name);
  out.nxdomain = end.nxdomain;
  for (const ldns_rr* rr : end.records) out.values.push_back(internal::TxtValue(rr));
  return out;
}

Result<CaaLookup> ResolveCaa(const DnsServer& resolver, std::string_view fqdn,
                             std::chrono::milliseconds timeout) {
  CF_TRY(ValidateZoneName(fqdn));
  CF_ASSIGN_OR_RETURN(ChainEnd end,
                      Follow(resolver, CanonicalName(fqdn), LDNS_RR_TYPE_CAA, timeout));
  CaaLookup out;
  out.name = std::move(end.name);
  out.nxdomain = end.nxdomain;
  for (const ldns_rr* rr : end.records) {
    CF_ASSIGN_OR_RETURN(std::string rdata, RdataWire(rr));
    Result<CaaRecord> record = ParseCaaRdata(rdata);
    if (!record.ok()) {
      return Malformed("unparsable CAA record at " + out.name + " from " + resolver.ToString())
          .WithCause(std::move(record).error());
    }
    out.records.push_back(std::move(*record));
  }
  return out;
}

Result<AddressLookup> ResolveAddresses(const DnsServer& resolver, std::string_view host,
                                       std::chrono::milliseconds timeout) {
  CF_TRY(ValidateRecordName(host));
  AddressLookup out;
  bool nxdomain = true;
  for (ldns_rr_type type : {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA}) {
    CF_ASSIGN_OR_RETURN(ChainEnd end, Follow(resolver, CanonicalName(host), type, timeout));
    if (out.name.empty()) out.name = end.name;
    nxdomain = nxdomain && end.nxdomain;
    for (const ldns_rr* rr : end.records) {
      if (ldns_rr_rd_count(rr) < 1) continue;
      char* text = ldns_rdf2str(ldns_rr_rdf(rr, 0));
      if (text == nullptr) return Internal("out of memory for a DNS record");
      out.addresses.emplace_back(text);
      free(text);
    }
  }
  out.nxdomain = nxdomain && out.addresses.empty();
  return out;
}

Result<DnsServer> SystemResolver(const std::string& resolv_conf_path) {
  std::ifstream in(resolv_conf_path);
  if (!in) return Unavailable("cannot read " + resolv_conf_path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string keyword, address;
    words >> keyword >> address;
    if (keyword != "nameserver" || address.empty()) continue;
    // A link-local IPv6 nameserver may carry its zone ("fe80::1%eth0"); getaddrinfo takes it.
    if (!IsPrintableAscii(address) || address.size() > 100) continue;
    return DnsServer{address, 53, nullptr};
  }
  return NotFound("no nameserver in " + resolv_conf_path);
}

}  // namespace certfleet::dns
