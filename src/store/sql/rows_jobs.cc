// Durable jobs (migration 3).
#include "store/sql/codec.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

constexpr std::string_view kJobCols =
    "id, account_id, type, step, state, attempts, max_attempts, input_json, output_json, "
    "last_error, idempotency_key, lease_owner, lease_expires_at, run_after, deadline, "
    "created_at, updated_at";

Result<model::Job> ReadJob(const Stmt& s) {
  model::Job j;
  j.id = s.Text(0);
  j.account_id = s.Text(1);
  j.type = s.Text(2);
  j.step = s.Text(3);
  CF_ASSIGN_OR_RETURN(j.state, DecodeEnum(model::ParseJobState(s.Text(4)), "jobs.state"));
  j.attempts = static_cast<int>(s.Int(5));
  j.max_attempts = static_cast<int>(s.Int(6));
  j.input_json = s.Text(7);
  j.output_json = s.Text(8);
  j.last_error = s.Text(9);
  j.idempotency_key = s.Text(10);
  j.lease_owner = s.Text(11);
  j.lease_expires_at = DecodeTime(s.OptInt(12));
  j.run_after = DecodeTime(s.Int(13));
  j.deadline = DecodeTime(s.OptInt(14));
  j.created_at = DecodeTime(s.Int(15));
  j.updated_at = DecodeTime(s.Int(16));
  return j;
}

std::string Select(std::string_view rest) {
  return "SELECT " + std::string(kJobCols) + " " + std::string(rest);
}

}  // namespace

Status SqlJobs::Insert(const model::Job& j) {
  // A reused (type, idempotency_key) violates the partial unique index jobs_idempotency and
  // comes back as Conflict, like a reused id.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO jobs (" + std::string(kJobCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                                             "?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                                         "jobs"));
  return s.Bind(1, j.id)
      .Bind(2, j.account_id)
      .Bind(3, j.type)
      .Bind(4, j.step)
      .Bind(5, model::JobStateName(j.state))
      .Bind(6, j.attempts)
      .Bind(7, j.max_attempts)
      .Bind(8, j.input_json)
      .Bind(9, j.output_json)
      .Bind(10, j.last_error)
      .Bind(11, j.idempotency_key)
      .Bind(12, j.lease_owner)
      .Bind(13, EncodeTime(j.lease_expires_at))
      .Bind(14, EncodeTime(j.run_after))
      .Bind(15, EncodeTime(j.deadline))
      .Bind(16, EncodeTime(j.created_at))
      .Bind(17, EncodeTime(j.updated_at))
      .Run();
}

Result<model::Job> SqlJobs::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(Select("FROM jobs WHERE id = ?1"), "jobs"));
  s.Bind(1, id);
  return SingleRow<model::Job>(s, ReadJob, "job " + id + " not found");
}

Result<model::Job> SqlJobs::GetByIdempotencyKey(const std::string& type, const std::string& key) {
  // The empty key means "none" and never matches (it is outside the partial index, and many
  // jobs share it).
  if (key.empty()) return NotFound("job with an empty idempotency key not found");
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare(Select("FROM jobs WHERE type = ?1 AND idempotency_key = ?2 AND "
                                        "idempotency_key != ''"),
                                 "jobs"));
  s.Bind(1, type).Bind(2, key);
  return SingleRow<model::Job>(s, ReadJob, "job of type " + type + " with that key not found");
}

Status SqlJobs::Update(const model::Job& j) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE jobs SET step = ?2, state = ?3, attempts = ?4, "
                                         "max_attempts = ?5, input_json = ?6, output_json = ?7, "
                                         "last_error = ?8, lease_owner = ?9, "
                                         "lease_expires_at = ?10, run_after = ?11, "
                                         "deadline = ?12, updated_at = ?13 WHERE id = ?1",
                                         "jobs"));
  CF_TRY(s.Bind(1, j.id)
             .Bind(2, j.step)
             .Bind(3, model::JobStateName(j.state))
             .Bind(4, j.attempts)
             .Bind(5, j.max_attempts)
             .Bind(6, j.input_json)
             .Bind(7, j.output_json)
             .Bind(8, j.last_error)
             .Bind(9, j.lease_owner)
             .Bind(10, EncodeTime(j.lease_expires_at))
             .Bind(11, EncodeTime(j.run_after))
             .Bind(12, EncodeTime(j.deadline))
             .Bind(13, EncodeTime(j.updated_at))
             .Run());
  if (s_.db().Changes() == 0) return NotFound("job " + j.id + " not found");
  return Ok();
}

Result<std::vector<model::Job>> SqlJobs::Claim(const std::string& owner, TimePoint now,
                                               Seconds lease, const std::vector<std::string>& types,
                                               size_t limit) {
  // Exclusivity comes from the single writer (SQLite: every Tx is BEGIN IMMEDIATE; PostgreSQL:
  // every Tx takes the writer lock, store/postgres/pg_store.h), so no other transaction can
  // claim between this SELECT and the UPDATEs; on PostgreSQL the SELECT also locks its rows
  // FOR UPDATE SKIP LOCKED. An expired lease (< now, strictly) means the worker holding
  // it died or stalled; its job is taken over and that counts as another attempt.
  std::string sql =
      "SELECT id FROM jobs WHERE ((state = 'pending' AND run_after <= ?1) OR "
      "(state = 'running' AND lease_expires_at < ?1))";
  if (!types.empty()) {
    sql += " AND type IN (";
    for (size_t i = 0; i < types.size(); ++i) {
      if (i > 0) sql += ", ";
      sql += "?" + std::to_string(i + 3);
    }
    sql += ")";
  }
  sql += " ORDER BY run_after, id LIMIT ?2";
  // Rows another transaction is claiming are passed over rather than waited for.
  if (s_.dialect() == Dialect::kPostgres) sql += " FOR UPDATE SKIP LOCKED";
  const int64_t now_s = EncodeTime(now);
  std::vector<std::string> ids;
  {
    CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(sql, "jobs"));
    s.Bind(1, now_s).Bind(2, EncodeLimit(limit));
    for (size_t i = 0; i < types.size(); ++i) s.Bind(static_cast<int>(i + 3), types[i]);
    while (true) {
      CF_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      ids.push_back(s.Text(0));
    }
  }
  std::vector<model::Job> out;
  CF_TRY(s_.Atomically([&]() -> Status {
    for (const auto& id : ids) {
      CF_ASSIGN_OR_RETURN(auto u, s_.Prepare("UPDATE jobs SET state = 'running', "
                                             "lease_owner = ?2, lease_expires_at = ?3, "
                                             "attempts = attempts + 1, updated_at = ?4 "
                                             "WHERE id = ?1",
                                             "jobs"));
      CF_TRY(u.Bind(1, id).Bind(2, owner).Bind(3, EncodeTime(now + lease)).Bind(4, now_s).Run());
      CF_ASSIGN_OR_RETURN(auto j, Get(id));
      out.push_back(std::move(j));
    }
    return Ok();
  }));
  return out;
}

Result<bool> SqlJobs::ExtendLease(const std::string& id, const std::string& owner,
                                  TimePoint expected, TimePoint until) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("UPDATE jobs SET lease_expires_at = ?4 WHERE id = ?1 "
                                         "AND lease_owner = ?2 AND state = 'running' "
                                         "AND lease_expires_at = ?3",
                                         "jobs"));
  CF_TRY(
      s.Bind(1, id).Bind(2, owner).Bind(3, EncodeTime(expected)).Bind(4, EncodeTime(until)).Run());
  return s_.db().Changes() == 1;
}

Result<std::vector<model::Job>> SqlJobs::List(const JobFilter& f) {
  // As in certificates: only the filters in use appear in the SQL, so each shape is planned
  // for its own index and cached once per connection.
  std::string sql = Select("FROM jobs WHERE 1 = 1");
  if (f.account_id) sql += " AND account_id = ?1";
  if (f.state) sql += " AND state = ?2";
  if (f.type) sql += " AND type = ?3";
  sql += " ORDER BY id LIMIT ?4";
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(sql, "jobs"));
  if (f.account_id) s.Bind(1, *f.account_id);
  if (f.state) s.Bind(2, model::JobStateName(*f.state));
  if (f.type) s.Bind(3, *f.type);
  s.Bind(4, EncodeLimit(f.limit));
  return CollectRows<model::Job>(s, ReadJob);
}

}  // namespace certfleet::store::sql
