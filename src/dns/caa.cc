#include "dns/caa.h"

namespace certfleet::dns {

Result<CaaRecord> ParseCaaRdata(std::string_view rdata) {
  if (rdata.size() < 2) return Malformed("CAA record shorter than its flags and tag length");
  CaaRecord out;
  out.flags = static_cast<uint8_t>(rdata[0]);
  const size_t tag_length = static_cast<uint8_t>(rdata[1]);
  if (tag_length == 0 || tag_length > kMaxCaaTagLength) {
    return Malformed("CAA record with a tag length of " + std::to_string(tag_length) + " (1.." +
                     std::to_string(kMaxCaaTagLength) + ")");
  }
  if (rdata.size() < 2 + tag_length) return Malformed("CAA record shorter than its tag length");
  out.tag = std::string(rdata.substr(2, tag_length));
  for (char c : out.tag) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum) return Malformed("CAA record tag with characters other than letters and digits");
  }
  out.value = std::string(rdata.substr(2 + tag_length));
  return out;
}

}  // namespace certfleet::dns
