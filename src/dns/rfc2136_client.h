// RFC 2136 DNS UPDATE signed with TSIG (RFC 8945), through ldns: the dns-01 solver's way to plant
// and remove one TXT value (issue #6, "Solvers").
//
// AddTxt adds exactly one TXT RR (`fqdn` IN TXT "value", class IN, options.ttl); RemoveTxt
// deletes exactly that RR (class NONE, TTL 0: RFC 2136 section 2.5.4). Neither touches other TXT
// values at the same name, so concurrent challenges for one name (a wildcard and its apex) do not
// clobber each other. Adding a value already present and removing one already absent both
// succeed (the server ignores them, RFC 2136 section 3.4.2).
//
// Each call sends one update over TCP to options.server and waits at most options.timeout per
// server address. On success the answer was NOERROR and carried a valid TSIG over our request's
// MAC. Errors name the server, the zone and the DNS rcode (and the TSIG error when the server
// set one):
//   - InvalidArgument: a malformed zone/name/value, or `fqdn` not at or below `zone` (not sent);
//   - Forbidden: REFUSED, NOTAUTH (e.g. "NOTAUTH (TSIG BADSIG)" for a wrong secret, or a zone the
//     server is not primary for);
//   - FailedPrecondition: NOTZONE, FORMERR and other refusals;
//   - Unauthorized: a NOERROR answer without a valid TSIG (not trusted as success);
//   - Unavailable (retryable): no answer in time, SERVFAIL.
// The key never appears in messages or logs. Thread-safe: the methods are const and share nothing
// mutable.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "base/error.h"
#include "base/secret_bytes.h"
#include "dns/server.h"
#include "dns/tsig_key.h"

namespace certfleet::dns {

struct Rfc2136Options {
  DnsServer server;
  std::chrono::milliseconds timeout{5000};
  uint32_t ttl = 60;  // of added TXT records; short so a retried challenge sees fresh data
};

class Rfc2136Client {
 public:
  // InvalidArgument for a timeout outside 1 ms..60 s, an empty server host, or a TTL over a day.
  static Result<std::unique_ptr<Rfc2136Client>> Create(Rfc2136Options options, TsigKey key);

  Status AddTxt(std::string_view zone, std::string_view fqdn, std::string_view value) const;
  Status RemoveTxt(std::string_view zone, std::string_view fqdn, std::string_view value) const;

 private:
  Rfc2136Client(Rfc2136Options options, TsigKey key, SecretBytes key_base64);
  Status Update(std::string_view zone, std::string_view fqdn, std::string_view value,
                bool add) const;

  Rfc2136Options options_;
  TsigKey key_;
  SecretBytes key_base64_;  // NUL-terminated: ldns takes the key as a base64 C string
};

}  // namespace certfleet::dns
