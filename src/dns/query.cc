#include "dns/query.h"

#include <algorithm>
#include <thread>

#include "base/validate.h"
#include "dns/names.h"
#include "dns/transport.h"

namespace certfleet::dns {
namespace {

using internal::Response;

// One non-recursive query; NOERROR and NXDOMAIN are answers, other rcodes errors.
Result<Response> Ask(const DnsServer& server, std::string_view name, ldns_rr_type type,
                     std::chrono::milliseconds timeout) {
  CF_ASSIGN_OR_RETURN(internal::PktPtr query, internal::NewQuery(name, type));
  CF_ASSIGN_OR_RETURN(Response answer, internal::Exchange(server, *query, timeout));
  const ldns_pkt_rcode rcode = ldns_pkt_get_rcode(answer.pkt.get());
  if (rcode == LDNS_RCODE_NOERROR || rcode == LDNS_RCODE_NXDOMAIN) return answer;
  std::string what = "DNS query for " + std::string(name) + " at " + server.ToString() +
                     " answered " + internal::RcodeName(rcode);
  switch (rcode) {
    case LDNS_RCODE_REFUSED:
      return Forbidden(std::move(what));
    case LDNS_RCODE_SERVFAIL:
      return Unavailable(std::move(what)).WithRetry();
    default:
      return FailedPrecondition(std::move(what));
  }
}

// The record of `type` owned by `name` in `list`, or nullptr.
const ldns_rr* FindRr(const ldns_rr_list* list, std::string_view name, ldns_rr_type type) {
  if (list == nullptr) return nullptr;
  for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(list, i);
    if (ldns_rr_get_type(rr) == type && internal::NameOf(ldns_rr_owner(rr)) == name) return rr;
  }
  return nullptr;
}

Result<std::string> Parent(std::string_view name) {
  size_t dot = name.find('.');
  if (dot == std::string_view::npos) return NotFound("no parent");
  return std::string(name.substr(dot + 1));
}

}  // namespace

Result<std::vector<std::string>> QueryTxt(const DnsServer& server, std::string_view fqdn_in,
                                          std::chrono::milliseconds timeout) {
  CF_TRY(ValidateRecordName(fqdn_in));
  const std::string fqdn = CanonicalName(fqdn_in);
  CF_ASSIGN_OR_RETURN(Response answer, Ask(server, fqdn, LDNS_RR_TYPE_TXT, timeout));
  std::vector<std::string> values;
  const ldns_rr_list* rrs = ldns_pkt_answer(answer.pkt.get());
  for (size_t i = 0; rrs != nullptr && i < ldns_rr_list_rr_count(rrs); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(rrs, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT) continue;
    if (internal::NameOf(ldns_rr_owner(rr)) != fqdn) continue;
    std::string value = internal::TxtValue(rr);
    values.push_back(std::move(value));
  }
  return values;
}

Result<std::string> ResolveCnameTarget(const DnsServer& server, std::string_view fqdn_in,
                                       std::chrono::milliseconds timeout) {
  CF_TRY(ValidateRecordName(fqdn_in));
  std::string current = CanonicalName(fqdn_in);
  std::vector<std::string> chain{current};
  for (int hop = 0; hop <= kMaxCnameChain; ++hop) {
    CF_ASSIGN_OR_RETURN(Response answer, Ask(server, current, LDNS_RR_TYPE_CNAME, timeout));
    const ldns_rr* cname = FindRr(ldns_pkt_answer(answer.pkt.get()), current, LDNS_RR_TYPE_CNAME);
    if (cname == nullptr || ldns_rr_rd_count(cname) < 1) return current;
    std::string target = internal::NameOf(ldns_rr_rdf(cname, 0));
    std::string path;
    for (const std::string& n : chain) path += n + " -> ";
    path += target;
    if (std::find(chain.begin(), chain.end(), target) != chain.end()) {
      return FailedPrecondition("CNAME loop: " + path);
    }
    if (hop == kMaxCnameChain) {
      return FailedPrecondition("CNAME chain longer than " + std::to_string(kMaxCnameChain) +
                                " hops: " + path);
    }
    if (Status s = ValidateRecordName(target); !s.ok()) {
      return FailedPrecondition("CNAME of " + current + " points to an invalid name")
          .WithCause(std::move(s).error());
    }
    chain.push_back(target);
    current = std::move(target);
  }
  return FailedPrecondition("CNAME chain too long");  // not reached
}

Result<std::string> FindZone(const DnsServer& server, std::string_view fqdn_in,
                             std::chrono::milliseconds timeout) {
  CF_TRY(ValidateRecordName(fqdn_in));
  std::string name = CanonicalName(fqdn_in);
  std::optional<Error> last;
  // At most 127 labels in a 253-octet name: the walk is bounded.
  while (true) {
    Result<Response> answer = Ask(server, name, LDNS_RR_TYPE_SOA, timeout);
    if (answer.ok()) {
      if (FindRr(ldns_pkt_answer(answer->pkt.get()), name, LDNS_RR_TYPE_SOA) != nullptr) {
        return name;
      }
      const ldns_rr_list* authority = ldns_pkt_authority(answer->pkt.get());
      for (size_t i = 0; authority != nullptr && i < ldns_rr_list_rr_count(authority); ++i) {
        const ldns_rr* rr = ldns_rr_list_rr(authority, i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA) continue;
        std::string owner = internal::NameOf(ldns_rr_owner(rr));
        if (!owner.empty() && IsAtOrBelow(name, owner)) return owner;
      }
    } else if (answer.error().code() != ErrorCode::kForbidden) {
      return std::move(answer).error();  // unreachable server: walking up will not help
    } else {
      last = std::move(answer).error();
    }
    Result<std::string> parent = Parent(name);
    if (!parent.ok()) break;
    name = std::move(*parent);
  }
  Error e = NotFound("no zone for " + CanonicalName(fqdn_in) + " at " + server.ToString());
  if (last) return std::move(e).WithCause(std::move(*last));
  return e;
}

Status WaitForTxt(const DnsServer& server, std::string_view fqdn, std::string_view value,
                  const WaitOptions& options) {
  CF_TRY(ValidateRecordName(fqdn));
  if (options.timeout < std::chrono::milliseconds(0) || options.timeout > std::chrono::hours(1)) {
    return InvalidArgument("propagation timeout must be between 0 and 1 hour");
  }
  if (options.poll < std::chrono::milliseconds(1)) {
    return InvalidArgument("propagation poll interval must be at least 1 ms");
  }
  SystemClock system_clock;
  const Clock& clock = options.clock != nullptr ? *options.clock : system_clock;
  const auto deadline = clock.Now() + options.timeout;
  // Bounded even if the clock stands still (a FakeClock nobody advances).
  const int64_t max_attempts = options.timeout / options.poll + 1;
  std::optional<Error> last;
  size_t last_count = 0;
  for (int64_t attempt = 0; attempt < max_attempts; ++attempt) {
    Result<std::vector<std::string>> values = QueryTxt(server, fqdn, options.query_timeout);
    if (values.ok()) {
      if (std::find(values->begin(), values->end(), value) != values->end()) return Ok();
      last_count = values->size();
      last.reset();
    } else {
      last = std::move(values).error();
    }
    const auto now = clock.Now();
    if (now >= deadline) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    const auto nap = std::min(options.poll, left);
    if (options.sleep) {
      options.sleep(nap);
    } else {
      std::this_thread::sleep_for(nap);
    }
  }
  Error e(ErrorCode::kTimeout,
          "TXT value not present at " + CanonicalName(fqdn) + " on " + server.ToString() +
              " after " + std::to_string(options.timeout.count()) + " ms" +
              (last ? std::string() : " (" + std::to_string(last_count) + " other values)"));
  e.WithRetry();
  if (last) return std::move(e).WithCause(std::move(*last));
  return e;
}

}  // namespace certfleet::dns
