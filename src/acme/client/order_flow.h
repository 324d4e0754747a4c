// One issuance (RFC 8555 sections 7.4, 8.3 and 8.4), from newOrder (or an order being resumed) to
// the downloaded chain: the workflow step the acme issuer runs for a certificate request
// (issue #6).
//
// IssueOrder(client, solver_for, names, cert_key, options):
//  1. with options.resume_order_url set, fetches that order and continues it from its state
//     when its identifiers are `names` (pending: authorizations; ready: finalize; processing:
//     wait; valid: download); when it cannot be read, is invalid/expired, or is for other names,
//     logs why and falls back to a newOrder for `names` (dNSName identifiers; "*.x" allowed);
//     options.on_order then gets the order URL, before any challenge is answered;
//  2. for every authorization still "pending", asks solver_for(identifier) (the identifier with
//     "*." for wildcards) and picks dns-01 when a dns01 solver is given and the CA offers it,
//     else http-01 when an http01 solver is given and offered and the identifier is not a
//     wildcard (section 7.1.3: wildcards are dns-01 only); authorizations already "valid"
//     (reused by the CA) are skipped;
//  3. presents EVERY value first (a wildcard and its apex share one `_acme-challenge` name, so
//     both values must be there before the CA looks at either), then answers each challenge and
//     waits, bounded by the client's poll limits, for each authorization;
//  4. removes every value it presented, whatever happened (also after a failure half-way; an
//     error while cleaning up is logged and does not mask the original error);
//  5. finalizes with a CSR for `names` signed by `cert_key` (x509::Csr), waits for the order,
//     downloads the chain and, with options.preferred_chain, the alternates (section 7.4.2).
// On success: the chain (leaf first) and the order URL. On failure the Error keeps the code of
// the step that failed and its message says which step and which name, e.g. "validating
// dns-01 for app.example.test: the CA refused: urn:ietf:params:acme:error:unauthorized: ..."
// (the CA's problem document, formatted by the client). FailedPrecondition when no given solver
// matches an offered challenge (the message names the identifier and the offered types), when an
// authorization is in a state other than pending/valid, or when the issued certificate is not for
// `cert_key` (a resumed order finalized earlier with another key). A solver_for error is
// returned with the identifier in front. InvalidArgument, before anything is sent, for no
// names, an empty name or an empty solver_for.
// The client account must already exist (client.account_url() set). `cert_key` is borrowed for
// the call; so are the solvers solver_for returns (they must stay valid until the call returns).
// Runs on the calling thread; as thread-safe as the client (i.e. one call at a time per client).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/client/client.h"
#include "acme/client/dns01_solver.h"
#include "acme/client/http01.h"
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
  // An order URL from an earlier call (kept from on_order) to continue instead of creating a new
  // order, e.g. after a crash. Empty: always a new order.
  std::string resume_order_url;
  // Called with the order URL (new or resumed) as soon as it is known, before any challenge is
  // answered, so the caller can persist it for resume_order_url. Called once per call, or twice
  // when a resumed order turns out to be finalized for another key and a new order replaces it.
  // Optional.
  std::function<void(const std::string& order_url)> on_order;
  // If non-empty: among the default chain and its alternates, the first whose topmost
  // certificate's issuer CN equals this; the default chain when none does.
  std::string preferred_chain;
};

struct IssuedChain {
  CertificateChain chain;
  std::string order_url;
};

// The solvers for one identifier; either may be null (not offered by the caller).
struct ChallengeSolvers {
  Dns01Solver* dns01 = nullptr;
  Http01Solver* http01 = nullptr;
};
using SolverFor = std::function<Result<ChallengeSolvers>(std::string_view identifier)>;

Result<IssuedChain> IssueOrder(Client& client, const SolverFor& solver_for,
                               const std::vector<std::string>& names,
                               const crypto::PrivateKey& cert_key,
                               const IssueOptions& options = {});

// IssueOrder with `solver` for every identifier, dns-01 only.
Result<IssuedChain> IssueWithDns01(Client& client, Dns01Solver& solver,
                                   const std::vector<std::string>& names,
                                   const crypto::PrivateKey& cert_key,
                                   const IssueOptions& options = {});

}  // namespace certfleet::acme
