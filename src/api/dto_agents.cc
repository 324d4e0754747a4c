// Wire shapes of agents, enrollment tokens, deployments and the inventory (docs/agents.md).
#include "api/dto.h"
#include "base/time_util.h"

namespace certfleet::api {
namespace {

nlohmann::json OptTime(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(FormatRfc3339(*t)) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json EnrollmentTokenJson(const model::EnrollmentToken& t) {
  return {{"id", t.id},
          {"account", t.account_id},
          {"tags", t.tags},
          {"created_by", t.created_by},
          {"created_at", FormatRfc3339(t.created_at)},
          {"expires_at", FormatRfc3339(t.expires_at)},
          {"used_at", OptTime(t.used_at)},
          {"used_by_agent", t.used_by_agent_id.empty() ? nlohmann::json(nullptr)
                                                       : nlohmann::json(t.used_by_agent_id)},
          {"revoked_at", OptTime(t.revoked_at)}};
}

nlohmann::json AgentJson(const model::Agent& a) {
  return {{"id", a.id},
          {"account", a.account_id},
          {"principal", a.principal_id},
          {"hostname", a.hostname},
          {"tags", a.tags},
          {"status", model::AgentStatusName(a.status)},
          {"cert_serial", a.cert_serial_hex},
          {"cert_not_after", FormatRfc3339(a.cert_not_after)},
          {"last_seq", a.last_seq},
          {"last_seen_at", OptTime(a.last_seen_at)},
          {"created_at", FormatRfc3339(a.created_at)},
          {"updated_at", FormatRfc3339(a.updated_at)}};
}

nlohmann::json DeploymentJson(const model::Deployment& d) {
  auto opt = [](const std::string& s) {
    return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
  };
  return {{"id", d.id},
          {"account", d.account_id},
          {"certificate", d.certificate_id},
          {"target_account", d.target_account_id},
          {"selector", d.selector},
          {"profile", d.profile},
          {"state", model::DeploymentStateName(d.state)},
          {"state_detail", d.state_detail},
          {"generation", d.generation},
          {"version_id", opt(d.version_id)},
          {"secret_id", opt(d.secret_id)},
          {"secret_version", d.secret_version},
          {"job_id", opt(d.job_id)},
          {"deadline", OptTime(d.deadline)},
          {"created_by", d.created_by},
          {"created_at", FormatRfc3339(d.created_at)},
          {"updated_at", FormatRfc3339(d.updated_at)}};
}

nlohmann::json DeploymentViewJson(const lifecycle::DeploymentView& v) {
  nlohmann::json j = DeploymentJson(v.deployment);
  j["version"] = v.version == 0 ? nlohmann::json(nullptr) : nlohmann::json(v.version);
  nlohmann::json targets = nlohmann::json::array();
  for (const lifecycle::TargetView& tv : v.targets) {
    const model::DeploymentTarget& t = tv.target;
    targets.push_back({{"id", t.id},
                       {"agent", t.agent_id},
                       {"hostname", tv.hostname},
                       {"state", model::TargetStateName(t.state)},
                       {"reason", t.reason},
                       {"generation", t.generation},
                       {"version_id", t.version_id},
                       {"version", tv.version},
                       {"serial", tv.serial_hex},
                       {"seq", t.seq},
                       {"paths", t.paths},
                       {"delivered_at", OptTime(t.delivered_at)},
                       {"installed_at", OptTime(t.installed_at)},
                       {"verified_at", OptTime(t.verified_at)},
                       {"updated_at", FormatRfc3339(t.updated_at)}});
  }
  j["targets"] = std::move(targets);
  return j;
}

nlohmann::json InventoryJson(const lifecycle::InventoryRow& r) {
  const model::DeploymentTarget& t = r.target;
  return {{"certificate", r.deployment.certificate_id},
          {"certificate_name", r.certificate_name},
          {"deployment", r.deployment.id},
          {"version_id", t.version_id},
          {"version", r.version},
          {"serial", r.serial_hex},
          {"not_after",
           r.version == 0 ? nlohmann::json(nullptr) : nlohmann::json(FormatRfc3339(r.not_after))},
          {"agent", t.agent_id},
          {"hostname", r.hostname},
          {"account", t.account_id},
          {"profile", r.deployment.profile},
          {"paths", t.paths},
          {"secret_id", r.deployment.secret_id},
          {"secret_version", r.deployment.secret_version},
          {"state", model::TargetStateName(t.state)},
          {"reason", t.reason},
          {"generation", t.generation},
          {"installed_at", OptTime(t.installed_at)},
          {"verified_at", OptTime(t.verified_at)}};
}

nlohmann::json AgentJobJson(const lifecycle::AgentJob& j) {
  return {{"id", j.target.id},
          {"deployment_id", j.deployment.id},
          {"seq", j.target.seq},
          {"generation", j.target.generation},
          {"certificate_id", j.deployment.certificate_id},
          {"certificate_name", j.certificate_name},
          {"version_id", j.target.version_id},
          {"version", j.version},
          {"serial", j.serial_hex},
          {"not_after", FormatRfc3339(j.not_after)},
          {"profile", j.deployment.profile},
          {"secret_id", j.deployment.secret_id},
          {"secret_version", j.deployment.secret_version}};
}

}  // namespace certfleet::api
