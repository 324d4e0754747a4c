#include "base/validate.h"

#include <cctype>

namespace certfleet {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool AllDigitsOrDots(std::string_view s) {
  for (char c : s)
    if (!(c == '.' || (c >= '0' && c <= '9'))) return false;
  return true;
}

}  // namespace

bool IsPrintableAscii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

std::string QuoteForMessage(std::string_view s) {
  if (s.size() <= 80 && IsPrintableAscii(s)) return "\"" + std::string(s) + "\"";
  return "(a value of " + std::to_string(s.size()) + " bytes)";
}

bool IsWildcard(std::string_view name) { return name.size() > 2 && name.substr(0, 2) == "*."; }

Status ValidateDnsName(std::string_view name, bool allow_wildcard) {
  const std::string q = QuoteForMessage(name);
  if (name.empty()) return InvalidArgument("domain name is empty");
  if (name.size() > 253) return InvalidArgument("domain name " + q + " is longer than 253 octets");
  std::string_view rest = name;
  if (IsWildcard(rest)) {
    if (!allow_wildcard) return InvalidArgument("wildcard domain " + q + " is not allowed here");
    rest.remove_prefix(2);
  }
  if (AllDigitsOrDots(rest)) {
    return InvalidArgument("domain name " + q + " looks like an IP address; use a DNS name");
  }
  int labels = 0;
  size_t start = 0;
  while (true) {
    size_t dot = rest.find('.', start);
    std::string_view label =
        rest.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return InvalidArgument("domain name " + q + " has an empty label");
    if (label.size() > 63) {
      return InvalidArgument("domain name " + q + " has a label longer than 63 octets");
    }
    if (label.front() == '-' || label.back() == '-') {
      return InvalidArgument("domain name " + q + " has a label starting or ending with '-'");
    }
    for (char c : label) {
      if (!IsAlnum(c) && c != '-') {
        return InvalidArgument("domain name " + q +
                               " may contain only letters, digits, '-' and '.' (use the "
                               "xn-- A-label form for internationalized names)");
      }
    }
    // RFC 5890: "??--" in positions 3-4 is reserved for A-labels ("xn--").
    if (label.size() >= 4 && label[2] == '-' && label[3] == '-' &&
        !(std::tolower(label[0]) == 'x' && std::tolower(label[1]) == 'n')) {
      return InvalidArgument("domain name " + q + " has a reserved label (hyphens in 3rd and 4th)");
    }
    ++labels;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (labels < 2) return InvalidArgument("domain name " + q + " needs at least two labels");
  return Ok();
}

Status ValidateName(std::string_view field, std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return InvalidArgument(std::string(field) + " must be 1 to 64 characters");
  }
  if (!IsAlnum(name[0])) {
    return InvalidArgument(std::string(field) + " must start with a letter or digit");
  }
  for (char c : name) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-') {
      return InvalidArgument(std::string(field) +
                             " may contain only letters, digits, '.', '_' and '-'");
    }
  }
  return Ok();
}

Status ValidateTags(const std::map<std::string, std::string>& tags) {
  if (tags.size() > 50) return InvalidArgument("at most 50 tags are allowed");
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 64 || !IsAlnum(k[0])) {
      return InvalidArgument("tag key " + QuoteForMessage(k) +
                             " must be 1 to 64 characters and start with a letter or digit");
    }
    for (char c : k) {
      if (!IsAlnum(c) && c != '.' && c != '_' && c != '-' && c != '/') {
        return InvalidArgument("tag key " + QuoteForMessage(k) +
                               " may contain only letters, digits, '.', '_', '/' and '-'");
      }
    }
    if (v.size() > 256 || !IsPrintableAscii(v)) {
      return InvalidArgument("tag value for " + QuoteForMessage(k) +
                             " must be at most 256 printable ASCII characters");
    }
  }
  return Ok();
}

}  // namespace certfleet
