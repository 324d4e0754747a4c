#include "dns/names.h"

#include "base/validate.h"

namespace certfleet::dns {
namespace {

bool IsLdh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

std::string_view StripDot(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return name;
}

// Letters, digits and '-' labels of 1..63 octets without leading or trailing '-', total <= 253.
Status CheckLdhName(std::string_view field, std::string_view name) {
  const std::string q = QuoteForMessage(name);
  if (name.empty()) return InvalidArgument(std::string(field) + " is empty");
  if (name.size() > 253) return InvalidArgument(std::string(field) + " " + q + " is too long");
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63) {
      return InvalidArgument(std::string(field) + " " + q + " has an empty or too long label");
    }
    if (label.front() == '-' || label.back() == '-') {
      return InvalidArgument(std::string(field) + " " + q +
                             " has a label starting or ending with '-'");
    }
    for (char c : label) {
      if (!IsLdh(c)) {
        return InvalidArgument(std::string(field) + " " + q +
                               " may contain only letters, digits, '-' and '.'");
      }
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return Ok();
}

}  // namespace

Status ValidateRecordName(std::string_view fqdn) {
  std::string_view name = StripDot(fqdn);
  const std::string q = QuoteForMessage(fqdn);
  if (name.size() > 253) return InvalidArgument("record name " + q + " is longer than 253 octets");
  // Leading underscore labels (RFC 8552 "attrleaf" names such as _acme-challenge).
  std::string_view rest = name;
  while (!rest.empty() && rest.front() == '_') {
    size_t dot = rest.find('.');
    if (dot == std::string_view::npos) {
      return InvalidArgument("record name " + q + " needs a domain after its '_' label");
    }
    std::string_view label = rest.substr(1, dot - 1);
    if (label.empty() || label.size() > 62 || label.front() == '-' || label.back() == '-') {
      return InvalidArgument("record name " + q + " has a malformed '_' label");
    }
    for (char c : label) {
      if (!IsLdh(c)) return InvalidArgument("record name " + q + " has a malformed '_' label");
    }
    rest.remove_prefix(dot + 1);
  }
  Status s = ValidateDnsName(rest, /*allow_wildcard=*/false);
  if (!s.ok()) return InvalidArgument("record name " + q + ": " + s.error().message());
  return Ok();
}

Status ValidateZoneName(std::string_view zone) { return CheckLdhName("zone name", StripDot(zone)); }

Status ValidateTxtValue(std::string_view value) {
  if (value.empty()) return InvalidArgument("TXT value is empty");
  if (value.size() > kMaxTxtValueBytes) {
    return InvalidArgument("TXT value of " + std::to_string(value.size()) +
                           " bytes is longer than 255 bytes");
  }
  if (!IsPrintableAscii(value)) {
    return InvalidArgument("TXT value may contain only printable ASCII characters");
  }
  return Ok();
}

std::string CanonicalName(std::string_view name) {
  std::string out(StripDot(name));
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsAtOrBelow(std::string_view name, std::string_view zone) {
  if (zone.empty()) return true;  // the root
  if (name == zone) return true;
  return name.size() > zone.size() && name.substr(name.size() - zone.size()) == zone &&
         name[name.size() - zone.size() - 1] == '.';
}

}  // namespace certfleet::dns
