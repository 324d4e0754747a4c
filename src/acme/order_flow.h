// One issuance through dns-01 (RFC 8555 sections 7.4 and 8.4), from newOrder to the downloaded
// chain: the workflow step the acme issuer runs for a certificate request (issue #6).
//
// IssueWithDns01(client, solver, names, cert_key, options):
//  1. newOrder for `names` (dNSName identifiers; "*.x" allowed);
//  2. for every authorization still "pending", picks its dns-01 challenge and computes the TXT
//     value; authorizations already "valid" (reused by the CA) are skipped;
//  3. presents EVERY value first (a wildcard and its apex share one `_acme-challenge` name, so
//     both values must be there before the CA looks at either), then answers each challenge and
//     waits, bounded by the client's poll limits, for each authorization;
//  4. removes every value it presented, whatever happened (also after a failure half-way; an
//     error while cleaning up is logged and does not mask the original error);
//  5. finalizes with a CSR for `names` signed by `cert_key` (x509::Csr), waits for the order,
//     downloads the chain.
// On success: the chain (leaf first) and the order URL. On failure the Error keeps the code of
// the step that failed and its message says which step and which name, e.g. "validating
// dns-01 for app.example.test: the CA refused: urn:ietf:params:acme:error:unauthorized: ..."
// (the CA's problem document, formatted by the client). FailedPrecondition when the CA offers no
// dns-01 challenge or an authorization is in a state other than pending/valid.
// The client account must already exist (client.account_url() set). `cert_key` is borrowed for
// the call. Runs on the calling thread; as thread-safe as the client (i.e. one call at a time
// per client).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/client.h"
#include "acme/dns01_solver.h"
#include "base/error.h"
#include "crypto/key.h"

namespace certfleet::acme {

struct IssueOptions {
  // ARI (RFC 9773): CertID of the certificate this order replaces; empty for a first issuance.
  std::string replaces;
  // A profile from the directory's meta.profiles; empty for the CA's default.
  std::string profile;
  // Called with a short description of each step as it starts ("creating order", "presenting
  // dns-01 records", ...), so a pending certificate can show where it is. Optional.
  std::function<void(std::string_view step)> on_step;
};

struct IssuedChain {
  CertificateChain chain;
  std::string order_url;
};

Result<IssuedChain> IssueWithDns01(Client& client, Dns01Solver& solver,
                                   const std::vector<std::string>& names,
                                   const crypto::PrivateKey& cert_key,
                                   const IssueOptions& options = {});

}  // namespace certfleet::acme
