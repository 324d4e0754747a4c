#include "lifecycle/governance_service.h"

#include <algorithm>
#include <map>

#include "audit/audit_log.h"
#include "base/ids.h"
#include "base/validate.h"
#include "lifecycle/tokens.h"
#include "policy/account_policy.h"
#include "policy/domain_claims.h"
#include "store/owned.h"

namespace certfleet::lifecycle {
namespace {

// The system account (api::kSystemAccountName; lifecycle cannot include api).
constexpr char kSystemAccount[] = "default";

}  // namespace

Result<model::Account> GovernanceService::CreateAccount(const std::string& name,
                                                        audit::RequestScope* audit_scope) {
  CF_TRY(ValidateName("account name", name));
  model::Account a{NewId(model::kAccountPrefix, clock_, random_), name, Now()};
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  Status st = tx->accounts().Insert(a);
  if (!st.ok() && st.error().code() == ErrorCode::kConflict) {
    return Conflict("an account named " + QuoteForMessage(name) + " exists already");
  }
  CF_TRY(st);
  CF_TRY(
      audit::AppendInTx(audit_scope, *tx, {.account_id = a.id, .resource = a.id, .status = 201}));
  CF_TRY(tx->Commit());
  return a;
}

Result<std::vector<model::Account>> GovernanceService::ListAccounts(const Caller& caller) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  if (caller.system_admin) return tx->accounts().List();
  CF_ASSIGN_OR_RETURN(model::Account own, tx->accounts().Get(caller.account_id));
  return std::vector<model::Account>{own};
}

Result<model::Account> GovernanceService::ResolveAccount(const std::string& key) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto by_id = IsValidId(key, model::kAccountPrefix) ? tx->accounts().Get(key)
                                                     : tx->accounts().GetByName(key);
  if (!by_id.ok() && by_id.error().code() == ErrorCode::kNotFound) {
    return NotFound("account " + QuoteForMessage(key) + " not found");
  }
  return by_id;
}

Result<model::Principal> GovernanceService::CreatePrincipal(const NewPrincipal& spec,
                                                            audit::RequestScope* audit_scope) {
  CF_TRY(ValidateName("principal name", spec.name));
  CF_TRY(ValidateTags(spec.tags));
  model::Principal p;
  p.id = NewId(model::kPrincipalPrefix, clock_, random_);
  p.account_id = spec.account_id;
  p.name = spec.name;
  p.kind = spec.kind;
  p.role = spec.role;
  p.tags = spec.tags;
  p.created_at = Now();
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  Status st = tx->principals().Insert(p);
  if (!st.ok() && st.error().code() == ErrorCode::kConflict) {
    return Conflict("a principal named " + QuoteForMessage(spec.name) +
                    " exists already in this account");
  }
  CF_TRY(st);
  CF_TRY(audit::AppendInTx(audit_scope, *tx,
                           {.account_id = p.account_id, .resource = p.id, .status = 201}));
  CF_TRY(tx->Commit());
  return p;
}

Result<std::vector<model::Principal>> GovernanceService::ListPrincipals(
    const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  return tx->principals().ListByAccount(account_id);
}

Result<model::Principal> GovernanceService::GetPrincipal(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  return tx->principals().Get(id);
}

Result<model::Principal> GovernanceService::SetPrincipalTags(const Caller& caller,
                                                             const std::string& principal_id,
                                                             const model::Tags& tags) {
  if (caller.principal_id == principal_id) {
    return Forbidden("a principal cannot set its own tags (rule tags.self_assign)");
  }
  CF_TRY(ValidateTags(tags));
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(model::Principal p, tx->principals().Get(principal_id));
  p.tags = tags;
  CF_TRY(tx->principals().Update(p));
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = p.account_id, .resource = p.id, .status = 200}));
  CF_TRY(tx->Commit());
  NoteCredentialsChanged();
  return p;
}

Result<model::Principal> GovernanceService::SetPrincipalDisabled(const Caller& caller,
                                                                 const std::string& principal_id,
                                                                 bool disabled) {
  // Disabling oneself is refused whatever the role: it is either a mistake or an attempt to
  // dodge the last-admin rule below by a principal that would then be locked out with no one
  // to undo it.
  if (caller.principal_id == principal_id) {
    return Forbidden("a principal cannot enable or disable itself (rule principal.self_disable)");
  }
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(model::Principal p, tx->principals().Get(principal_id));
  if (p.disabled == disabled) return p;
  if (disabled && p.role == model::Role::kAdmin) {
    CF_ASSIGN_OR_RETURN(model::Account account, tx->accounts().Get(p.account_id));
    if (account.name == kSystemAccount) {
      CF_ASSIGN_OR_RETURN(auto all, tx->principals().ListByAccount(p.account_id));
      const bool another = std::any_of(all.begin(), all.end(), [&](const model::Principal& o) {
        return o.id != p.id && o.role == model::Role::kAdmin && !o.disabled;
      });
      if (!another) {
        return Conflict("principal " + QuoteForMessage(p.name) +
                        " is the last active admin of the system account; disabling it would "
                        "lock every system admin out");
      }
    }
  }
  p.disabled = disabled;
  CF_TRY(tx->principals().Update(p));
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = p.account_id, .resource = p.id, .status = 200}));
  CF_TRY(tx->Commit());
  NoteCredentialsChanged();
  return p;
}

Result<model::Principal> GovernanceService::ResolvePrincipal(const std::string& account_id,
                                                             const std::string& key) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  // By id or by name; another account's principal answers like a missing one.
  return store::LoadOwned("principal", key, "", account_id, [&](const std::string& k) {
    return IsValidId(k, model::kPrincipalPrefix) ? tx->principals().Get(k)
                                                 : tx->principals().GetByName(account_id, k);
  });
}

Result<IssuedToken> GovernanceService::CreateToken(const model::Principal& principal,
                                                   std::optional<Seconds> ttl,
                                                   audit::RequestScope* audit_scope) {
  // Every token created through the API expires; 90 days unless the caller says otherwise.
  if (!ttl) ttl = kDefaultTokenTtl;
  if (*ttl < std::chrono::minutes(1) || *ttl > std::chrono::days(3650)) {
    return InvalidArgument("token expiry must be between 1m and 3650d");
  }
  NewToken t = GenerateApiToken(random_);
  IssuedToken out;
  out.record.id = NewId(model::kTokenPrefix, clock_, random_);
  out.record.principal_id = principal.id;
  out.record.hash_hex = t.hash_hex;
  out.record.created_at = Now();
  out.record.expires_at = out.record.created_at + *ttl;
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(tx->tokens().Insert(out.record));
  CF_TRY(audit::AppendInTx(
      audit_scope, *tx,
      {.account_id = principal.account_id, .resource = out.record.id, .status = 201}));
  CF_TRY(tx->Commit());
  out.token = std::move(t.token);
  return out;
}

Result<model::ApiToken> GovernanceService::GetToken(const std::string& id) {
  if (!IsValidId(id, model::kTokenPrefix)) {
    return NotFound("token " + QuoteForMessage(id) + " not found");
  }
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  return tx->tokens().Get(id);
}

Result<std::vector<model::ApiToken>> GovernanceService::ListTokens(
    const std::string& account_id, const std::optional<std::string>& principal_id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  std::vector<model::ApiToken> out;
  CF_ASSIGN_OR_RETURN(auto principals, tx->principals().ListByAccount(account_id));
  for (const model::Principal& p : principals) {
    if (principal_id && p.id != *principal_id) continue;
    CF_ASSIGN_OR_RETURN(auto tokens, tx->tokens().ListByPrincipal(p.id));
    for (model::ApiToken& t : tokens) out.push_back(std::move(t));
  }
  return out;
}

Result<model::ApiToken> GovernanceService::RevokeToken(const std::string& id,
                                                       audit::RequestScope* audit_scope) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(tx->tokens().Revoke(id));
  CF_ASSIGN_OR_RETURN(model::ApiToken t, tx->tokens().Get(id));
  CF_ASSIGN_OR_RETURN(model::Principal owner, tx->principals().Get(t.principal_id));
  CF_TRY(audit::AppendInTx(audit_scope, *tx, {.account_id = owner.account_id, .resource = id}));
  CF_TRY(tx->Commit());
  NoteCredentialsChanged();
  return t;
}

Result<model::Grant> GovernanceService::CreateGrant(const Caller& caller,
                                                    const std::string& from_account_id,
                                                    const std::string& to_account_id) {
  if (from_account_id == to_account_id) {
    return InvalidArgument("a grant needs two different accounts");
  }
  model::Grant g;
  g.id = NewId(model::kGrantPrefix, clock_, random_);
  g.from_account_id = from_account_id;
  g.to_account_id = to_account_id;
  g.created_by = caller.principal_id;
  g.created_at = Now();
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  Status st = tx->grants().Insert(g);
  if (!st.ok() && st.error().code() == ErrorCode::kConflict) {
    return Conflict("an active grant from " + from_account_id + " to " + to_account_id +
                    " exists already");
  }
  CF_TRY(st);
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = g.to_account_id, .resource = g.id, .status = 201}));
  CF_TRY(tx->Commit());
  return g;
}

Result<std::vector<model::Grant>> GovernanceService::ListGrants(const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  return tx->grants().ListByAccount(account_id);
}

Result<model::Grant> GovernanceService::GetGrant(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  return tx->grants().Get(id);
}

Result<model::Grant> GovernanceService::RevokeGrant(const std::string& id,
                                                    audit::RequestScope* audit_scope) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(tx->grants().Revoke(id, Now()));
  CF_ASSIGN_OR_RETURN(model::Grant g, tx->grants().Get(id));
  CF_TRY(audit::AppendInTx(audit_scope, *tx, {.account_id = g.to_account_id, .resource = id}));
  CF_TRY(tx->Commit());
  return g;
}

Result<model::PolicyDocument> GovernanceService::SetPolicy(const Caller& caller,
                                                           const std::string& account_id,
                                                           const std::string& toml) {
  CF_ASSIGN_OR_RETURN(policy::AccountPolicy parsed, policy::ParseAccountPolicy(toml));
  (void)parsed;  // validated; the source is stored verbatim so comments survive
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  int version = 1;
  auto old = tx->policies().Get(account_id);
  if (old.ok())
    version = old->version + 1;
  else if (old.error().code() != ErrorCode::kNotFound)
    return std::move(old).error();
  model::PolicyDocument doc{account_id, toml, version, caller.principal_id, Now()};
  CF_TRY(tx->policies().Put(doc));
  CF_TRY(audit::AppendInTx(
      caller.audit, *tx,
      {.account_id = account_id, .resource = "policy/" + account_id, .status = 200}));
  CF_TRY(tx->Commit());
  return doc;
}

Result<model::PolicyDocument> GovernanceService::GetPolicy(const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto doc = tx->policies().Get(account_id);
  if (!doc.ok() && doc.error().code() == ErrorCode::kNotFound) {
    return model::PolicyDocument{account_id, policy::PolicyToToml(policy::AccountPolicy{}), 0, "",
                                 TimePoint()};
  }
  return doc;
}

Result<std::vector<ExportReportRow>> GovernanceService::ExportReport(const store::ExportFilter& f) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
  CF_ASSIGN_OR_RETURN(auto groups, tx->exports().Summarize(f));
  std::vector<ExportReportRow> out;
  out.reserve(groups.size());
  for (store::ExportSummary& g : groups) {
    ExportReportRow row{.account_id = std::move(g.account_id),
                        .certificate_id = std::move(g.certificate_id),
                        .exports = static_cast<int>(g.exports),
                        .fqdns = static_cast<int>(g.fqdns),
                        .wildcards = static_cast<int>(g.wildcards)};
    auto cert = tx->certificates().Get(row.certificate_id);
    if (cert.ok()) row.certificate_name = cert->name;
    out.push_back(std::move(row));
  }
  return out;
}

// ---- domain claims (issue #13)

namespace {

Status RequireSystemAdmin(const Caller& caller, std::string_view what) {
  if (caller.system_admin && caller.role == model::Role::kAdmin) return Ok();
  return Forbidden(std::string(what) +
                   " is reserved to administrators of the system account (rule role.insufficient)");
}

}  // namespace

Result<model::DomainClaim> GovernanceService::ClaimDomain(const Caller& caller,
                                                          const NewDomainClaim& spec) {
  CF_TRY(RequireSystemAdmin(caller, "claiming a domain"));
  CF_ASSIGN_OR_RETURN(std::string domain, policy::NormalizeClaimDomain(spec.domain));
  model::DomainClaim claim{.id = NewId(model::kDomainClaimPrefix, clock_, random_),
                           .account_id = spec.account_id,
                           .domain = domain,
                           .include_subdomains = spec.include_subdomains,
                           .shared = spec.shared,
                           .created_by = caller.principal_id,
                           .created_at = Now()};
  // The overlap check and the insert share one write transaction, so two racing claims of the
  // same name cannot both pass it.
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto account = tx->accounts().Get(spec.account_id);
  if (!account.ok()) {
    if (account.error().code() == ErrorCode::kNotFound) {
      return NotFound("account " + QuoteForMessage(spec.account_id) + " not found");
    }
    return std::move(account).error();
  }
  CF_ASSIGN_OR_RETURN(auto existing, tx->domain_claims().List());
  if (auto other = policy::FindConflictingClaim(existing, claim)) {
    std::string owner = other->account_id;
    if (auto a = tx->accounts().Get(other->account_id); a.ok()) owner = a->name;
    return Conflict("domain " + QuoteForMessage(domain) + " overlaps claim " + other->id + " (" +
                    other->domain + (other->include_subdomains ? " and its subdomains" : "") +
                    ") of account " + QuoteForMessage(owner) +
                    "; two accounts may share a name only when both claims are marked shared");
  }
  Status st = tx->domain_claims().Insert(claim);
  if (!st.ok() && st.error().code() == ErrorCode::kConflict) {
    return Conflict("account " + QuoteForMessage(account->name) + " holds a claim on " +
                    QuoteForMessage(domain) + " already");
  }
  CF_TRY(st);
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = claim.account_id, .resource = claim.id, .status = 201}));
  CF_TRY(tx->Commit());
  return claim;
}

Result<std::vector<model::DomainClaim>> GovernanceService::ListDomainClaims(
    const std::optional<std::string>& account_id) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  if (account_id) return tx->domain_claims().ListByAccount(*account_id);
  return tx->domain_claims().List();
}

Result<model::DomainClaim> GovernanceService::GetDomainClaim(const std::string& id) {
  auto not_found = [&] { return NotFound("domain claim " + QuoteForMessage(id) + " not found"); };
  if (!IsValidId(id, model::kDomainClaimPrefix)) return not_found();
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto claim = tx->domain_claims().Get(id);
  if (!claim.ok() && claim.error().code() == ErrorCode::kNotFound) return not_found();
  return claim;
}

Result<model::DomainClaim> GovernanceService::ReleaseDomainClaim(const Caller& caller,
                                                                 const std::string& id) {
  CF_TRY(RequireSystemAdmin(caller, "releasing a domain claim"));
  auto not_found = [&] { return NotFound("domain claim " + QuoteForMessage(id) + " not found"); };
  if (!IsValidId(id, model::kDomainClaimPrefix)) return not_found();
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto claim = tx->domain_claims().Get(id);
  if (!claim.ok()) {
    if (claim.error().code() == ErrorCode::kNotFound) return not_found();
    return std::move(claim).error();
  }
  CF_TRY(tx->domain_claims().Delete(id));
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = claim->account_id, .resource = id, .status = 200}));
  CF_TRY(tx->Commit());
  return std::move(claim).value();
}

}  // namespace certfleet::lifecycle
