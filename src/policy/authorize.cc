#include "policy/authorize.h"

#include <algorithm>
#include <array>

#include "base/validate.h"
#include "policy/tags.h"

namespace certfleet::policy {
namespace {

// One cell of the role matrix.
enum class Access {
  kNo,
  kYes,
  kTagged,       // allowed only if the subject holds every tag of the secret (tags.h)
  kSystemAdmin,  // allowed only to a system admin
};

// One-letter aliases keep the table below readable as a table.
constexpr Access N = Access::kNo;
constexpr Access Y = Access::kYes;
constexpr Access T = Access::kTagged;
constexpr Access S = Access::kSystemAdmin;

struct Row {
  Action action;
  std::string_view name;
  // Indexed by model::Role: admin, operator, auditor, agent.
  std::array<Access, 4> by_role;
};

// The role matrix. Admin: everything in its own account. Operator: reads everything but the
// audit log; works certificates and deployments; reads secret values only by tags; no
// policy/principal/token/grant/account/agent/webhook/issuer writes. Auditor: every read,
// including audit and reports, but never a secret value. Agent: what the agent loop needs.
constexpr std::array<Row, 28> kMatrix{{
    // {action, name, {admin, operator, auditor, agent}}
    {Action::kCertificateRead, "certificate.read", {Y, Y, Y, Y}},
    {Action::kCertificateRequest, "certificate.request", {Y, Y, N, N}},
    {Action::kCertificateRenew, "certificate.renew", {Y, Y, N, N}},
    {Action::kCertificateExport, "certificate.export", {Y, Y, N, N}},
    {Action::kCertificateRevoke, "certificate.revoke", {Y, Y, N, N}},
    {Action::kDeploymentRead, "deployment.read", {Y, Y, Y, Y}},
    {Action::kDeploymentWrite, "deployment.write", {Y, Y, N, N}},
    {Action::kAgentRead, "agent.read", {Y, Y, Y, Y}},
    {Action::kAgentWrite, "agent.write", {Y, N, N, N}},
    {Action::kSecretRead, "secret.read", {Y, Y, Y, N}},
    {Action::kSecretValueRead, "secret.value_read", {Y, T, N, T}},
    {Action::kPolicyRead, "policy.read", {Y, Y, Y, N}},
    {Action::kPolicyWrite, "policy.write", {Y, N, N, N}},
    {Action::kPrincipalRead, "principal.read", {Y, Y, Y, N}},
    {Action::kPrincipalWrite, "principal.write", {Y, N, N, N}},
    {Action::kTokenWrite, "token.write", {Y, N, N, N}},
    {Action::kGrantRead, "grant.read", {Y, Y, Y, N}},
    {Action::kGrantWrite, "grant.write", {Y, N, N, N}},
    {Action::kAccountRead, "account.read", {Y, Y, Y, N}},
    {Action::kAccountCreate, "account.create", {S, N, N, N}},
    {Action::kAuditRead, "audit.read", {Y, N, Y, N}},
    {Action::kReportRead, "report.read", {Y, Y, Y, N}},
    {Action::kWebhookRead, "webhook.read", {Y, Y, Y, N}},
    {Action::kWebhookWrite, "webhook.write", {Y, N, N, N}},
    {Action::kIssuerRead, "issuer.read", {Y, Y, Y, N}},
    {Action::kIssuerWrite, "issuer.write", {Y, N, N, N}},
    // Domain claims decide which names an account may hold at all, so only a system admin
    // assigns them; the account's own admins, operators and auditors read them.
    {Action::kDomainRead, "domain.read", {Y, Y, Y, N}},
    {Action::kDomainWrite, "domain.write", {S, N, N, N}},
}};

constexpr bool RowsInEnumOrder() {
  for (size_t i = 0; i < kMatrix.size(); ++i)
    if (static_cast<size_t>(kMatrix[i].action) != i) return false;
  return static_cast<size_t>(Action::kDomainWrite) + 1 == kMatrix.size();
}
static_assert(RowsInEnumOrder(), "kMatrix must list every Action once, in declaration order");

constexpr std::array<Action, kMatrix.size()> MakeAllActions() {
  std::array<Action, kMatrix.size()> out{};
  for (size_t i = 0; i < kMatrix.size(); ++i) out[i] = kMatrix[i].action;
  return out;
}
constexpr std::array<Action, kMatrix.size()> kAllActions = MakeAllActions();

const Row* FindRow(Action action) {
  const auto i = static_cast<size_t>(action);
  return i < kMatrix.size() ? &kMatrix[i] : nullptr;
}

std::optional<size_t> RoleIndex(model::Role role) {
  const auto i = static_cast<size_t>(role);
  if (i >= 4) return std::nullopt;
  return i;
}

bool IsSystemAdmin(const Subject& s) { return s.system_admin && s.role == model::Role::kAdmin; }

std::string RoleText(model::Role role) { return std::string(model::RoleName(role)); }

}  // namespace

std::span<const Action> AllActions() { return kAllActions; }

std::string_view ActionName(Action action) {
  const Row* row = FindRow(action);
  return row != nullptr ? row->name : "unknown";
}

Decision Authorize(const Subject& subject, Action action, const Target& target) {
  const Row* row = FindRow(action);
  if (row == nullptr) return Decision::Deny("action.unknown", "unknown action");
  std::optional<size_t> role = RoleIndex(subject.role);
  if (!role) return Decision::Deny("role.unknown", "the principal has an unknown role");
  const Access access = row->by_role[*role];

  // Creating an account acts on no existing account, so only the role decides.
  if (access == Access::kSystemAdmin) {
    if (IsSystemAdmin(subject)) return Decision::Allow();
    return Decision::Deny("role.insufficient", std::string(row->name) +
                                                   " is reserved to administrators of the "
                                                   "system account");
  }
  if (target.account_id.empty() || subject.home_account_id.empty()) {
    return Decision::Deny("account.unspecified", "the account acted on is not known");
  }
  if (target.account_id != subject.home_account_id && !IsSystemAdmin(subject)) {
    return Decision::Deny("account.foreign", "the principal may not act on account " +
                                                 QuoteForMessage(target.account_id));
  }
  switch (access) {
    case Access::kYes:
      return Decision::Allow();
    case Access::kTagged:
      if (!target.secret_tags) {
        return Decision::Deny("tags.mismatch", std::string(row->name) + " as role " +
                                                   RoleText(subject.role) +
                                                   " requires matching secret tags");
      }
      return TagsAllow(subject.tags, *target.secret_tags);
    case Access::kNo:
    case Access::kSystemAdmin:  // handled above
      break;
  }
  return Decision::Deny("role.insufficient", "role " + RoleText(subject.role) +
                                                 " may not perform " + std::string(row->name));
}

Decision AuthorizeCrossAccountDeploy(const Subject& subject, const std::string& cert_account,
                                     const std::string& target_account,
                                     const std::vector<Grant>& grants) {
  if (cert_account.empty() || target_account.empty()) {
    return Decision::Deny("account.unspecified", "the certificate or target account is not known");
  }
  Decision may_deploy = Authorize(subject, Action::kDeploymentWrite, Target{cert_account, {}});
  if (!may_deploy.allowed) return may_deploy;
  if (cert_account == target_account) return Decision::Allow();
  const bool granted = std::any_of(grants.begin(), grants.end(), [&](const Grant& g) {
    return g.from_account == cert_account && g.to_account == target_account;
  });
  if (granted) return Decision::Allow();
  return GrantMissing(cert_account);
}

Decision GrantMissing(const std::string& cert_account) {
  // The target account is not named: the same words must answer for an account that does not
  // exist, so that a deployment request cannot probe which accounts exist (issue #13).
  return Decision::Deny("grant.missing", "the target account has not granted account " +
                                             QuoteForMessage(cert_account) +
                                             " deployments onto its hosts");
}

}  // namespace certfleet::policy
