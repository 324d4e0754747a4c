// ACME issuers and solvers, configured per account (issue #6; docs/acme.md).
//
// An issuer names an ACME directory and how to answer its challenges:
//  - CreateIssuer generates the ACME account key (ES256) itself, seals it, and registers the
//    account with the CA right away (newAccount, with external account binding when given), so a
//    wrong directory URL, trust bundle or EAB key is reported at creation and nothing is stored.
//    The EAB HMAC key is sealed too; neither key is ever returned or logged.
//  - `solvers` are rules "SOLVER[:DOMAIN_SUFFIX]": for each identifier the first rule whose suffix
//    matches (the name itself or a subdomain; a wildcard "*.x" matches as "x") picks the solver;
//    a rule without a suffix matches everything. The built-in solver "http01" is certfleetd's own
//    challenge listener (certfleetd --http01-listen); other names refer to solvers of the account.
// A solver is a way to answer a challenge:
//  - rfc2136: DNS UPDATE with TSIG to `server` (HOST:PORT), the key from a BIND key file (the
//    format `tsig-keygen` writes; the secret is sealed), optionally restricted to `zone`.
//  - exec: a local program speaking the JSON protocol of docs/exec-solver.md (dns-01). `program`
//    is the NAME of a program configured in certfleetd's configuration ([exec_solvers.NAME]),
//    never a path, and arguments never come from the API (issue #13): a path-like value or any
//    argument is InvalidArgument; a name not configured for the account is Forbidden (rule
//    exec.not_allowed). The issuer checks again at every use.
//  Outbound reach (issue #13): a directory URL or RFC 2136 server on a private, loopback or
//  reserved network is Forbidden (rule network.private_not_allowed, one generic message) unless
//  options.outbound allows that network for the account; enforced again at connect time.
//  - agent-http01: http-01 answered by the account's agents whose tags match `selector`
//    (agent_http01.h; each agent serves from the webroot or listener of its [http01] config).
// Names follow base/validate ValidateName. Reading needs kIssuerRead, writing kIssuerWrite, in
// the target account (the API layer authorizes; this service scopes by caller.account_id).
// Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "acme/client/exec_solver.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "base/secret_bytes.h"
#include "lifecycle/caller.h"
#include "model/model.h"
#include "net/address_policy.h"
#include "secrets/secret_store.h"
#include "store/store.h"

namespace certfleet::lifecycle {

// The name of the built-in http-01 solver (certfleetd's challenge listener).
inline constexpr char kBuiltinHttp01Solver[] = "http01";
// The solver type whose http-01 tokens the account's agents serve (agent_http01.h).
inline constexpr char kAgentHttp01SolverType[] = "agent-http01";

struct SolverRule {
  std::string solver;         // a solver name of the account, or "http01"
  std::string domain_suffix;  // empty: any name
};

struct AcmeIssuerSpec {
  std::string name;
  std::string directory_url;          // https:// (http:// only when the service allows it)
  std::string trust_pem;              // CA certificates for the directory's TLS; empty: system
  std::vector<std::string> contacts;  // e-mail addresses or mailto: URLs
  std::string eab_kid;
  SecretBytes eab_hmac_key;     // as given by the CA: base64url text; both or neither with eab_kid
  std::string preferred_chain;  // issuer CN of the preferred chain's top certificate
  std::string profile;          // an ACME profile (draft-ietf-acme-profiles); empty: default
  std::vector<SolverRule> solvers;
};

struct SolverSpec {
  std::string name;
  std::string type;  // "rfc2136", "exec" or "agent-http01"
  // rfc2136
  std::string server;         // HOST:PORT
  std::string zone;           // optional
  SecretBytes tsig_key_file;  // the BIND key file's content
  // exec
  std::string program;             // the name of a configured program (not a path)
  std::vector<std::string> args;   // must be empty: arguments are configured with the program
  std::optional<Seconds> timeout;  // exec: the program's; agent-http01: the wait for the agents
  // agent-http01
  model::Tags selector;
};

// What the API shows: the configuration without secrets.
struct AcmeConfigView {
  std::string id;
  std::string account_id;
  std::string kind;  // "issuer" / "solver"
  std::string name;
  std::string type;
  nlohmann::json config;  // non-secret settings (issuer: directory_url, account_url, ...)
  bool has_eab = false;
  std::string created_by;
  TimePoint created_at;
  TimePoint updated_at;
};

// Builds and registers ACME accounts; tests point it at Pebble.
struct AcmeConfigOptions {
  bool allow_plain_http = false;  // tests only
  std::chrono::milliseconds request_timeout{30000};
  // certfleetd's configuration (issue #13; borrowed, must outlive the service and the issuer).
  // `outbound`: which non-public networks each account's ACME directories and RFC 2136 servers
  // may reach, enforced on the addresses connected to. Null: no address check (unit tests
  // only; certfleetd always passes one, by default allowing no private network).
  const net::OutboundPolicy* outbound = nullptr;
  // The only programs exec solvers may run, by name, with the accounts allowed each. Null: none.
  const acme::ExecPrograms* exec_programs = nullptr;
};

// The address filter for `account_id`'s outbound connections under options.outbound (empty
// function when there is no policy). Reads the account's name in `tx`.
Result<net::AddressFilter> AccountAddressFilter(store::Tx& tx, const std::string& account_id,
                                                const AcmeConfigOptions& options);

class AcmeConfigService {
 public:
  AcmeConfigService(store::Store& store, secrets::SecretStore& secrets, const Clock& clock,
                    Random& random, AcmeConfigOptions options = {})
      : store_(store), secrets_(secrets), clock_(clock), random_(random), options_(options) {}

  // InvalidArgument naming the field; Conflict if the name is taken; the CA's error (with its
  // problem document) if the account cannot be registered.
  Result<AcmeConfigView> CreateIssuer(const Caller& caller, const AcmeIssuerSpec& spec);
  Result<AcmeConfigView> CreateSolver(const Caller& caller, const SolverSpec& spec);
  // NotFound for unknown names.
  Result<AcmeConfigView> Get(const Caller& caller, const std::string& kind,
                             const std::string& name);
  Result<std::vector<AcmeConfigView>> List(const Caller& caller, const std::string& kind);

  const AcmeConfigOptions& options() const { return options_; }

 private:
  Status CheckSolverRules(store::Tx& tx, const std::string& account_id,
                          const std::vector<SolverRule>& rules);

  store::Store& store_;
  secrets::SecretStore& secrets_;
  const Clock& clock_;
  Random& random_;
  AcmeConfigOptions options_;
};

// "SOLVER[:DOMAIN_SUFFIX]" as given on the command line or in the API. InvalidArgument.
Result<SolverRule> ParseSolverRule(std::string_view text);

}  // namespace certfleet::lifecycle
