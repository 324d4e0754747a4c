#include "model/model.h"

#include <array>
#include <utility>

namespace certfleet::model {
namespace {

template <typename E, size_t N>
Result<E> Lookup(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view s,
                 std::string_view what) {
  std::string valid;
  for (const auto& [e, name] : table) {
    if (name == s) return e;
    if (!valid.empty()) valid += ", ";
    valid += name;
  }
  return InvalidArgument("unknown " + std::string(what) + "; valid values: " + valid);
}

template <typename E, size_t N>
std::string_view Name(const std::array<std::pair<E, std::string_view>, N>& table, E e) {
  for (const auto& [v, name] : table)
    if (v == e) return name;
  return "unknown";
}

constexpr std::array<std::pair<Role, std::string_view>, 4> kRoles{{{Role::kAdmin, "admin"},
                                                                   {Role::kOperator, "operator"},
                                                                   {Role::kAuditor, "auditor"},
                                                                   {Role::kAgent, "agent"}}};
constexpr std::array<std::pair<PrincipalKind, std::string_view>, 3> kKinds{
    {{PrincipalKind::kUser, "user"},
     {PrincipalKind::kService, "service"},
     {PrincipalKind::kAgent, "agent"}}};
constexpr std::array<std::pair<CertificateStatus, std::string_view>, 5> kStatuses{
    {{CertificateStatus::kPending, "pending"},
     {CertificateStatus::kIssued, "issued"},
     {CertificateStatus::kFailed, "failed"},
     {CertificateStatus::kRevoked, "revoked"},
     {CertificateStatus::kExpired, "expired"}}};
constexpr std::array<std::pair<SecretKind, std::string_view>, 2> kSecretKinds{
    {{SecretKind::kPassphrase, "passphrase"}, {SecretKind::kGeneric, "generic"}}};
constexpr std::array<std::pair<CaRole, std::string_view>, 2> kCaRoles{
    {{CaRole::kRoot, "root"}, {CaRole::kIntermediate, "intermediate"}}};
constexpr std::array<std::pair<JobState, std::string_view>, 5> kJobStates{
    {{JobState::kPending, "pending"},
     {JobState::kRunning, "running"},
     {JobState::kSucceeded, "succeeded"},
     {JobState::kFailed, "failed"},
     {JobState::kCancelled, "cancelled"}}};

constexpr std::array<std::pair<AgentStatus, std::string_view>, 3> kAgentStatuses{
    {{AgentStatus::kActive, "active"},
     {AgentStatus::kDisabled, "disabled"},
     {AgentStatus::kRevoked, "revoked"}}};

constexpr std::array<std::pair<DeploymentState, std::string_view>, 4> kDeploymentStates{
    {{DeploymentState::kRunning, "running"},
     {DeploymentState::kSucceeded, "succeeded"},
     {DeploymentState::kFailed, "failed"},
     {DeploymentState::kNoTargets, "no_targets"}}};

constexpr std::array<std::pair<TargetState, std::string_view>, 6> kTargetStates{
    {{TargetState::kPending, "pending"},
     {TargetState::kInstalled, "installed"},
     {TargetState::kVerified, "verified"},
     {TargetState::kFailed, "failed"},
     {TargetState::kRolledBack, "rolled_back"},
     {TargetState::kCancelled, "cancelled"}}};

constexpr std::array<std::pair<DeliveryStatus, std::string_view>, 3> kDeliveryStatuses{
    {{DeliveryStatus::kPending, "pending"},
     {DeliveryStatus::kDelivered, "delivered"},
     {DeliveryStatus::kFailed, "failed"}}};

constexpr std::array<std::pair<AuditOutcome, std::string_view>, 3> kOutcomes{
    {{AuditOutcome::kSuccess, "success"},
     {AuditOutcome::kDenied, "denied"},
     {AuditOutcome::kFailure, "failure"}}};

}  // namespace

std::string_view AuditOutcomeName(AuditOutcome o) { return Name(kOutcomes, o); }
Result<AuditOutcome> ParseAuditOutcome(std::string_view s) {
  return Lookup(kOutcomes, s, "audit outcome");
}

std::string_view RoleName(Role r) { return Name(kRoles, r); }
Result<Role> ParseRole(std::string_view s) { return Lookup(kRoles, s, "role"); }
std::string_view PrincipalKindName(PrincipalKind k) { return Name(kKinds, k); }
Result<PrincipalKind> ParsePrincipalKind(std::string_view s) {
  return Lookup(kKinds, s, "principal kind");
}
std::string_view CertificateStatusName(CertificateStatus s) { return Name(kStatuses, s); }
Result<CertificateStatus> ParseCertificateStatus(std::string_view s) {
  return Lookup(kStatuses, s, "certificate status");
}
std::string_view SecretKindName(SecretKind k) { return Name(kSecretKinds, k); }
Result<SecretKind> ParseSecretKind(std::string_view s) {
  return Lookup(kSecretKinds, s, "secret kind");
}
std::string_view CaRoleName(CaRole r) { return Name(kCaRoles, r); }
Result<CaRole> ParseCaRole(std::string_view s) { return Lookup(kCaRoles, s, "CA role"); }
std::string_view JobStateName(JobState s) { return Name(kJobStates, s); }
Result<JobState> ParseJobState(std::string_view s) { return Lookup(kJobStates, s, "job state"); }
std::string_view AgentStatusName(AgentStatus s) { return Name(kAgentStatuses, s); }
Result<AgentStatus> ParseAgentStatus(std::string_view s) {
  return Lookup(kAgentStatuses, s, "agent status");
}
std::string_view DeploymentStateName(DeploymentState s) { return Name(kDeploymentStates, s); }
Result<DeploymentState> ParseDeploymentState(std::string_view s) {
  return Lookup(kDeploymentStates, s, "deployment state");
}
std::string_view TargetStateName(TargetState s) { return Name(kTargetStates, s); }
Result<TargetState> ParseTargetState(std::string_view s) {
  return Lookup(kTargetStates, s, "target state");
}

std::string_view DeliveryStatusName(DeliveryStatus s) { return Name(kDeliveryStatuses, s); }
Result<DeliveryStatus> ParseDeliveryStatus(std::string_view s) {
  return Lookup(kDeliveryStatuses, s, "delivery status");
}

}  // namespace certfleet::model
