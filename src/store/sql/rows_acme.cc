// ACME issuers, solvers and orders (issue #6, migration 8); http-01 challenges handed to agents
// (migration 9).
#include "store/sql/codec.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

constexpr std::string_view kConfigCols =
    "id, account_id, kind, name, type, config_json, COALESCE(secret_blob_id, ''), "
    "COALESCE(secret2_blob_id, ''), created_by, created_at, updated_at";

Result<AcmeConfig> ReadConfig(const Stmt& s) {
  return AcmeConfig{.id = s.Text(0),
                    .account_id = s.Text(1),
                    .kind = s.Text(2),
                    .name = s.Text(3),
                    .type = s.Text(4),
                    .config_json = s.Text(5),
                    .secret_blob_id = s.Text(6),
                    .secret2_blob_id = s.Text(7),
                    .created_by = s.Text(8),
                    .created_at = DecodeTime(s.Int(9)),
                    .updated_at = DecodeTime(s.Int(10))};
}

constexpr std::string_view kChallengeCols =
    "agent_id, token, account_id, key_authorization, state, reason, created_at, updated_at, "
    "identifier";

Result<AgentChallenge> ReadChallenge(const Stmt& s) {
  return AgentChallenge{.agent_id = s.Text(0),
                        .token = s.Text(1),
                        .account_id = s.Text(2),
                        .key_authorization = s.Text(3),
                        .state = s.Text(4),
                        .reason = s.Text(5),
                        .created_at = DecodeTime(s.Int(6)),
                        .updated_at = DecodeTime(s.Int(7)),
                        .identifier = s.Text(8)};
}

}  // namespace

Status SqlAcmeConfigs::Insert(const AcmeConfig& c) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("INSERT INTO acme_configs (id, account_id, kind, name, type, config_json, "
                         "secret_blob_id, secret2_blob_id, created_by, created_at, updated_at) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULLIF(?7, ''), NULLIF(?8, ''), ?9, "
                         "?10, ?11)",
                         "acme_configs"));
  return s.Bind(1, c.id)
      .Bind(2, c.account_id)
      .Bind(3, c.kind)
      .Bind(4, c.name)
      .Bind(5, c.type)
      .Bind(6, c.config_json)
      .Bind(7, c.secret_blob_id)
      .Bind(8, c.secret2_blob_id)
      .Bind(9, c.created_by)
      .Bind(10, EncodeTime(c.created_at))
      .Bind(11, EncodeTime(c.updated_at))
      .Run();
}

Result<AcmeConfig> SqlAcmeConfigs::GetByName(const std::string& account_id, const std::string& kind,
                                             const std::string& name) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT " + std::string(kConfigCols) +
                                             " FROM acme_configs WHERE account_id = ?1 AND kind "
                                             "= ?2 AND name = ?3",
                                         "acme_configs"));
  s.Bind(1, account_id).Bind(2, kind).Bind(3, name);
  return SingleRow<AcmeConfig>(s, ReadConfig, kind + " " + name + " not found");
}

Result<std::vector<AcmeConfig>> SqlAcmeConfigs::List(const std::string& account_id,
                                                     const std::string& kind) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT " + std::string(kConfigCols) +
                                             " FROM acme_configs WHERE account_id = ?1 AND kind "
                                             "= ?2 ORDER BY name",
                                         "acme_configs"));
  s.Bind(1, account_id).Bind(2, kind);
  return CollectRows<AcmeConfig>(s, ReadConfig);
}

Status SqlAcmeConfigs::UpdateConfig(const std::string& id, const std::string& config_json,
                                    TimePoint updated_at) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE acme_configs SET config_json = ?2, updated_at = "
                                         "?3 WHERE id = ?1",
                                         "acme_configs"));
  CF_TRY(s.Bind(1, id).Bind(2, config_json).Bind(3, EncodeTime(updated_at)).Run());
  if (s_.db().Changes() == 0) return NotFound("acme configuration " + id + " not found");
  return Ok();
}

Result<std::optional<AcmeOrder>> SqlAcmeOrders::Get(const std::string& order_key) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT certificate_id, order_url, ari_start, ari_end, "
                                         "updated_at FROM acme_orders WHERE order_key = ?1",
                                         "acme_orders"));
  s.Bind(1, order_key);
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<AcmeOrder>();
  return std::optional<AcmeOrder>(AcmeOrder{.order_key = order_key,
                                            .certificate_id = s.Text(0),
                                            .order_url = s.Text(1),
                                            .ari_start = DecodeTime(s.OptInt(2)),
                                            .ari_end = DecodeTime(s.OptInt(3)),
                                            .updated_at = DecodeTime(s.Int(4))});
}

Status SqlAcmeOrders::Put(const AcmeOrder& o) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("INSERT INTO acme_orders (order_key, certificate_id, order_url, "
                         "ari_start, ari_end, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON "
                         "CONFLICT (order_key) DO UPDATE SET order_url = excluded.order_url, "
                         "ari_start = excluded.ari_start, ari_end = excluded.ari_end, "
                         "updated_at = excluded.updated_at",
                         "acme_orders"));
  return s.Bind(1, o.order_key)
      .Bind(2, o.certificate_id)
      .Bind(3, o.order_url)
      .Bind(4, EncodeTime(o.ari_start))
      .Bind(5, EncodeTime(o.ari_end))
      .Bind(6, EncodeTime(o.updated_at))
      .Run();
}

Result<std::optional<AgentChallenge>> SqlAgentChallenges::Get(const std::string& agent_id,
                                                              const std::string& token) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT " + std::string(kChallengeCols) +
                                             " FROM agent_challenges WHERE agent_id = ?1 AND "
                                             "token = ?2",
                                         "agent_challenges"));
  s.Bind(1, agent_id).Bind(2, token);
  CF_ASSIGN_OR_RETURN(auto rows, CollectRows<AgentChallenge>(s, ReadChallenge));
  if (rows.empty()) return std::optional<AgentChallenge>();
  return std::optional<AgentChallenge>(std::move(rows.front()));
}

Status SqlAgentChallenges::Put(const AgentChallenge& c) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("INSERT INTO agent_challenges (" + std::string(kChallengeCols) +
                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (agent_id, "
                             "token) DO UPDATE SET account_id = excluded.account_id, "
                             "key_authorization = excluded.key_authorization, state = "
                             "excluded.state, reason = excluded.reason, updated_at = "
                             "excluded.updated_at, identifier = excluded.identifier",
                         "agent_challenges"));
  return s.Bind(1, c.agent_id)
      .Bind(2, c.token)
      .Bind(3, c.account_id)
      .Bind(4, c.key_authorization)
      .Bind(5, c.state)
      .Bind(6, c.reason)
      .Bind(7, EncodeTime(c.created_at))
      .Bind(8, EncodeTime(c.updated_at))
      .Bind(9, c.identifier)
      .Run();
}

Result<std::vector<AgentChallenge>> SqlAgentChallenges::ListWork(const std::string& agent_id,
                                                                 size_t limit) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT " + std::string(kChallengeCols) +
                                             " FROM agent_challenges WHERE agent_id = ?1 AND "
                                             "state IN ('present', 'remove') ORDER BY "
                                             "updated_at, token LIMIT ?2",
                                         "agent_challenges"));
  s.Bind(1, agent_id).Bind(2, static_cast<int64_t>(limit));
  return CollectRows<AgentChallenge>(s, ReadChallenge);
}

Result<std::vector<AgentChallenge>> SqlAgentChallenges::ListByToken(const std::string& account_id,
                                                                    const std::string& token) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT " + std::string(kChallengeCols) +
                                             " FROM agent_challenges WHERE account_id = ?1 AND "
                                             "token = ?2 ORDER BY agent_id",
                                         "agent_challenges"));
  s.Bind(1, account_id).Bind(2, token);
  return CollectRows<AgentChallenge>(s, ReadChallenge);
}

Result<std::vector<AgentChallenge>> SqlAgentChallenges::ListStale(const std::string& account_id,
                                                                  TimePoint updated_before,
                                                                  size_t limit) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT " + std::string(kChallengeCols) +
                                             " FROM agent_challenges WHERE account_id = ?1 AND "
                                             "state <> 'remove' AND updated_at < ?2 ORDER BY "
                                             "updated_at, agent_id, token LIMIT ?3",
                                         "agent_challenges"));
  s.Bind(1, account_id).Bind(2, EncodeTime(updated_before)).Bind(3, static_cast<int64_t>(limit));
  return CollectRows<AgentChallenge>(s, ReadChallenge);
}

Status SqlAgentChallenges::Delete(const std::string& agent_id, const std::string& token) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("DELETE FROM agent_challenges WHERE agent_id = ?1 AND token = ?2",
                                 "agent_challenges"));
  return s.Bind(1, agent_id).Bind(2, token).Run();
}

}  // namespace certfleet::store::sql
