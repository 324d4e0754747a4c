// Parsing and checking of CLI arguments that the API receives in another shape. Pure functions,
// thread-safe. Errors are InvalidArgument with a message that quotes the offending value; the
// caller names the flag (CLI11 prefixes "--flag: " to validation errors, exit status 2).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/secret_bytes.h"

namespace certfleet::cli {

// "--tag k=v" values into a map. The key is everything before the first '='; the value may be
// empty and may contain '='. Rejects a missing '=', an empty key, a key given twice, and whatever
// ValidateTags (src/base/validate.h) rejects.
Result<std::map<std::string, std::string>> ParseTags(const std::vector<std::string>& specs);

// The passphrase file's content with trailing "\n" / "\r\n" removed. InvalidArgument (without
// echoing content) if the rest is empty or contains a control character or non-ASCII byte: such
// a file is almost certainly the wrong file.
Result<SecretBytes> PassphraseFromFile(SecretBytes content);

// CLI11 check functions (wrapped in CLI::Validator): "" when the value is fine, else the message
// CLI11 reports as a usage error (exit status 2).
std::string CheckTagSpec(const std::string& spec);        // one --tag KEY=VALUE
std::string CheckDurationSpec(const std::string& text);   // 90d, 12h, 10m, 30s
std::string CheckTimestampSpec(const std::string& text);  // RFC 3339 or YYYY-MM-DD

// {"passphrase": "<passphrase>"} serialized straight into SecretBytes (JSON-escaped).
SecretBytes ExportBodyWithPassphrase(const SecretBytes& passphrase);

}  // namespace certfleet::cli
