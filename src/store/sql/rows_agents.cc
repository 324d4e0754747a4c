// Agents and enrollment tokens (migration 4; docs/agents.md).
#include "store/sql/codec.h"
#include "store/sql/list_sql.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

constexpr std::string_view kAgentCols =
    "id, account_id, principal_id, hostname, tags, cert_serial_hex, prev_cert_serial_hex, "
    "cert_not_after, enrollment_token_id, last_seq, status, last_seen_at, created_at, updated_at";

Result<model::Agent> ReadAgent(const Stmt& s) {
  model::Agent a;
  a.id = s.Text(0);
  a.account_id = s.Text(1);
  a.principal_id = s.Text(2);
  a.hostname = s.Text(3);
  CF_ASSIGN_OR_RETURN(a.tags, DecodeTags(s.Text(4), "agents.tags"));
  a.cert_serial_hex = s.Text(5);
  a.prev_cert_serial_hex = s.Text(6);
  a.cert_not_after = DecodeTime(s.Int(7));
  a.enrollment_token_id = s.Text(8);
  a.last_seq = s.Int(9);
  CF_ASSIGN_OR_RETURN(a.status, DecodeEnum(model::ParseAgentStatus(s.Text(10)), "agents.status"));
  a.last_seen_at = DecodeTime(s.OptInt(11));
  a.created_at = DecodeTime(s.Int(12));
  a.updated_at = DecodeTime(s.Int(13));
  return a;
}

constexpr std::string_view kEnrollmentCols =
    "id, account_id, hash_hex, tags, created_by, created_at, expires_at, used_at, "
    "used_by_agent_id, revoked_at, used_key_sha256";

Result<model::EnrollmentToken> ReadEnrollmentToken(const Stmt& s) {
  model::EnrollmentToken t;
  t.id = s.Text(0);
  t.account_id = s.Text(1);
  t.hash_hex = s.Text(2);
  CF_ASSIGN_OR_RETURN(t.tags, DecodeTags(s.Text(3), "enrollment_tokens.tags"));
  t.created_by = s.Text(4);
  t.created_at = DecodeTime(s.Int(5));
  t.expires_at = DecodeTime(s.Int(6));
  t.used_at = DecodeTime(s.OptInt(7));
  t.used_by_agent_id = s.Text(8);
  t.revoked_at = DecodeTime(s.OptInt(9));
  t.used_key_sha256 = s.Text(10);
  return t;
}

constexpr std::string_view kAgentCertCols = "serial_hex, agent_id, not_after, created_at";

Result<model::AgentCertificate> ReadAgentCertificate(const Stmt& s) {
  model::AgentCertificate c;
  c.serial_hex = s.Text(0);
  c.agent_id = s.Text(1);
  c.not_after = DecodeTime(s.Int(2));
  c.created_at = DecodeTime(s.Int(3));
  return c;
}

std::string Select(std::string_view cols, std::string_view rest) {
  return "SELECT " + std::string(cols) + " " + std::string(rest);
}

}  // namespace

// ---- agents

Status SqlAgents::Insert(const model::Agent& a) {
  // A serial already held by another agent violates agents.cert_serial_hex UNIQUE (Conflict);
  // an unknown account or principal violates a foreign key (FailedPrecondition).
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(a.tags, "agents.tags"));
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO agents (" + std::string(kAgentCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                             "?11, ?12, ?13, ?14)",
                                         "agents"));
  return s.Bind(1, a.id)
      .Bind(2, a.account_id)
      .Bind(3, a.principal_id)
      .Bind(4, a.hostname)
      .Bind(5, tags)
      .Bind(6, a.cert_serial_hex)
      .Bind(7, a.prev_cert_serial_hex)
      .Bind(8, EncodeTime(a.cert_not_after))
      .Bind(9, a.enrollment_token_id)
      .Bind(10, a.last_seq)
      .Bind(11, model::AgentStatusName(a.status))
      .Bind(12, EncodeTime(a.last_seen_at))
      .Bind(13, EncodeTime(a.created_at))
      .Bind(14, EncodeTime(a.updated_at))
      .Run();
}

Result<model::Agent> SqlAgents::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kAgentCols, "FROM agents WHERE id = ?1"), "agents"));
  s.Bind(1, id);
  return SingleRow<model::Agent>(s, ReadAgent, "agent " + id + " not found");
}

Result<model::Agent> SqlAgents::GetByCertSerial(const std::string& serial_hex) {
  // '' is the previous serial of every agent that never renewed: it identifies no one.
  if (serial_hex.empty()) return NotFound("agent with an empty certificate serial not found");
  // The OR runs as a union of the UNIQUE index on cert_serial_hex and agents_by_prev_serial.
  // Serials are unique per CA (BR 7.1), so at most one agent matches; should a current serial
  // ever equal another agent's previous one, the current holder wins.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kAgentCols,
                                                "FROM agents WHERE cert_serial_hex = ?1 OR "
                                                "prev_cert_serial_hex = ?1 "
                                                "ORDER BY cert_serial_hex = ?1 DESC, id LIMIT 1"),
                                         "agents"));
  s.Bind(1, serial_hex);
  return SingleRow<model::Agent>(s, ReadAgent, "agent with serial " + serial_hex + " not found");
}

Result<std::vector<model::Agent>> SqlAgents::ListByAccount(const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(
      auto s,
      s_.Prepare(Select(kAgentCols, "FROM agents WHERE account_id = ?1 ORDER BY id"), "agents"));
  s.Bind(1, account_id);
  return CollectRows<model::Agent>(s, ReadAgent);
}

Result<std::vector<model::Agent>> SqlAgents::List() {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kAgentCols, "FROM agents ORDER BY id"), "agents"));
  return CollectRows<model::Agent>(s, ReadAgent);
}

Result<std::vector<model::Agent>> SqlAgents::List(const AgentFilter& f) {
  ListSql q(s_.dialect());
  q.After("", "id", 0, f.after_id);
  if (f.account_id) q.And("account_id = " + q.Param(*f.account_id));
  if (f.status) q.And("status = " + q.Param(std::string(model::AgentStatusName(*f.status))));
  CF_TRY(q.Tags("tags", f.tags));
  CF_TRY(q.Contains("hostname", f.hostname_contains, "hostname"));
  if (f.seen_since) q.And("last_seen_at >= " + q.Param(EncodeTime(*f.seen_since)));
  if (f.unseen_since) {
    q.And("(last_seen_at IS NULL OR last_seen_at < " + q.Param(EncodeTime(*f.unseen_since)) + ")");
  }
  const std::string sql = Select(kAgentCols, "FROM agents") + q.Where() + " ORDER BY id LIMIT " +
                          q.Param(EncodeLimit(f.limit));
  CF_ASSIGN_OR_RETURN(auto s, q.Prepare(s_, sql, "agents"));
  return CollectRows<model::Agent>(s, ReadAgent);
}

Status SqlAgents::Update(const model::Agent& a) {
  // The SET list is the whole of what may change (store.h): an agent never changes account,
  // principal or enrollment token.
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(a.tags, "agents.tags"));
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE agents SET hostname = ?2, tags = ?3, "
                                         "cert_serial_hex = ?4, prev_cert_serial_hex = ?5, "
                                         "cert_not_after = ?6, last_seq = ?7, status = ?8, "
                                         "last_seen_at = ?9, updated_at = ?10 WHERE id = ?1",
                                         "agents"));
  CF_TRY(s.Bind(1, a.id)
             .Bind(2, a.hostname)
             .Bind(3, tags)
             .Bind(4, a.cert_serial_hex)
             .Bind(5, a.prev_cert_serial_hex)
             .Bind(6, EncodeTime(a.cert_not_after))
             .Bind(7, a.last_seq)
             .Bind(8, model::AgentStatusName(a.status))
             .Bind(9, EncodeTime(a.last_seen_at))
             .Bind(10, EncodeTime(a.updated_at))
             .Run());
  if (s_.db().Changes() == 0) return NotFound("agent " + a.id + " not found");
  return Ok();
}

Result<int64_t> SqlAgents::NextSeq(const std::string& id) {
  // One statement reads and increments, so no caller can see a value twice. SQLite makes every
  // change during the first step of an UPDATE ... RETURNING; the rest of the steps only drain
  // the returned rows. (PostgreSQL has the same RETURNING clause.)
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE agents SET last_seq = last_seq + 1 "
                                         "WHERE id = ?1 RETURNING last_seq",
                                         "agents"));
  s.Bind(1, id);
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return NotFound("agent " + id + " not found");
  const int64_t seq = s.Int(0);
  CF_TRY(s.Run());
  return seq;
}

// ---- enrollment tokens

Status SqlEnrollmentTokens::Insert(const model::EnrollmentToken& t) {
  CF_ASSIGN_OR_RETURN(auto tags, EncodeTags(t.tags, "enrollment_tokens.tags"));
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("INSERT INTO enrollment_tokens (" + std::string(kEnrollmentCols) +
                                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                                 "enrollment_tokens"));
  return s.Bind(1, t.id)
      .Bind(2, t.account_id)
      .Bind(3, t.hash_hex)
      .Bind(4, tags)
      .Bind(5, t.created_by)
      .Bind(6, EncodeTime(t.created_at))
      .Bind(7, EncodeTime(t.expires_at))
      .Bind(8, EncodeTime(t.used_at))
      .Bind(9, t.used_by_agent_id)
      .Bind(10, EncodeTime(t.revoked_at))
      .Bind(11, t.used_key_sha256)
      .Run();
}

Result<model::EnrollmentToken> SqlEnrollmentTokens::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select(kEnrollmentCols, "FROM enrollment_tokens WHERE id = ?1"),
                                 "enrollment_tokens"));
  s.Bind(1, id);
  return SingleRow<model::EnrollmentToken>(s, ReadEnrollmentToken,
                                           "enrollment token " + id + " not found");
}

Result<model::EnrollmentToken> SqlEnrollmentTokens::GetByHash(const std::string& hash_hex) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare(Select(kEnrollmentCols, "FROM enrollment_tokens WHERE hash_hex = ?1"),
                         "enrollment_tokens"));
  s.Bind(1, hash_hex);
  // The hash identifies a credential: do not echo it.
  return SingleRow<model::EnrollmentToken>(s, ReadEnrollmentToken, "enrollment token not found");
}

Result<std::vector<model::EnrollmentToken>> SqlEnrollmentTokens::ListByAccount(
    const std::string& account_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kEnrollmentCols,
                                                "FROM enrollment_tokens WHERE account_id = ?1 "
                                                "ORDER BY id"),
                                         "enrollment_tokens"));
  s.Bind(1, account_id);
  return CollectRows<model::EnrollmentToken>(s, ReadEnrollmentToken);
}

Status SqlEnrollmentTokens::MarkUsed(const std::string& id, const std::string& agent_id,
                                     TimePoint at) {
  // The condition and the write are one statement, so of two enrollments racing with the same
  // token exactly one changes the row (on PostgreSQL too, where the second UPDATE re-checks
  // used_at after the first commits). Zero changes means absent or used already; a second,
  // read-only statement tells which.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE enrollment_tokens SET used_at = ?2, "
                                         "used_by_agent_id = ?3 "
                                         "WHERE id = ?1 AND used_at IS NULL",
                                         "enrollment_tokens"));
  CF_TRY(s.Bind(1, id).Bind(2, EncodeTime(at)).Bind(3, agent_id).Run());
  if (s_.db().Changes() == 1) return Ok();
  CF_ASSIGN_OR_RETURN(auto exists, s_.Prepare("SELECT 1 FROM enrollment_tokens WHERE id = ?1",
                                              "enrollment_tokens"));
  exists.Bind(1, id);
  CF_ASSIGN_OR_RETURN(bool found, exists.Step());
  if (!found) return NotFound("enrollment token " + id + " not found");
  return Conflict("enrollment token " + id + " already used");
}

Status SqlEnrollmentTokens::SetUsedKey(const std::string& id, const std::string& key_sha256) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE enrollment_tokens SET used_key_sha256 = ?2 "
                                         "WHERE id = ?1",
                                         "enrollment_tokens"));
  CF_TRY(s.Bind(1, id).Bind(2, key_sha256).Run());
  if (s_.db().Changes() == 0) return NotFound("enrollment token " + id + " not found");
  return Ok();
}

Status SqlEnrollmentTokens::Revoke(const std::string& id, TimePoint at) {
  // COALESCE keeps the first revocation time; Changes() counts matched rows, so a second
  // revocation is not an error.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE enrollment_tokens SET revoked_at = "
                                         "COALESCE(revoked_at, ?2) WHERE id = ?1",
                                         "enrollment_tokens"));
  CF_TRY(s.Bind(1, id).Bind(2, EncodeTime(at)).Run());
  if (s_.db().Changes() == 0) return NotFound("enrollment token " + id + " not found");
  return Ok();
}

// ---- agent certificates

Status SqlAgentCertificates::Insert(const model::AgentCertificate& c) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("INSERT INTO agent_certificates (" + std::string(kAgentCertCols) +
                                     ") VALUES (?1, ?2, ?3, ?4)",
                                 "agent_certificates"));
  return s.Bind(1, c.serial_hex)
      .Bind(2, c.agent_id)
      .Bind(3, EncodeTime(c.not_after))
      .Bind(4, EncodeTime(c.created_at))
      .Run();
}

Result<model::AgentCertificate> SqlAgentCertificates::Get(const std::string& serial_hex) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare(Select(kAgentCertCols, "FROM agent_certificates WHERE serial_hex = ?1"),
                         "agent_certificates"));
  s.Bind(1, serial_hex);
  return SingleRow<model::AgentCertificate>(s, ReadAgentCertificate,
                                            "agent certificate " + serial_hex + " not found");
}

Result<std::vector<model::AgentCertificate>> SqlAgentCertificates::ListByAgent(
    const std::string& agent_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select(kAgentCertCols,
                                                "FROM agent_certificates WHERE agent_id = ?1 "
                                                "ORDER BY not_after, serial_hex"),
                                         "agent_certificates"));
  s.Bind(1, agent_id);
  return CollectRows<model::AgentCertificate>(s, ReadAgentCertificate);
}

}  // namespace certfleet::store::sql
