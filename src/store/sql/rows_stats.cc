// Notices and the read-only aggregates behind GET /metrics and the expiry watchers (issue #5,
// migration 7).
#include <algorithm>
#include <map>
#include <utility>

#include "store/sql/codec.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {

Result<std::optional<Notice>> SqlNotices::Get(const std::string& kind,
                                              const std::string& subject_id) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT marker, updated_at FROM notices WHERE kind = ?1 "
                                         "AND subject_id = ?2",
                                         "notices"));
  s.Bind(1, kind).Bind(2, subject_id);
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<Notice>();
  return std::optional<Notice>(Notice{.kind = kind,
                                      .subject_id = subject_id,
                                      .marker = s.Text(0),
                                      .updated_at = DecodeTime(s.Int(1))});
}

Status SqlNotices::Put(const Notice& n) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO notices (kind, subject_id, marker, "
                                         "updated_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (kind, "
                                         "subject_id) DO UPDATE SET marker = excluded.marker, "
                                         "updated_at = excluded.updated_at",
                                         "notices"));
  return s.Bind(1, n.kind)
      .Bind(2, n.subject_id)
      .Bind(3, n.marker)
      .Bind(4, EncodeTime(n.updated_at))
      .Run();
}

Result<std::vector<CertificateExpiry>> SqlStats::ListCertificateExpiry(
    std::optional<TimePoint> not_after_before, const std::string& after_id, size_t limit) {
  CF_ASSIGN_OR_RETURN(auto s,
                      s_.Prepare("SELECT c.id, c.account_id, c.name, v.id, c.tags, v.not_after "
                                 "FROM certificates c JOIN certificate_versions v ON v.id = "
                                 "c.current_version_id WHERE c.status = 'issued' AND c.id > ?1 "
                                 "AND (?2 IS NULL OR v.not_after < ?2) ORDER BY c.id LIMIT ?3",
                                 "certificates"));
  s.Bind(1, after_id);
  if (not_after_before) {
    s.Bind(2, EncodeTime(*not_after_before));
  } else {
    s.BindNull(2);
  }
  s.Bind(3, EncodeLimit(limit));
  return CollectRows<CertificateExpiry>(s, [](const Stmt& row) -> Result<CertificateExpiry> {
    CertificateExpiry e{.certificate_id = row.Text(0),
                        .account_id = row.Text(1),
                        .name = row.Text(2),
                        .version_id = row.Text(3),
                        .not_after = DecodeTime(row.Int(5))};
    CF_ASSIGN_OR_RETURN(e.tags, DecodeTags(row.Text(4), "certificates.tags"));
    return e;
  });
}

Result<std::vector<NamedCount>> SqlStats::Counts(const char* sql, const char* table) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(sql, table));
  return CollectRows<NamedCount>(s, [](const Stmt& row) -> Result<NamedCount> {
    return NamedCount{row.Text(0), row.Int(1)};
  });
}

Result<int64_t> SqlStats::Scalar(const char* sql, const char* table, std::optional<int64_t> arg) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(sql, table));
  if (arg) s.Bind(1, *arg);
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row || s.IsNull(0)) return int64_t{0};
  return s.Int(0);
}

Result<std::vector<NamedCount>> SqlStats::CountCertificatesByStatus() {
  return Counts("SELECT status, COUNT(*) FROM certificates GROUP BY status ORDER BY status",
                "certificates");
}

Result<std::vector<NamedCount>> SqlStats::CountDeploymentsByState() {
  return Counts("SELECT state, COUNT(*) FROM deployments GROUP BY state ORDER BY state",
                "deployments");
}

Result<std::vector<NamedCount>> SqlStats::CountTargetsByState() {
  return Counts("SELECT state, COUNT(*) FROM deployment_targets GROUP BY state ORDER BY state",
                "deployment_targets");
}

Result<std::vector<NamedCount>> SqlStats::CountDeliveriesByStatus() {
  return Counts("SELECT status, COUNT(*) FROM webhook_deliveries GROUP BY status ORDER BY status",
                "webhook_deliveries");
}

Result<std::vector<NamedCount>> SqlStats::CountEventsByType() {
  return Counts("SELECT type, COUNT(*) FROM events GROUP BY type ORDER BY type", "events");
}

Result<int64_t> SqlStats::CountFailedDeliveryAttempts() {
  // `attempt` counts attempts made; a delivered row's last attempt succeeded.
  return Scalar(
      "SELECT SUM(CASE WHEN status = 'delivered' THEN attempt - 1 ELSE attempt END) "
      "FROM webhook_deliveries",
      "webhook_deliveries", std::nullopt);
}

Result<JobQueueStats> SqlStats::JobQueue(TimePoint now) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("SELECT "
                         "COALESCE(SUM(CASE WHEN state = 'pending' AND run_after <= ?1 "
                         "THEN 1 ELSE 0 END), 0), "
                         "COALESCE(SUM(CASE WHEN state = 'pending' AND run_after > ?1 "
                         "THEN 1 ELSE 0 END), 0), "
                         "COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0), "
                         "MIN(CASE WHEN state = 'pending' AND run_after <= ?1 THEN run_after END) "
                         "FROM jobs WHERE state IN ('pending', 'running')",
                         "jobs"));
  s.Bind(1, EncodeTime(now));
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  JobQueueStats q;
  if (!row) return q;
  q.due = s.Int(0);
  q.waiting = s.Int(1);
  q.running = s.Int(2);
  q.oldest_due = DecodeTime(s.OptInt(3));
  return q;
}

Result<int64_t> SqlStats::CountAgentsSeenSince(TimePoint since) {
  return Scalar("SELECT COUNT(*) FROM agents WHERE status = 'active' AND last_seen_at >= ?1",
                "agents", EncodeTime(since));
}

Result<int64_t> SqlStats::CountAgents() {
  return Scalar("SELECT COUNT(*) FROM agents", "agents", std::nullopt);
}

}  // namespace certfleet::store::sql

namespace certfleet::store::sql {
namespace {

// `sql` with `clause` (" AND c.account_id = ?N" or the like) inserted where "{account}" stands,
// or nothing for every account. Two fixed statements per query rather than "?N IS NULL OR ...",
// so that a tenant's counts can use the account indexes.
std::string ForAccount(std::string_view sql, const std::optional<std::string>& account_id,
                       std::string_view clause) {
  std::string out(sql);
  const size_t at = out.find("{account}");
  out.replace(at, std::string_view("{account}").size(), account_id ? clause : "");
  return out;
}

}  // namespace

Result<DashboardCounts> SqlStats::CountDashboard(const DashboardQuery& q) {
  DashboardCounts out;
  const auto& acc = q.account_id;
  const bool sqlite = s_.dialect() == Dialect::kSqlite;
  {
    // One scan of the covering index certificates_expiry (account_id, status, issuer,
    // current_not_after), grouped in the index's own order so that no sort is needed: per group
    // the count, the expiry buckets and the weeks, as sums. Buckets are half-open: [now,
    // now+7d) is lt_7d, [now+7d, now+30d) lt_30d, and so on; a certificate without a version
    // (current_not_after NULL) is in no bucket and no week. SQLite: INDEXED BY, or the planner may
    // read the table's rows (PEM-sized text and all); PostgreSQL has no such hint.
    constexpr int64_t kDay = 86400;
    constexpr const char* kBuckets[] = {"expired", "lt_7d", "lt_30d", "lt_90d", "later"};
    const int weeks = std::max(q.weeks, 0);
    auto count_in = [](const std::string& lo, const std::string& hi) {
      std::string cond;
      if (!lo.empty()) cond = "current_not_after >= " + lo;
      if (!hi.empty()) cond += (cond.empty() ? "" : " AND ") + ("current_not_after < " + hi);
      return ", SUM(CASE WHEN " + cond + " THEN 1 ELSE 0 END)";
    };
    // ?1..?4: now, +7d, +30d, +90d; ?5..?(5+weeks): the weeks' boundaries; then the account.
    std::string sql = "SELECT status, issuer, COUNT(*)";
    sql += count_in("", "?1") + count_in("?1", "?2") + count_in("?2", "?3") + count_in("?3", "?4") +
           count_in("?4", "");
    for (int w = 0; w < weeks; ++w) {
      sql += count_in("?" + std::to_string(5 + w), "?" + std::to_string(6 + w));
    }
    sql += std::string(" FROM certificates c ") +
           (sqlite ? "INDEXED BY certificates_expiry " : "") +
           "WHERE 1 = 1{account} GROUP BY account_id, status, issuer";
    const int account_param = 6 + weeks;
    CF_ASSIGN_OR_RETURN(
        auto s,
        s_.Prepare(ForAccount(sql, acc, " AND c.account_id = ?" + std::to_string(account_param)),
                   "certificates"));
    const int64_t now = EncodeTime(q.now);
    const int64_t weeks_start = EncodeTime(q.weeks_start);
    s.Bind(1, now).Bind(2, now + 7 * kDay).Bind(3, now + 30 * kDay).Bind(4, now + 90 * kDay);
    for (int w = 0; w <= weeks; ++w) s.Bind(5 + w, weeks_start + int64_t{w} * 7 * kDay);
    if (acc) s.Bind(account_param, *acc);
    // Accounts fold together here: one row per (status, issuer), per bucket, per (week, issuer).
    std::map<std::pair<std::string, std::string>, int64_t> by_status_issuer;
    std::map<std::string, int64_t> buckets;
    std::map<std::pair<int, std::string>, int64_t> by_week;
    while (true) {
      CF_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      const std::string status = s.Text(0), issuer = s.Text(1);
      by_status_issuer[{status, issuer}] += s.Int(2);
      if (status == "revoked") continue;  // revoked certificates expire nowhere
      for (int b = 0; b < 5; ++b) buckets[kBuckets[b]] += s.Int(3 + b);
      for (int w = 0; w < weeks; ++w) {
        if (const int64_t n = s.Int(8 + w); n > 0) by_week[{w, issuer}] += n;
      }
    }
    for (auto& [k, n] : by_status_issuer) out.certificates.push_back({k.first, k.second, n});
    for (auto& [name, n] : buckets) {
      if (n > 0) out.by_expiry.push_back({name, n});
    }
    for (auto& [k, n] : by_week) out.expiry_weeks.push_back({k.first, k.second, n});
  }
  {
    CF_ASSIGN_OR_RETURN(
        auto s, s_.Prepare(ForAccount("SELECT COALESCE(SUM(CASE WHEN status <> 'revoked' THEN 1 "
                                      "ELSE 0 END), 0), COALESCE(SUM(CASE WHEN status = "
                                      "'active' AND last_seen_at >= ?1 THEN 1 ELSE 0 END), 0) "
                                      "FROM agents c WHERE 1 = 1{account}",
                                      acc, " AND c.account_id = ?2"),
                           "agents"));
    s.Bind(1, EncodeTime(q.agents_seen_since));
    if (acc) s.Bind(2, *acc);
    CF_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) {
      out.agents = s.Int(0);
      out.agents_online = s.Int(1);
    }
  }
  {
    CF_ASSIGN_OR_RETURN(auto s, s_.Prepare(ForAccount("SELECT state, COUNT(*) FROM deployments c "
                                                      "WHERE 1 = 1{account} GROUP BY state "
                                                      "ORDER BY state",
                                                      acc, " AND c.account_id = ?1"),
                                           "deployments"));
    if (acc) s.Bind(1, *acc);
    CF_ASSIGN_OR_RETURN(out.deployments_by_state,
                        CollectRows<NamedCount>(s, [](const Stmt& row) -> Result<NamedCount> {
                          return NamedCount{row.Text(0), row.Int(1)};
                        }));
  }
  {
    // Failing: the scheduler has counted failures for the version that is current now (a new
    // version starts a fresh renewal state).
    CF_ASSIGN_OR_RETURN(
        auto s,
        s_.Prepare(ForAccount(std::string("SELECT COUNT(*) FROM renewal_states r ") +
                                  // Only the failing rows (partial index renewal_states_failing),
                                  // each joined to its certificate by primary key.
                                  (sqlite ? "INDEXED BY renewal_states_failing CROSS " : "") +
                                  "JOIN certificates c ON c.id = r.certificate_id WHERE "
                                  "r.failures > 0 AND r.version_id = c.current_version_id AND "
                                  "c.status = 'issued'{account}",
                              acc, " AND c.account_id = ?1"),
                   "renewal_states"));
    if (acc) s.Bind(1, *acc);
    CF_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) out.renewals_failing = s.Int(0);
  }
  return out;
}

}  // namespace certfleet::store::sql
