// GovernanceService: accounts, principals, API tokens, cross-account grants and account policies
// (issue #3). Authorization (who may call what on which account) is decided by the API layer with
// policy::Authorize before these calls; this class validates input, enforces invariants (unique
// names, a principal's tags are set only through here, by an admin) and writes the store.
// Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "lifecycle/caller.h"
#include "lifecycle/tokens.h"
#include "model/model.h"
#include "store/store.h"

namespace certfleet::lifecycle {

struct NewPrincipal {
  std::string account_id;
  std::string name;
  model::PrincipalKind kind = model::PrincipalKind::kUser;
  model::Role role = model::Role::kOperator;
  model::Tags tags;
};

struct IssuedToken {
  model::ApiToken record;
  SecretBytes token;  // shown once
};

struct ExportReportRow {
  std::string account_id;
  std::string certificate_id;
  std::string certificate_name;
  int exports = 0;
  int fqdns = 0;
  int wildcards = 0;
};

inline constexpr Seconds kDefaultTokenTtl = std::chrono::days(90);

// A domain claim to create (issue #13): `domain` as given (NormalizeClaimDomain normalizes it).
struct NewDomainClaim {
  std::string account_id;
  std::string domain;
  bool include_subdomains = false;
  bool shared = false;
};

class GovernanceService {
 public:
  GovernanceService(store::Store& store, const Clock& clock, Random& random)
      : store_(store), clock_(clock), random_(random) {}

  // Accounts. Conflict for a duplicate name.
  // The `audit_scope` parameters (here and below) are the API request's audit scope
  // (Caller::audit): the record commits with the change; null for calls that are not requests.
  Result<model::Account> CreateAccount(const std::string& name,
                                       audit::RequestScope* audit_scope = nullptr);
  Result<std::vector<model::Account>> ListAccounts(const Caller& caller);
  // Resolves an account given by id or by name; NotFound otherwise.
  Result<model::Account> ResolveAccount(const std::string& id_or_name);

  // Principals. Conflict for a duplicate name in the account.
  Result<model::Principal> CreatePrincipal(const NewPrincipal& spec,
                                           audit::RequestScope* audit_scope = nullptr);
  Result<std::vector<model::Principal>> ListPrincipals(const std::string& account_id);
  // Resolves "prn_..." or "<name>" within `account_id`.
  Result<model::Principal> ResolvePrincipal(const std::string& account_id,
                                            const std::string& id_or_name);
  Result<model::Principal> GetPrincipal(const std::string& id);
  // Replaces a principal's tags. Forbidden when the caller is that principal: tags decide which
  // secrets a principal may read, so only another admin may set them.
  Result<model::Principal> SetPrincipalTags(const Caller& caller, const std::string& principal_id,
                                            const model::Tags& tags);

  // Enables or disables a principal (issue #13): every token of a disabled principal answers 401
  // on its next request (the authenticator reads the principal on every request), and a disabled
  // agent principal's client certificates are refused too. Forbidden (rule
  // principal.self_disable) when the caller is that principal; Conflict when the change would
  // leave the system account without an active admin (the platform would lock itself out).
  Result<model::Principal> SetPrincipalDisabled(const Caller& caller,
                                                const std::string& principal_id, bool disabled);

  // Tokens. `ttl` unset means kDefaultTokenTtl; every token expires.
  Result<IssuedToken> CreateToken(const model::Principal& principal, std::optional<Seconds> ttl,
                                  audit::RequestScope* audit_scope = nullptr);
  // NotFound for an unknown id.
  Result<model::ApiToken> GetToken(const std::string& id);
  // Tokens of the principals of `account_id` (one principal if `principal_id` is set), ordered
  // by principal, then id. Hashes are never part of what the API renders.
  Result<std::vector<model::ApiToken>> ListTokens(const std::string& account_id,
                                                  const std::optional<std::string>& principal_id);
  // Marks the token revoked: it answers 401 from the next request on. Revoking twice succeeds.
  Result<model::ApiToken> RevokeToken(const std::string& id,
                                      audit::RequestScope* audit_scope = nullptr);

  // Grants: `to_account_id` lets `from_account_id` deploy into its hosts.
  Result<model::Grant> CreateGrant(const Caller& caller, const std::string& from_account_id,
                                   const std::string& to_account_id);
  Result<std::vector<model::Grant>> ListGrants(const std::string& account_id);
  Result<model::Grant> GetGrant(const std::string& id);
  Result<model::Grant> RevokeGrant(const std::string& id,
                                   audit::RequestScope* audit_scope = nullptr);

  // Policies: InvalidArgument naming the key for a bad document.
  Result<model::PolicyDocument> SetPolicy(const Caller& caller, const std::string& account_id,
                                          const std::string& toml);
  // The stored document, or the canonical default when none is set (version 0).
  Result<model::PolicyDocument> GetPolicy(const std::string& account_id);

  // Domain claims (issue #13, policy/domain_claims.h). Claiming and releasing are for system
  // admins only: Forbidden (rule role.insufficient) for any other caller, whatever the API layer
  // decided. ClaimDomain: InvalidArgument for a name that is not a DNS host name (wildcards and
  // IP addresses included); NotFound for an unknown account; Conflict when the account holds the
  // domain already, or when another account's claim overlaps it (the same name, or one covering
  // the other through include_subdomains) unless both claims are shared.
  Result<model::DomainClaim> ClaimDomain(const Caller& caller, const NewDomainClaim& spec);
  // Every account's claims when `account_id` is unset, else that account's; ordered by id.
  Result<std::vector<model::DomainClaim>> ListDomainClaims(
      const std::optional<std::string>& account_id);
  // NotFound for an unknown or malformed id.
  Result<model::DomainClaim> GetDomainClaim(const std::string& id);
  // Deletes the claim and returns it. From then on the account's certificates for names only it
  // covered are refused at renewal and deployment (rule domain.unclaimed). Forbidden as above,
  // NotFound for an unknown id.
  Result<model::DomainClaim> ReleaseDomainClaim(const Caller& caller, const std::string& id);

  // The chargeback ledger: the allowed exports matching `f` per certificate, ordered by
  // certificate id, at most f.limit rows after certificate f.after_id (store::ExportRepo::
  // Summarize: grouped in SQL, so a page reads one page of groups).
  Result<std::vector<ExportReportRow>> ExportReport(const store::ExportFilter& f);

 private:
  TimePoint Now() const { return std::chrono::floor<std::chrono::seconds>(clock_.Now()); }
  store::Store& store_;
  const Clock& clock_;
  Random& random_;
};

}  // namespace certfleet::lifecycle
