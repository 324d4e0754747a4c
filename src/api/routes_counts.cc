// GET /v1/counts (issue #17, docs/api.md): the console dashboard's numbers in one answer,
// computed by GROUP BY queries in one read transaction (StatsRepo::CountDashboard), so they are
// consistent with each other and cheap at 100,000 certificates (docs/PERFORMANCE.md).
//
// Tenants see their own account; system admins and system auditors every account, or one with
// ?account= (SystemScopeAccount). Needs certificate.read.
#include <map>

#include "api/api_service.h"
#include "api/list_query.h"
#include "base/time_util.h"

namespace certfleet::api {
namespace {

using nlohmann::json;
using policy::Action;

constexpr int kExpiryWeeks = 13;  // about 90 days, the dashboard's timeline
constexpr char const* kExpiryBuckets[] = {"expired", "lt_7d", "lt_30d", "lt_90d", "later"};

// Monday 00:00 UTC of the week holding `t` (ISO 8601 weeks; 1970-01-01 was a Thursday).
TimePoint WeekStart(TimePoint t) {
  constexpr int64_t kDay = 86400;
  const int64_t secs = std::chrono::duration_cast<Seconds>(t.time_since_epoch()).count();
  int64_t days = secs / kDay - (secs % kDay < 0 ? 1 : 0);
  const int64_t weekday = ((days + 3) % 7 + 7) % 7;  // 0 = Monday
  return TimePoint(Seconds((days - weekday) * kDay));
}

// Every name in `known` (0 when absent), then whatever else the store returned.
json ByName(const std::vector<store::NamedCount>& counts,
            std::initializer_list<std::string_view> known) {
  json out = json::object();
  for (std::string_view k : known) out[std::string(k)] = 0;
  for (const auto& c : counts) out[c.name] = out.value(c.name, int64_t{0}) + c.count;
  return out;
}

json Render(const store::DashboardCounts& d, TimePoint weeks_start, TimePoint now) {
  using model::CertificateStatus;
  using model::DeploymentState;
  int64_t total = 0;
  std::vector<store::NamedCount> by_status, by_issuer;
  std::map<std::string, int64_t> status_sums, issuer_sums;
  for (const auto& c : d.certificates) {
    total += c.count;
    status_sums[c.status] += c.count;
    issuer_sums[c.issuer] += c.count;
  }
  for (auto& [k, v] : status_sums) by_status.push_back({k, v});
  for (auto& [k, v] : issuer_sums) by_issuer.push_back({k, v});
  auto status = [](CertificateStatus s) { return model::CertificateStatusName(s); };
  auto state = [](DeploymentState s) { return model::DeploymentStateName(s); };

  json weeks = json::array();
  std::vector<json> week_issuers(kExpiryWeeks, json::object());
  for (const auto& w : d.expiry_weeks) {
    if (w.week >= 0 && w.week < kExpiryWeeks) week_issuers[w.week][w.issuer] = w.count;
  }
  for (int i = 0; i < kExpiryWeeks; ++i) {
    weeks.push_back({{"week_start", FormatRfc3339(weeks_start + Seconds(int64_t{i} * 7 * 86400))},
                     {"by_issuer", week_issuers[i]}});
  }
  json by_expiry = ByName(d.by_expiry, {});
  for (const char* b : kExpiryBuckets) by_expiry[b] = by_expiry.value(b, int64_t{0});
  return json{
      {"certificates",
       {{"total", total},
        {"by_status",
         ByName(by_status, {status(CertificateStatus::kPending), status(CertificateStatus::kIssued),
                            status(CertificateStatus::kFailed), status(CertificateStatus::kRevoked),
                            status(CertificateStatus::kExpired)})},
        {"by_issuer", ByName(by_issuer, {})},
        {"by_expiry", by_expiry}}},
      {"expiry_weeks", weeks},
      {"agents",
       {{"total", d.agents}, {"online", d.agents_online}, {"offline", d.agents - d.agents_online}}},
      {"deployments",
       {{"by_state",
         ByName(d.deployments_by_state,
                {state(DeploymentState::kRunning), state(DeploymentState::kSucceeded),
                 state(DeploymentState::kFailed), state(DeploymentState::kNoTargets)})}}},
      {"renewals_failing", d.renewals_failing},
      {"generated_at", FormatRfc3339(now)}};
}

}  // namespace

void AddCountsRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  AddRoute(router, "GET", "/v1/counts", Action::kCertificateRead, "counts.read",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(ListQuery q, ListQuery::Parse(ctx.request, {"account"}));
             CF_ASSIGN_OR_RETURN(auto named, q.One("account"));
             CF_ASSIGN_OR_RETURN(auto account,
                                 SystemScopeAccount(deps, ctx, named, Action::kCertificateRead));
             const TimePoint now = deps.clock.Now();
             const TimePoint weeks_start = WeekStart(now);
             CF_ASSIGN_OR_RETURN(auto tx, deps.store.BeginRead());
             // The same liveness rule as /metrics and agent.offline (agent_offline_after).
             CF_ASSIGN_OR_RETURN(
                 store::DashboardCounts d,
                 tx->stats().CountDashboard(
                     {.account_id = account,
                      .now = now,
                      .weeks_start = weeks_start,
                      .weeks = kExpiryWeeks,
                      .agents_seen_since = now - deps.metrics.agent_online_window}));
             return JsonResponse(200, Render(d, weeks_start, now));
           });
}

}  // namespace certfleet::api
