// The full authorization decision table: every Action x every Role x own/foreign account x
// system admin or not, against an expected matrix written out independently of authorize.cc.
#include <gtest/gtest.h>

#include <set>

#include "policy/authorize.h"

namespace certfleet::policy {
namespace {

using model::Role;

constexpr Role kRoles[] = {Role::kAdmin, Role::kOperator, Role::kAuditor, Role::kAgent};

// Expected cells: Y allowed, N denied (role.insufficient), T allowed only with matching secret
// tags, S system admins only. Columns: admin, operator, auditor, agent.
struct Expected {
  Action action;
  std::string_view name;
  std::string_view cells;
};

constexpr Expected kExpected[] = {
    {Action::kCertificateRead, "certificate.read", "YYYY"},
    {Action::kCertificateRequest, "certificate.request", "YYNN"},
    {Action::kCertificateRenew, "certificate.renew", "YYNN"},
    {Action::kCertificateExport, "certificate.export", "YYNN"},
    {Action::kCertificateRevoke, "certificate.revoke", "YYNN"},
    {Action::kDeploymentRead, "deployment.read", "YYYY"},
    {Action::kDeploymentWrite, "deployment.write", "YYNN"},
    {Action::kAgentRead, "agent.read", "YYYY"},
    {Action::kAgentWrite, "agent.write", "YNNN"},
    {Action::kSecretRead, "secret.read", "YYYN"},
    {Action::kSecretValueRead, "secret.value_read", "YTNT"},
    {Action::kPolicyRead, "policy.read", "YYYN"},
    {Action::kPolicyWrite, "policy.write", "YNNN"},
    {Action::kPrincipalRead, "principal.read", "YYYN"},
    {Action::kPrincipalWrite, "principal.write", "YNNN"},
    {Action::kTokenWrite, "token.write", "YNNN"},
    {Action::kGrantRead, "grant.read", "YYYN"},
    {Action::kGrantWrite, "grant.write", "YNNN"},
    {Action::kAccountRead, "account.read", "YYYN"},
    {Action::kAccountCreate, "account.create", "SNNN"},
    {Action::kAuditRead, "audit.read", "YNYN"},
    {Action::kReportRead, "report.read", "YYYN"},
    {Action::kWebhookRead, "webhook.read", "YYYN"},
    {Action::kWebhookWrite, "webhook.write", "YNNN"},
    {Action::kIssuerRead, "issuer.read", "YYYN"},
    {Action::kIssuerWrite, "issuer.write", "YNNN"},
    {Action::kDomainRead, "domain.read", "YYYN"},
    {Action::kDomainWrite, "domain.write", "SNNN"},
};

const model::Tags kSecretTags{{"env", "prod"}, {"team", "web"}};

Subject MakeSubject(Role role, bool system_admin) {
  return Subject{.principal_id = "prn_1",
                 .home_account_id = "acc_home",
                 .role = role,
                 .tags = {{"env", "prod"}, {"team", "web"}, {"extra", "x"}},
                 .system_admin = system_admin};
}

// The rule expected for one cell ("" = allowed), given the target's secret tags.
std::string ExpectedRule(char cell, bool foreign, bool effective_system_admin,
                         const std::optional<model::Tags>& secret_tags, const Subject& s) {
  if (cell == 'S') return effective_system_admin ? "" : "role.insufficient";
  if (foreign && !effective_system_admin) return "account.foreign";
  switch (cell) {
    case 'Y':
      return "";
    case 'N':
      return "role.insufficient";
    case 'T': {
      if (!secret_tags) return "tags.mismatch";
      for (const auto& [k, v] : *secret_tags) {
        auto it = s.tags.find(k);
        if (it == s.tags.end() || it->second != v) return "tags.mismatch";
      }
      return "";
    }
  }
  ADD_FAILURE() << "bad cell " << cell;
  return "?";
}

TEST(AuthorizeTest, FullMatrix) {
  ASSERT_EQ(std::size(kExpected), AllActions().size());
  const std::optional<model::Tags> tag_variants[] = {std::nullopt, model::Tags{}, kSecretTags,
                                                     model::Tags{{"env", "dev"}}};
  int checked = 0;
  for (const Expected& e : kExpected) {
    for (size_t r = 0; r < std::size(kRoles); ++r) {
      for (bool foreign : {false, true}) {
        for (bool system_admin : {false, true}) {
          for (const auto& secret_tags : tag_variants) {
            const Subject s = MakeSubject(kRoles[r], system_admin);
            const Target t{foreign ? "acc_other" : "acc_home", secret_tags};
            const bool effective = system_admin && kRoles[r] == Role::kAdmin;
            const std::string want = ExpectedRule(e.cells[r], foreign, effective, secret_tags, s);
            const Decision d = Authorize(s, e.action, t);
            SCOPED_TRACE(std::string(e.name) + " role=" + std::string(model::RoleName(kRoles[r])) +
                         (foreign ? " foreign" : " own") + (system_admin ? " sysadmin" : ""));
            EXPECT_EQ(d.allowed, want.empty()) << d.rule << ": " << d.message;
            EXPECT_EQ(d.rule, want) << d.message;
            if (!d.allowed) {
              EXPECT_FALSE(d.message.empty());
            }
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, int(std::size(kExpected)) * 4 * 2 * 2 * 4);
}

TEST(AuthorizeTest, ActionNamesAreStableAndUnique) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < AllActions().size(); ++i) {
    EXPECT_EQ(AllActions()[i], kExpected[i].action);
    EXPECT_EQ(ActionName(kExpected[i].action), kExpected[i].name);
    names.insert(ActionName(AllActions()[i]));
  }
  EXPECT_EQ(names.size(), AllActions().size());
  EXPECT_EQ(ActionName(static_cast<Action>(999)), "unknown");
}

TEST(AuthorizeTest, FailsClosedOnMalformedInput) {
  const Subject admin = MakeSubject(Role::kAdmin, false);
  EXPECT_EQ(Authorize(admin, static_cast<Action>(999), {"acc_home"}).rule, "action.unknown");
  Subject bad_role = admin;
  bad_role.role = static_cast<Role>(7);
  EXPECT_EQ(Authorize(bad_role, Action::kCertificateRead, {"acc_home"}).rule, "role.unknown");
  EXPECT_EQ(Authorize(admin, Action::kCertificateRead, {""}).rule, "account.unspecified");
  Subject homeless = admin;
  homeless.home_account_id.clear();
  homeless.system_admin = true;
  EXPECT_EQ(Authorize(homeless, Action::kCertificateRead, {""}).rule, "account.unspecified");
  // An empty home account never equals a target by accident.
  Subject no_home = MakeSubject(Role::kOperator, false);
  no_home.home_account_id.clear();
  EXPECT_FALSE(Authorize(no_home, Action::kCertificateRead, {"acc_home"}).allowed);
}

TEST(AuthorizeTest, AccountCreateIgnoresTarget) {
  EXPECT_TRUE(Authorize(MakeSubject(Role::kAdmin, true), Action::kAccountCreate, {""}).allowed);
  EXPECT_FALSE(
      Authorize(MakeSubject(Role::kAdmin, false), Action::kAccountCreate, {"acc_home"}).allowed);
}

TEST(AuthorizeCrossAccountDeployTest, Table) {
  const std::vector<Grant> grants = {{"acc_home", "acc_web"}, {"acc_other", "acc_home"}};
  struct Case {
    std::string_view name;
    Subject subject;
    std::string cert_account, target_account;
    std::string_view rule;  // "" = allowed
  };
  const Case cases[] = {
      {"same account", MakeSubject(Role::kOperator, false), "acc_home", "acc_home", ""},
      {"granted", MakeSubject(Role::kOperator, false), "acc_home", "acc_web", ""},
      {"admin granted", MakeSubject(Role::kAdmin, false), "acc_home", "acc_web", ""},
      {"not granted", MakeSubject(Role::kAdmin, false), "acc_home", "acc_db", "grant.missing"},
      {"grant in the other direction", MakeSubject(Role::kAdmin, false), "acc_home", "acc_other",
       "grant.missing"},
      {"system admin still needs a grant", MakeSubject(Role::kAdmin, true), "acc_home", "acc_db",
       "grant.missing"},
      {"system admin for a foreign account", MakeSubject(Role::kAdmin, true), "acc_other",
       "acc_home", ""},
      {"foreign certificate", MakeSubject(Role::kAdmin, false), "acc_other", "acc_home",
       "account.foreign"},
      {"auditor", MakeSubject(Role::kAuditor, false), "acc_home", "acc_web", "role.insufficient"},
      {"agent", MakeSubject(Role::kAgent, false), "acc_home", "acc_home", "role.insufficient"},
      {"empty target", MakeSubject(Role::kAdmin, false), "acc_home", "", "account.unspecified"},
      {"empty source", MakeSubject(Role::kAdmin, false), "", "acc_web", "account.unspecified"},
  };
  for (const Case& c : cases) {
    Decision d = AuthorizeCrossAccountDeploy(c.subject, c.cert_account, c.target_account, grants);
    EXPECT_EQ(d.allowed, c.rule.empty()) << c.name << ": " << d.message;
    EXPECT_EQ(d.rule, c.rule) << c.name;
  }
  EXPECT_EQ(
      AuthorizeCrossAccountDeploy(MakeSubject(Role::kAdmin, false), "acc_home", "acc_web", {}).rule,
      "grant.missing");
}

}  // namespace
}  // namespace certfleet::policy
