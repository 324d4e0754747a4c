#include "args.h"

#include "base/time_util.h"
#include "base/validate.h"

namespace certfleet::cli {

Result<std::map<std::string, std::string>> ParseTags(const std::vector<std::string>& specs) {
  std::map<std::string, std::string> tags;
  for (const std::string& spec : specs) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument(QuoteForMessage(spec) + " is not KEY=VALUE (for example env=prod)");
    }
    std::string key = spec.substr(0, eq);
    if (key.empty()) {
      return InvalidArgument(QuoteForMessage(spec) + " has an empty key before '='");
    }
    if (!tags.emplace(key, spec.substr(eq + 1)).second) {
      return InvalidArgument("key " + QuoteForMessage(key) + " is given more than once");
    }
  }
  if (auto valid = ValidateTags(tags); !valid.ok()) {
    return valid.error();
  }
  return tags;
}

Result<SecretBytes> PassphraseFromFile(SecretBytes content) {
  std::string_view view = content.view();
  while (!view.empty() && (view.back() == '\n' || view.back() == '\r')) view.remove_suffix(1);
  if (view.empty()) return InvalidArgument("the passphrase file is empty");
  if (!IsPrintableAscii(view)) {
    return InvalidArgument("the passphrase file must hold one line of printable ASCII characters");
  }
  return SecretBytes::FromView(view);
}

std::string CheckTagSpec(const std::string& spec) {
  auto parsed = ParseTags({spec});
  return parsed.ok() ? std::string() : parsed.error().message();
}

std::string CheckDurationSpec(const std::string& text) {
  return ParseDuration(text).ok()
             ? std::string()
             : QuoteForMessage(text) + " is not a duration such as 90d, 12h or 1h30m";
}

std::string CheckTimestampSpec(const std::string& text) {
  return ParseRfc3339(text).ok()
             ? std::string()
             : QuoteForMessage(text) +
                   " is not a date (2026-01-31) or an RFC 3339 time (2026-01-31T12:00:00Z)";
}

SecretBytes ExportBodyWithPassphrase(const SecretBytes& passphrase) {
  SecretBytes body;
  body.Append("{\"passphrase\":\"");
  for (char c : passphrase.view()) {
    // RFC 8259 section 7: escape '"', '\\' and control characters; other bytes pass as they are.
    if (c == '"' || c == '\\') {
      body.Append("\\");
      body.Append(std::string_view(&c, 1));
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      const char escaped[] = {'\\', 'u', '0', '0', kHex[(c >> 4) & 0xf], kHex[c & 0xf]};
      body.Append(std::string_view(escaped, sizeof(escaped)));
    } else {
      body.Append(std::string_view(&c, 1));
    }
  }
  body.Append("\"}");
  return body;
}

}  // namespace certfleet::cli
