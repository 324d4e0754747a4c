#include "acme/protocol/ari.h"

#include <nlohmann/json.hpp>

#include "acme/protocol/resources.h"
#include "base/encoding.h"
#include "base/time_util.h"

namespace certfleet::acme {

std::string CertIdFromParts(std::string_view key_identifier, std::string_view serial_magnitude) {
  // Strip leading zeros of the magnitude, then add back the one sign octet DER needs when the
  // top bit is set (RFC 9773 section 4.1 uses the INTEGER's encoded value bytes).
  while (serial_magnitude.size() > 1 && serial_magnitude.front() == '\0') {
    serial_magnitude.remove_prefix(1);
  }
  std::string serial(serial_magnitude);
  if (serial.empty()) serial.assign(1, '\0');
  if (static_cast<unsigned char>(serial.front()) & 0x80) serial.insert(serial.begin(), '\0');
  return Base64UrlEncode(key_identifier) + "." + Base64UrlEncode(serial);
}

Result<std::string> CertId(const x509::Certificate& cert) {
  std::string aki = cert.authority_key_id();
  if (aki.empty()) {
    return FailedPrecondition(
        "the certificate has no authority key identifier: ARI cannot name it");
  }
  return CertIdFromParts(aki, cert.serial_bytes());
}

Result<RenewalInfo> ParseRenewalInfo(std::string_view body, bool allow_plain_http) {
  using nlohmann::json;
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Malformed("the CA's renewal information is not a JSON object");
  auto window = j.find("suggestedWindow");
  if (window == j.end() || !window->is_object()) {
    return Malformed("the CA's renewal information lacks \"suggestedWindow\"");
  }
  auto start = window->find("start");
  auto end = window->find("end");
  if (start == window->end() || end == window->end() || !start->is_string() || !end->is_string()) {
    return Malformed("the CA's suggestedWindow lacks \"start\" or \"end\"");
  }
  auto s = ParseRfc3339(start->get<std::string>());
  auto e = ParseRfc3339(end->get<std::string>());
  if (!s.ok() || !e.ok()) return Malformed("the CA's suggestedWindow has a bad timestamp");
  if (!(*s < *e)) return Malformed("the CA's suggestedWindow ends before it starts");
  RenewalInfo info{*s, *e, ""};
  auto expl = j.find("explanationURL");
  if (expl != j.end() && expl->is_string()) {
    info.explanation_url = expl->get<std::string>();
    CF_TRY(CheckServerUrl(info.explanation_url, allow_plain_http, "renewal explanationURL"));
  }
  return info;
}

}  // namespace certfleet::acme
