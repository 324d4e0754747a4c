// Deployments and deployment targets (migration 4; docs/agents.md).
#include "store/sql/codec.h"
#include "store/sql/list_sql.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

constexpr std::string_view kDeploymentCols =
    "id, account_id, certificate_id, target_account_id, selector, profile, state, state_detail, "
    "generation, version_id, key_blob_id, secret_id, secret_version, job_id, deadline, "
    "created_by, created_at, updated_at";

Result<model::Deployment> ReadDeployment(const Stmt& s) {
  model::Deployment d;
  d.id = s.Text(0);
  d.account_id = s.Text(1);
  d.certificate_id = s.Text(2);
  d.target_account_id = s.Text(3);
  CF_ASSIGN_OR_RETURN(d.selector, DecodeTags(s.Text(4), "deployments.selector"));
  d.profile = s.Text(5);
  CF_ASSIGN_OR_RETURN(d.state,
                      DecodeEnum(model::ParseDeploymentState(s.Text(6)), "deployments.state"));
  d.state_detail = s.Text(7);
  d.generation = static_cast<int>(s.Int(8));
  d.version_id = s.Text(9);
  d.key_blob_id = s.Text(10);
  d.secret_id = s.Text(11);
  d.secret_version = static_cast<int>(s.Int(12));
  d.job_id = s.Text(13);
  d.deadline = DecodeTime(s.OptInt(14));
  d.created_by = s.Text(15);
  d.created_at = DecodeTime(s.Int(16));
  d.updated_at = DecodeTime(s.Int(17));
  return d;
}

constexpr std::string_view kTargetCols =
    "id, deployment_id, agent_id, account_id, generation, version_id, seq, state, reason, paths, "
    "delivered_at, installed_at, verified_at, created_at, updated_at";

Result<model::DeploymentTarget> ReadTarget(const Stmt& s) {
  model::DeploymentTarget t;
  t.id = s.Text(0);
  t.deployment_id = s.Text(1);
  t.agent_id = s.Text(2);
  t.account_id = s.Text(3);
  t.generation = static_cast<int>(s.Int(4));
  t.version_id = s.Text(5);
  t.seq = s.Int(6);
  CF_ASSIGN_OR_RETURN(t.state,
                      DecodeEnum(model::ParseTargetState(s.Text(7)), "deployment_targets.state"));
  t.reason = s.Text(8);
  CF_ASSIGN_OR_RETURN(t.paths, DecodeStrings(s.Text(9), "deployment_targets.paths"));
  t.delivered_at = DecodeTime(s.OptInt(10));
  t.installed_at = DecodeTime(s.OptInt(11));
  t.verified_at = DecodeTime(s.OptInt(12));
  t.created_at = DecodeTime(s.Int(13));
  t.updated_at = DecodeTime(s.Int(14));
  return t;
}

std::string Select(std::string_view cols, std::string_view rest) {
  return "SELECT " + std::string(cols) + " " + std::string(rest);
}

}  // namespace

// ---- deployments

Status SqlDeployments::Insert(const model::Deployment& d) {
  // An unknown certificate or account violates a foreign key and comes back as
  // FailedPrecondition (store.h).
  CF_ASSIGN_OR_RETURN(auto selector, EncodeTags(d.selector, "deployments.selector"));
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("INSERT INTO deployments (" + std::string(kDeploymentCols) +
                                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                     "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                                 "deployments"));
  return s.Bind(1, d.id)
      .Bind(2, d.account_id)
      .Bind(3, d.certificate_id)
      .Bind(4, d.target_account_id)
      .Bind(5, selector)
      .Bind(6, d.profile)
      .Bind(7, model::DeploymentStateName(d.state))
      .Bind(8, d.state_detail)
      .Bind(9, d.generation)
      .Bind(10, d.version_id)
      .Bind(11, d.key_blob_id)
      .Bind(12, d.secret_id)
      .Bind(13, d.secret_version)
      .Bind(14, d.job_id)
      .Bind(15, EncodeTime(d.deadline))
      .Bind(16, d.created_by)
      .Bind(17, EncodeTime(d.created_at))
      .Bind(18, EncodeTime(d.updated_at))
      .Run();
}

Result<model::Deployment> SqlDeployments::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare(Select(kDeploymentCols, "FROM deployments WHERE id = ?1"), "deployments"));
  s.Bind(1, id);
  return SingleRow<model::Deployment>(s, ReadDeployment, "deployment " + id + " not found");
}

Result<std::vector<model::Deployment>> SqlDeployments::List(const DeploymentFilter& f) {
  ListSql q(s_.dialect());
  q.After("", "id", 0, f.after_id);
  if (f.account_id) q.And("account_id = " + q.Param(*f.account_id));
  if (f.target_account_id) q.And("target_account_id = " + q.Param(*f.target_account_id));
  if (f.party_account_id) {
    const std::string p = q.Param(*f.party_account_id);
    q.And("(account_id = " + p + " OR target_account_id = " + p + ")");
  }
  if (f.certificate_id) q.And("certificate_id = " + q.Param(*f.certificate_id));
  if (f.state) q.And("state = " + q.Param(std::string(model::DeploymentStateName(*f.state))));
  const std::string sql = Select(kDeploymentCols, "FROM deployments") + q.Where() +
                          " ORDER BY id LIMIT " + q.Param(EncodeLimit(f.limit));
  CF_ASSIGN_OR_RETURN(auto s, q.Prepare(s_, sql, "deployments"));
  return CollectRows<model::Deployment>(s, ReadDeployment);
}

Status SqlDeployments::Update(const model::Deployment& d) {
  // The SET list is the whole of what may change (store.h): what is deployed where, and by
  // whom, is fixed at creation; a redeploy changes the generation and what belongs to it.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE deployments SET state = ?2, state_detail = ?3, "
                                         "generation = ?4, version_id = ?5, key_blob_id = ?6, "
                                         "secret_id = ?7, secret_version = ?8, job_id = ?9, "
                                         "deadline = ?10, updated_at = ?11 WHERE id = ?1",
                                         "deployments"));
  CF_TRY(s.Bind(1, d.id)
             .Bind(2, model::DeploymentStateName(d.state))
             .Bind(3, d.state_detail)
             .Bind(4, d.generation)
             .Bind(5, d.version_id)
             .Bind(6, d.key_blob_id)
             .Bind(7, d.secret_id)
             .Bind(8, d.secret_version)
             .Bind(9, d.job_id)
             .Bind(10, EncodeTime(d.deadline))
             .Bind(11, EncodeTime(d.updated_at))
             .Run());
  if (s_.db().Changes() == 0) return NotFound("deployment " + d.id + " not found");
  return Ok();
}

// ---- deployment targets

Status SqlDeploymentTargets::Insert(const model::DeploymentTarget& t) {
  // A second row for the same (deployment, agent) violates the UNIQUE constraint (Conflict);
  // an unknown deployment or agent violates a foreign key (FailedPrecondition).
  CF_ASSIGN_OR_RETURN(auto paths, EncodeStrings(t.paths, "deployment_targets.paths"));
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("INSERT INTO deployment_targets (" + std::string(kTargetCols) +
                                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                     "?11, ?12, ?13, ?14, ?15)",
                                 "deployment_targets"));
  return s.Bind(1, t.id)
      .Bind(2, t.deployment_id)
      .Bind(3, t.agent_id)
      .Bind(4, t.account_id)
      .Bind(5, t.generation)
      .Bind(6, t.version_id)
      .Bind(7, t.seq)
      .Bind(8, model::TargetStateName(t.state))
      .Bind(9, t.reason)
      .Bind(10, paths)
      .Bind(11, EncodeTime(t.delivered_at))
      .Bind(12, EncodeTime(t.installed_at))
      .Bind(13, EncodeTime(t.verified_at))
      .Bind(14, EncodeTime(t.created_at))
      .Bind(15, EncodeTime(t.updated_at))
      .Run();
}

Result<model::DeploymentTarget> SqlDeploymentTargets::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kTargetCols, "FROM deployment_targets WHERE id = ?1"),
                                 "deployment_targets"));
  s.Bind(1, id);
  return SingleRow<model::DeploymentTarget>(s, ReadTarget,
                                            "deployment target " + id + " not found");
}

Result<model::DeploymentTarget> SqlDeploymentTargets::GetByDeploymentAgent(
    const std::string& deployment_id, const std::string& agent_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kTargetCols,
                                                "FROM deployment_targets "
                                                "WHERE deployment_id = ?1 AND agent_id = ?2"),
                                         "deployment_targets"));
  s.Bind(1, deployment_id).Bind(2, agent_id);
  return SingleRow<model::DeploymentTarget>(
      s, ReadTarget,
      "deployment target for agent " + agent_id + " in deployment " + deployment_id + " not found");
}

Result<std::vector<model::DeploymentTarget>> SqlDeploymentTargets::ListByDeployment(
    const std::string& deployment_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kTargetCols,
                                                "FROM deployment_targets "
                                                "WHERE deployment_id = ?1 ORDER BY id"),
                                         "deployment_targets"));
  s.Bind(1, deployment_id);
  return CollectRows<model::DeploymentTarget>(s, ReadTarget);
}

Result<std::vector<model::DeploymentTarget>> SqlDeploymentTargets::ListByAgent(
    const std::string& agent_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kTargetCols,
                                                "FROM deployment_targets "
                                                "WHERE agent_id = ?1 ORDER BY id"),
                                         "deployment_targets"));
  s.Bind(1, agent_id);
  return CollectRows<model::DeploymentTarget>(s, ReadTarget);
}

Result<std::vector<model::DeploymentTarget>> SqlDeploymentTargets::ListPendingByAgent(
    const std::string& agent_id) {
  // An agent's long poll: a range scan of deployment_targets_by_agent (agent_id, state, seq).
  // seq is unique per agent when assigned through AgentRepo::NextSeq; id only makes the order
  // total if a caller reuses one.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kTargetCols,
                                                "FROM deployment_targets "
                                                "WHERE agent_id = ?1 AND state = 'pending' "
                                                "ORDER BY seq, id"),
                                         "deployment_targets"));
  s.Bind(1, agent_id);
  return CollectRows<model::DeploymentTarget>(s, ReadTarget);
}

Status SqlDeploymentTargets::Update(const model::DeploymentTarget& t) {
  // The SET list is the whole of what may change (store.h): a new generation updates the row
  // in place, so which deployment, agent and account it belongs to never changes.
  CF_ASSIGN_OR_RETURN(auto paths, EncodeStrings(t.paths, "deployment_targets.paths"));
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE deployment_targets SET generation = ?2, "
                                         "version_id = ?3, seq = ?4, state = ?5, reason = ?6, "
                                         "paths = ?7, delivered_at = ?8, installed_at = ?9, "
                                         "verified_at = ?10, updated_at = ?11 WHERE id = ?1",
                                         "deployment_targets"));
  CF_TRY(s.Bind(1, t.id)
             .Bind(2, t.generation)
             .Bind(3, t.version_id)
             .Bind(4, t.seq)
             .Bind(5, model::TargetStateName(t.state))
             .Bind(6, t.reason)
             .Bind(7, paths)
             .Bind(8, EncodeTime(t.delivered_at))
             .Bind(9, EncodeTime(t.installed_at))
             .Bind(10, EncodeTime(t.verified_at))
             .Bind(11, EncodeTime(t.updated_at))
             .Run());
  if (s_.db().Changes() == 0) return NotFound("deployment target " + t.id + " not found");
  return Ok();
}

}  // namespace certfleet::store::sql
