#include "dns/rfc2136_client.h"

#include <string>

#include "base/encoding.h"
#include "base/validate.h"
#include "dns/names.h"
#include "dns/transport.h"

namespace certfleet::dns {
namespace {

using internal::PktPtr;
using internal::RdfPtr;
using internal::RrListPtr;
using internal::RrPtr;

// RFC 8945 section 5.2.3: 300 s is the recommended fudge.
constexpr uint16_t kTsigFudge = 300;

// TSIG error field values (RFC 8945 section 3, IANA "DNS RCODEs").
std::string TsigErrorName(uint16_t error) {
  switch (error) {
    case 16:
      return "BADSIG";
    case 17:
      return "BADKEY";
    case 18:
      return "BADTIME";
    case 22:
      return "BADTRUNC";
    default:
      return "TSIG error " + std::to_string(error);
  }
}

// The TSIG error field of a response, 0 when there is none. TSIG rdata (RFC 8945 section 4.2):
// algorithm, time signed, fudge, MAC, original id, error, other data; ldns keeps them as rdfs
// 0..6.
uint16_t TsigError(const ldns_pkt* pkt) {
  const ldns_rr* tsig = ldns_pkt_tsig(pkt);
  if (tsig == nullptr || ldns_rr_rd_count(tsig) < 6) return 0;
  const ldns_rdf* error = ldns_rr_rdf(tsig, 5);
  if (error == nullptr || ldns_rdf_size(error) != 2) return 0;
  return ldns_rdf2native_int16(error);
}

Error RcodeError(ldns_pkt_rcode rcode, std::string what) {
  switch (rcode) {
    case LDNS_RCODE_REFUSED:
    case LDNS_RCODE_NOTAUTH:
      return Forbidden(std::move(what));
    case LDNS_RCODE_SERVFAIL:
      return Unavailable(std::move(what)).WithRetry();
    default:
      return FailedPrecondition(std::move(what));
  }
}

}  // namespace

Result<std::unique_ptr<Rfc2136Client>> Rfc2136Client::Create(Rfc2136Options options, TsigKey key) {
  if (options.server.host.empty()) return InvalidArgument("RFC 2136 server has no host");
  if (options.timeout < std::chrono::milliseconds(1) ||
      options.timeout > std::chrono::seconds(60)) {
    return InvalidArgument("RFC 2136 timeout must be between 1 ms and 60 s");
  }
  if (options.ttl > 86400) return InvalidArgument("RFC 2136 TXT TTL must be at most 86400 s");
  CF_TRY(ValidateZoneName(key.name));
  if (key.secret.size() < kMinTsigKeyBytes) return InvalidArgument("TSIG key is too short");
  SecretBytes b64 = SecretBytes::FromString(Base64Encode(key.secret.view()));
  b64.Append(std::string_view("\0", 1));
  return std::unique_ptr<Rfc2136Client>(
      new Rfc2136Client(std::move(options), std::move(key), std::move(b64)));
}

Rfc2136Client::Rfc2136Client(Rfc2136Options options, TsigKey key, SecretBytes key_base64)
    : options_(std::move(options)), key_(std::move(key)), key_base64_(std::move(key_base64)) {}

Status Rfc2136Client::AddTxt(std::string_view zone, std::string_view fqdn,
                             std::string_view value) const {
  return Update(zone, fqdn, value, /*add=*/true);
}

Status Rfc2136Client::RemoveTxt(std::string_view zone, std::string_view fqdn,
                                std::string_view value) const {
  return Update(zone, fqdn, value, /*add=*/false);
}

Status Rfc2136Client::Update(std::string_view zone_in, std::string_view fqdn_in,
                             std::string_view value, bool add) const {
  CF_TRY(ValidateZoneName(zone_in));
  CF_TRY(ValidateRecordName(fqdn_in));
  CF_TRY(ValidateTxtValue(value));
  const std::string zone = CanonicalName(zone_in);
  const std::string fqdn = CanonicalName(fqdn_in);
  if (!IsAtOrBelow(fqdn, zone)) {
    return InvalidArgument("record name " + QuoteForMessage(fqdn) + " is not in zone " +
                           QuoteForMessage(zone));
  }
  const std::string action = std::string(add ? "adding" : "removing") + " TXT at " + fqdn +
                             " in zone " + zone + " on " + options_.server.ToString();

  // The update section: one RR. Its rdata is built from the value's bytes, never parsed from
  // text, so no value can smuggle in another record.
  CF_ASSIGN_OR_RETURN(RdfPtr owner, internal::NameRdf(fqdn));
  RrPtr rr(ldns_rr_new());
  if (!rr) return Internal("out of memory for a DNS record");
  ldns_rr_set_owner(rr.get(), owner.release());
  ldns_rr_set_type(rr.get(), LDNS_RR_TYPE_TXT);
  // RFC 2136 section 2.5.1 (add to an RRset: class IN) and 2.5.4 (delete an RR from an RRset:
  // class NONE, TTL 0, the exact rdata).
  ldns_rr_set_class(rr.get(), add ? LDNS_RR_CLASS_IN : LDNS_RR_CLASS_NONE);
  ldns_rr_set_ttl(rr.get(), add ? options_.ttl : 0);
  std::string character_string(1, static_cast<char>(value.size()));
  character_string.append(value);
  ldns_rdf* rdata =
      ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, character_string.size(), character_string.data());
  if (rdata == nullptr || !ldns_rr_push_rdf(rr.get(), rdata)) {
    if (rdata != nullptr) ldns_rdf_deep_free(rdata);
    return Internal("ldns could not build a TXT record");
  }
  RrListPtr updates(ldns_rr_list_new());
  if (!updates || !ldns_rr_list_push_rr(updates.get(), rr.get())) {
    return Internal("out of memory for a DNS update");
  }
  rr.release();  // owned by `updates` now

  CF_ASSIGN_OR_RETURN(RdfPtr zone_rdf, internal::NameRdf(zone));
  // ldns_update_pkt_new takes the zone name and copies the RR lists.
  PktPtr request(
      ldns_update_pkt_new(zone_rdf.release(), LDNS_RR_CLASS_IN, nullptr, updates.get(), nullptr));
  if (!request) return Internal("ldns could not build a DNS update");
  ldns_pkt_set_random_id(request.get());
  // ldns_update_pkt_new sets RD, but in an UPDATE header that bit is reserved (RFC 2136 2.2).
  ldns_pkt_set_rd(request.get(), false);

  const std::string key_name = key_.name + ".";
  const std::string algorithm = std::string(TsigAlgorithmName(key_.algorithm)) + ".";
  const char* key_data = reinterpret_cast<const char*>(key_base64_.data());
  if (ldns_pkt_tsig_sign(request.get(), key_name.c_str(), key_data, kTsigFudge, algorithm.c_str(),
                         nullptr) != LDNS_STATUS_OK ||
      ldns_pkt_tsig(request.get()) == nullptr) {
    return Internal("ldns could not sign the DNS update with TSIG " +
                    std::string(TsigAlgorithmName(key_.algorithm)));
  }
  const ldns_rdf* request_mac = ldns_rr_rdf(ldns_pkt_tsig(request.get()), 3);

  Result<internal::Response> answer =
      internal::Exchange(options_.server, *request, options_.timeout);
  if (!answer.ok()) {
    Error cause = std::move(answer).error();
    ErrorCode code = cause.code();
    Error e(code, action + " failed");
    if (cause.retryable()) e.WithRetry();
    return std::move(e).WithCause(std::move(cause));
  }
  const ldns_pkt* response = answer->pkt.get();
  if (ldns_pkt_get_opcode(response) != LDNS_PACKET_UPDATE) {
    return Malformed(action + ": the answer is not an UPDATE response");
  }
  const ldns_pkt_rcode rcode = ldns_pkt_get_rcode(response);
  const uint16_t tsig_error = TsigError(response);
  if (rcode != LDNS_RCODE_NOERROR || tsig_error != 0) {
    // Error answers to a badly signed request are unsigned (RFC 8945 section 5.3.2): report them
    // as refusals without trusting anything else in them.
    std::string what = action + " refused: " + internal::RcodeName(rcode);
    if (tsig_error != 0) what += " (TSIG " + TsigErrorName(tsig_error) + ")";
    return RcodeError(rcode == LDNS_RCODE_NOERROR ? LDNS_RCODE_NOTAUTH : rcode, std::move(what));
  }
  // Success counts only when the server proves it holds the key (RFC 8945 section 5.3).
  if (ldns_pkt_tsig(response) == nullptr) {
    return Unauthorized(action + ": the NOERROR answer is not TSIG-signed");
  }
  if (!ldns_pkt_tsig_verify(answer->pkt.get(), answer->wire.data(), answer->wire.size(),
                            key_name.c_str(), key_data, request_mac)) {
    return Unauthorized(action + ": the answer's TSIG does not verify (BADSIG)");
  }
  return Ok();
}

}  // namespace certfleet::dns
