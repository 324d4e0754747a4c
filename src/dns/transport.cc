#include "dns/transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "base/validate.h"
#include "dns/names.h"

namespace certfleet::dns::internal {
namespace {

struct BufferFree {
  void operator()(ldns_buffer* b) const { ldns_buffer_free(b); }
};
struct AddrInfoFree {
  void operator()(addrinfo* a) const { freeaddrinfo(a); }
};

}  // namespace

Result<RdfPtr> NameRdf(std::string_view name) {
  std::string absolute = std::string(name) + ".";
  RdfPtr rdf(ldns_dname_new_frm_str(absolute.c_str()));
  if (!rdf) return InvalidArgument("not a valid DNS name: " + QuoteForMessage(name));
  return rdf;
}

std::string NameOf(const ldns_rdf* dname) {
  if (dname == nullptr) return "";
  char* text = ldns_rdf2str(dname);
  if (text == nullptr) return "";
  std::string out = CanonicalName(text);
  free(text);
  return out;
}

std::string RcodeName(ldns_pkt_rcode rcode) {
  ldns_lookup_table* entry = ldns_lookup_by_id(ldns_rcodes, static_cast<int>(rcode));
  if (entry != nullptr && entry->name != nullptr) return entry->name;
  return "RCODE " + std::to_string(static_cast<int>(rcode));
}

Result<PktPtr> NewQuery(std::string_view name, ldns_rr_type type, bool recursion_desired) {
  CF_ASSIGN_OR_RETURN(RdfPtr rdf, NameRdf(name));
  // ldns_pkt_query_new takes ownership of the name.
  PktPtr pkt(
      ldns_pkt_query_new(rdf.release(), type, LDNS_RR_CLASS_IN, recursion_desired ? LDNS_RD : 0));
  if (!pkt) return Internal("ldns could not build a DNS query");
  ldns_pkt_set_random_id(pkt.get());
  return pkt;
}

std::string TxtValue(const ldns_rr* rr) {
  std::string value;
  for (size_t j = 0; j < ldns_rr_rd_count(rr); ++j) {
    const ldns_rdf* rdf = ldns_rr_rdf(rr, j);
    // A <character-string>: one length octet, then that many octets (RFC 1035 3.3).
    if (rdf == nullptr || ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_STR) continue;
    const uint8_t* data = ldns_rdf_data(rdf);
    const size_t size = ldns_rdf_size(rdf);
    if (size == 0) continue;
    const size_t len = std::min<size_t>(data[0], size - 1);
    value.append(reinterpret_cast<const char*>(data + 1), len);
  }
  return value;
}

Result<Response> Exchange(const DnsServer& server, const ldns_pkt& query,
                          std::chrono::milliseconds timeout) {
  std::unique_ptr<ldns_buffer, BufferFree> qbuf(ldns_buffer_new(LDNS_MAX_PACKETLEN));
  if (!qbuf) return Internal("out of memory for a DNS message");
  if (ldns_pkt2buffer_wire(qbuf.get(), &query) != LDNS_STATUS_OK) {
    return Internal("ldns could not encode a DNS message");
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  const std::string port = std::to_string(server.port);
  if (int rc = getaddrinfo(server.host.c_str(), port.c_str(), &hints, &raw); rc != 0) {
    return Error(Unavailable("cannot resolve DNS server " + QuoteForMessage(server.ToString()) +
                             ": " + gai_strerror(rc)))
        .WithRetry();
  }
  std::unique_ptr<addrinfo, AddrInfoFree> addrs(raw);
  if (server.address_allowed) {
    // All addresses first, before anything is sent to any of them. The message is the same
    // generic one as net::PrivateDestinationRefused (dns does not depend on net): no resolved
    // address, no connection detail, so a tenant cannot scan the private network through it.
    for (addrinfo* ai = addrs.get(); ai != nullptr; ai = ai->ai_next) {
      char text[INET6_ADDRSTRLEN] = {};
      if (ai->ai_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr, text,
                  sizeof text);
      } else if (ai->ai_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr, text,
                  sizeof text);
      } else {
        continue;
      }
      if (!server.address_allowed(text)) {
        return Forbidden("DNS server " + QuoteForMessage(server.host) +
                         ": refused: certfleetd reaches private, loopback and reserved networks "
                         "only where its own configuration allows them for the account "
                         "([[outbound.allow]]) (rule network.private_not_allowed)");
      }
    }
  }

  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  std::string last = "no address";
  for (addrinfo* ai = addrs.get(); ai != nullptr; ai = ai->ai_next) {
    sockaddr_storage to{};
    if (ai->ai_addrlen > sizeof(to)) continue;
    std::memcpy(&to, ai->ai_addr, ai->ai_addrlen);
    uint8_t* answer = nullptr;
    size_t answer_size = 0;
    ldns_status st = ldns_tcp_send(&answer, qbuf.get(), &to, static_cast<socklen_t>(ai->ai_addrlen),
                                   tv, &answer_size);
    if (st != LDNS_STATUS_OK || answer == nullptr) {
      free(answer);
      last = ldns_get_errorstr_by_id(st) ? ldns_get_errorstr_by_id(st) : "no answer";
      continue;
    }
    Response out;
    out.wire.assign(answer, answer + answer_size);
    free(answer);
    ldns_pkt* parsed = nullptr;
    if (ldns_wire2pkt(&parsed, out.wire.data(), out.wire.size()) != LDNS_STATUS_OK ||
        parsed == nullptr) {
      return Malformed("unparsable DNS answer from " + QuoteForMessage(server.ToString()));
    }
    out.pkt.reset(parsed);
    if (!ldns_pkt_qr(parsed) || ldns_pkt_id(parsed) != ldns_pkt_id(&query)) {
      return Malformed("DNS answer from " + QuoteForMessage(server.ToString()) +
                       " does not match the query");
    }
    return out;
  }
  return Error(Unavailable("no answer from DNS server " + QuoteForMessage(server.ToString()) +
                           " within " + std::to_string(timeout.count()) + " ms (" + last + ")"))
      .WithRetry();
}

}  // namespace certfleet::dns::internal
