// Role-based authorization: may this subject perform this action on resources of this account?
// The role matrix is one data table in authorize.cc (kMatrix); docs/policy.md reproduces it.
//
// Decision order in Authorize (the first failing rule denies):
//   action.unknown / role.unknown   an enum value outside the declared set (fail closed)
//   account.unspecified             empty target or home account id
//   account.foreign                 target account != home account, unless the subject is a
//                                   system admin (system_admin set AND role admin)
//   role.insufficient               the role's cell for the action is "no"
//   tags.mismatch                   a tag-gated cell (kSecretValueRead for operator and agent):
//                                   the secret's tags must be given and all be held by the subject
// kAccountCreate is allowed only to system admins and ignores the target (the account does not
// exist yet).
//
// Pure functions, thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "policy/decision.h"

namespace certfleet::policy {

enum class Action {
  kCertificateRead,
  kCertificateRequest,
  kCertificateRenew,
  kCertificateExport,
  kCertificateRevoke,
  kDeploymentRead,
  kDeploymentWrite,
  kAgentRead,
  kAgentWrite,
  kSecretRead,  // metadata only
  kSecretValueRead,
  kPolicyRead,
  kPolicyWrite,
  kPrincipalRead,
  kPrincipalWrite,
  kTokenWrite,
  kGrantRead,
  kGrantWrite,
  kAccountRead,
  kAccountCreate,
  kAuditRead,
  kReportRead,
  kWebhookRead,
  kWebhookWrite,
  kIssuerRead,
  kIssuerWrite,
  kDomainRead,   // an account's domain claims (issue #13)
  kDomainWrite,  // claim and release domains: system admins only
};

// Every action, in declaration order (for tests, documentation and the OpenAPI document).
std::span<const Action> AllActions();

// A stable dotted name such as "certificate.read" or "secret.value_read"; "unknown" for a value
// outside the enum.
std::string_view ActionName(Action action);

// Who is acting. Built by the API layer from an authenticated principal.
struct Subject {
  std::string principal_id;
  std::string home_account_id;
  model::Role role = model::Role::kAgent;
  model::Tags tags;
  // Admin of the system ("default") account: may act on every account. Only honoured together
  // with role == kAdmin, so a mis-built subject cannot escalate.
  bool system_admin = false;
};

// What is acted on: the account owning the resource (or the account acted on).
struct Target {
  std::string account_id;
  // kSecretValueRead only: the tags of the secret being read. Required for the tag-gated roles
  // (operator, agent); absent means deny.
  std::optional<model::Tags> secret_tags;
};

// to_account lets from_account deploy from_account's certificates onto to_account's hosts.
struct Grant {
  std::string from_account;
  std::string to_account;
};

Decision Authorize(const Subject& subject, Action action, const Target& target);

// May the subject deploy a certificate of cert_account onto the hosts of target_account?
// Requires Authorize(subject, kDeploymentWrite, {cert_account}); when the two accounts differ it
// also requires a grant {cert_account -> target_account} ("grant.missing" otherwise). The grant
// expresses the target account's consent, so system admins need one too.
Decision AuthorizeCrossAccountDeploy(const Subject& subject, const std::string& cert_account,
                                     const std::string& target_account,
                                     const std::vector<Grant>& grants);
// The "grant.missing" denial, worded without the target account so that it also answers a
// deployment into an account that does not exist.
Decision GrantMissing(const std::string& cert_account);

}  // namespace certfleet::policy
