// First-start and every-start set-up of a certfleetd data directory:
// - the default account, its admin principal and an admin token written once to admin.token
//   (0600 from the start, written atomically); the token expires (--admin-token-validity,
//   default 30d) and `certfleetd --rotate-admin-token` replaces it (issue #13);
// - ca.pem, the internal root, for clients to trust;
// - a fresh TLS certificate for the API listener, issued by the internal CA at every start and
//   kept only in memory.
#pragma once

#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "ca/authority.h"
#include "store/store.h"

namespace certfleet::daemon {

inline constexpr char kDefaultAccount[] = "default";  // api::kSystemAccountName
inline constexpr char kAdminPrincipal[] = "admin";

inline constexpr Seconds kDefaultAdminTokenValidity = std::chrono::days(30);

// Creates the default account and admin (and writes `token_path`) if the store has no accounts.
// The token expires after `validity`.
Status EnsureDefaultAdmin(store::Store& store, const Clock& clock, Random& random,
                          const std::string& token_path,
                          Seconds validity = kDefaultAdminTokenValidity);

// `certfleetd --rotate-admin-token`: revokes every token of the bootstrap admin principal
// ("admin" of the default account), issues a fresh one valid for `validity`, and writes it to
// `token_path` (atomically, 0600 from the start) before committing, so that either the new token
// is in the file and the old ones are revoked, or nothing changed. Returns the new token's id.
// FailedPrecondition if there is no bootstrap admin yet (start certfleetd once first).
Result<std::string> RotateAdminToken(store::Store& store, const Clock& clock, Random& random,
                                     const std::string& token_path, Seconds validity);

struct ListenerTls {
  std::string chain_pem;
  SecretBytes key_pem;
};
// `host` is the listen address: an IP goes into an iPAddress SAN, a name into a dNSName SAN;
// 127.0.0.1 and ::1 are always included. `server_names` (Config::server_names, validated there:
// DNS names and IP addresses) are added the same way, so that clients dialling a load balancer's
// name can verify every replica behind it (issue #15).
Result<ListenerTls> IssueListenerCertificate(ca::CertificateAuthority& ca, const std::string& host,
                                             const std::vector<std::string>& server_names = {});

}  // namespace certfleet::daemon
