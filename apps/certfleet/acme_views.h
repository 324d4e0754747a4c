// Helpers for the ACME commands (cmd_issuer.cc: `issuer` and `solver`; cmd_cert.cc: `cert
// request --wait`) that need no server: request bodies carrying a secret member, the human view
// of an issuer or solver, and reading a certificate's status while waiting for issuance.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/secret_bytes.h"

namespace certfleet::cli {

// `rest` (a JSON object without `key`) with the string member `key` = `secret` added, serialized
// straight into SecretBytes (JSON-escaped), so the secret never sits in a std::string or in the
// json tree. For ApiClient::PostSecret.
SecretBytes JsonWithSecretMember(const nlohmann::json& rest, std::string_view key,
                                 const SecretBytes& secret);

// "label: value" lines for an issuer or solver of GET /v1/issuers/{name} or /v1/solvers/{name}
// (docs/api.md): the fixed fields, then one line per member of "config" (labels with '_' as ' ').
// Solver rules print as "SOLVER[:SUFFIX]"; multi-line strings (a PEM trust bundle) as their size.
std::vector<std::pair<std::string, std::string>> AcmeViewLines(const nlohmann::json& view);

// A list-table cell for a config member of an issuer or solver ("-" when absent): rules and
// multi-line strings rendered as in AcmeViewLines.
std::string ConfigCell(const nlohmann::json& view, std::string_view key);

// Where issuance of a certificate (GET /v1/certificates/{id}) stands, for `cert request --wait`.
enum class IssuanceState { kPending, kDone, kFailed };
// kPending while "status" is "pending", kFailed for "failed", else kDone. Malformed when the
// response has no string "status".
Result<IssuanceState> IssuanceStateOf(const nlohmann::json& certificate);

}  // namespace certfleet::cli
