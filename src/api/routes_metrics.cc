// GET /metrics (issue #5, docs/metrics.md): Prometheus text format 0.0.4 for a Prometheus server
// to scrape. Certificate expiry per certificate, certificates, deployments, targets, agents, the
// job queue and webhook deliveries from the store (StatsRepo aggregates, read in one transaction
// so a scrape is consistent), then the API's own request metrics (HttpMetrics).
//
// Bounded at fleet scale (issue #14): per-certificate series only for issued certificates inside
// their account's warning window (notify.expiry_warning_days, the window of
// certificate.approaching_expiration), aggregates for the rest. A million certificates would
// otherwise be two million series per scrape: hundreds of MB of text, and more in Prometheus.
//
// The series cover every account, so only principals of the system account may read them; any
// role but agent (a read-only auditor token is the usual scrape credential).
#include <algorithm>
#include <map>
#include <set>

#include "api/api_service.h"
#include "api/auth.h"
#include "lifecycle/account_policy_loader.h"

namespace certfleet::api {
namespace {

using Type = ExpositionWriter::Type;

// Certificates per ListCertificateExpiry call; all pages are read inside the scrape's Tx.
constexpr size_t kExpiryPage = 1000;
constexpr double kSecondsPerDay = 86400;

// Everything one scrape reports from the store, read in one transaction.
struct StoreSnapshot {
  // Issued certificates inside their account's warning window (the per-certificate series).
  std::vector<store::CertificateExpiry> expiry;
  // Issued certificates outside it (only counted): issued - expiry.size().
  int64_t outside_window = 0;
  std::map<std::string, std::string> account_names;  // id -> name
  std::vector<store::NamedCount> certificates, deployments, targets, deliveries, events;
  int64_t failed_delivery_attempts = 0;
  store::JobQueueStats jobs;
  int64_t agents = 0;
  int64_t agents_online = 0;
};

int64_t CountOf(const std::vector<store::NamedCount>& counts, std::string_view name) {
  for (const auto& c : counts) {
    if (c.name == name) return c.count;
  }
  return 0;
}

// Metrics name resources of every account: system account principals only, and not agents (a
// host's identity has no business reading the fleet's inventory).
Status CheckMayRead(store::Tx& tx, const lifecycle::Caller& caller) {
  CF_ASSIGN_OR_RETURN(model::Account home, tx.accounts().Get(caller.account_id));
  if (home.name != kSystemAccountName) {
    return policy::Decision::Deny("account.foreign",
                                  "metrics cover every account; only principals of the system "
                                  "account may read them")
        .ToStatus();
  }
  if (caller.role == model::Role::kAgent) {
    return policy::Decision::Deny("role.insufficient", "role agent may not read metrics")
        .ToStatus();
  }
  return Ok();
}

Result<StoreSnapshot> ReadSnapshot(store::Tx& tx, TimePoint now, Seconds online_window) {
  StoreSnapshot s;
  store::StatsRepo& stats = tx.stats();
  CF_ASSIGN_OR_RETURN(auto accounts, tx.accounts().List());
  // Each account's warning window (its policy, as the expiry watcher reads it); the store only
  // hands back certificates inside the widest one, and each account's own filters below, page by
  // page, so the scrape holds only the certificates it writes series for.
  std::map<std::string, Seconds> window;
  Seconds widest{0};
  for (const auto& a : accounts) {
    s.account_names[a.id] = a.name;
    // An unreadable policy (lifecycle refuses the account's requests) must not take the whole
    // scrape down: its certificates get the default window.
    auto p = lifecycle::LoadAccountPolicy(tx, a.id);
    const Seconds w =
        std::chrono::days(p.ok() ? p->expiry_warning_days : policy::kDefaultExpiryWarningDays);
    window[a.id] = w;
    widest = std::max(widest, w);
  }
  std::string after;
  for (;;) {
    CF_ASSIGN_OR_RETURN(auto page,
                        stats.ListCertificateExpiry(now + widest + Seconds(1), after, kExpiryPage));
    const bool last = page.size() < kExpiryPage;
    if (!page.empty()) after = page.back().certificate_id;
    for (store::CertificateExpiry& e : page) {
      // Inside: at most expiry_warning_days left (certificate.approaching_expiration's rule),
      // or already past notAfter.
      auto w = window.find(e.account_id);
      if (e.not_after - now <= (w == window.end() ? widest : w->second)) {
        s.expiry.push_back(std::move(e));
      }
    }
    if (last) break;
  }
  CF_ASSIGN_OR_RETURN(s.certificates, stats.CountCertificatesByStatus());
  s.outside_window =
      CountOf(s.certificates, model::CertificateStatusName(model::CertificateStatus::kIssued)) -
      int64_t(s.expiry.size());
  CF_ASSIGN_OR_RETURN(s.deployments, stats.CountDeploymentsByState());
  CF_ASSIGN_OR_RETURN(s.targets, stats.CountTargetsByState());
  CF_ASSIGN_OR_RETURN(s.deliveries, stats.CountDeliveriesByStatus());
  CF_ASSIGN_OR_RETURN(s.events, stats.CountEventsByType());
  CF_ASSIGN_OR_RETURN(s.failed_delivery_attempts, stats.CountFailedDeliveryAttempts());
  CF_ASSIGN_OR_RETURN(s.jobs, stats.JobQueue(now));
  CF_ASSIGN_OR_RETURN(s.agents, stats.CountAgents());
  CF_ASSIGN_OR_RETURN(s.agents_online, stats.CountAgentsSeenSince(now - online_window));
  return s;
}

// One sample per known name (0 when the store has none, so a series does not vanish when its
// last row changes state and alerts on it stay well defined), then any name the store returned
// that this build does not know.
void WriteByName(ExpositionWriter& out, std::string_view metric, std::string_view label,
                 const std::vector<std::string_view>& known,
                 const std::vector<store::NamedCount>& counts) {
  std::set<std::string_view> seen;
  for (std::string_view name : known) {
    seen.insert(name);
    out.Sample(metric, {{label, name}}, double(CountOf(counts, name)));
  }
  for (const auto& c : counts) {
    if (!seen.count(c.name)) out.Sample(metric, {{label, c.name}}, double(c.count));
  }
}

template <typename Enum, size_t N>
std::vector<std::string_view> Names(const Enum (&values)[N], std::string_view (*name)(Enum)) {
  std::vector<std::string_view> out;
  for (Enum v : values) out.push_back(name(v));
  return out;
}

std::string Render(const StoreSnapshot& s, TimePoint now, const HttpMetrics& http,
                   const net::ConnectionCounters* connections) {
  using model::CertificateStatus;
  using model::DeliveryStatus;
  using model::DeploymentState;
  using model::TargetState;
  constexpr CertificateStatus kCertificateStatuses[] = {
      CertificateStatus::kPending, CertificateStatus::kIssued, CertificateStatus::kFailed,
      CertificateStatus::kRevoked, CertificateStatus::kExpired};
  constexpr DeploymentState kDeploymentStates[] = {
      DeploymentState::kRunning, DeploymentState::kSucceeded, DeploymentState::kFailed,
      DeploymentState::kNoTargets};
  constexpr TargetState kTargetStates[] = {TargetState::kPending, TargetState::kInstalled,
                                           TargetState::kVerified, TargetState::kFailed,
                                           TargetState::kRolledBack};
  constexpr DeliveryStatus kDeliveryStatuses[] = {
      DeliveryStatus::kPending, DeliveryStatus::kDelivered, DeliveryStatus::kFailed};

  ExpositionWriter out;
  auto cert_labels = [&](const store::CertificateExpiry& e) {
    // Not a ?: with "": that would make a temporary std::string for the view to dangle on.
    std::string_view account_name;
    if (auto it = s.account_names.find(e.account_id); it != s.account_names.end()) {
      account_name = it->second;
    }
    return std::vector<Label>{{"id", e.certificate_id},
                              {"name", e.name},
                              {"account", e.account_id},
                              {"account_name", account_name}};
  };
  out.Family("certfleet_certificate_expiry_timestamp_seconds", Type::kGauge,
             "notAfter of the current version of each issued certificate inside its account's "
             "expiry warning window, in Unix seconds.");
  for (const auto& e : s.expiry) {
    const double not_after = std::chrono::duration<double>(e.not_after.time_since_epoch()).count();
    out.Sample("certfleet_certificate_expiry_timestamp_seconds", cert_labels(e), not_after);
  }
  out.Family("certfleet_certificate_days_to_expiry", Type::kGauge,
             "Days until the current version of each issued certificate inside its account's "
             "expiry warning window expires; negative once expired.");
  for (const auto& e : s.expiry) {
    const double days = std::chrono::duration<double>(e.not_after - now).count() / kSecondsPerDay;
    out.Sample("certfleet_certificate_days_to_expiry", cert_labels(e), days);
  }
  out.Family("certfleet_certificates", Type::kGauge, "Certificates by status.");
  WriteByName(out, "certfleet_certificates", "status",
              Names(kCertificateStatuses, model::CertificateStatusName), s.certificates);
  out.Family("certfleet_certificates_expiry_window", Type::kGauge,
             "Issued certificates inside their account's expiry warning window (each has "
             "per-certificate expiry series) and outside it (counted only).");
  out.Sample("certfleet_certificates_expiry_window", {{"window", "inside"}},
             double(s.expiry.size()));
  out.Sample("certfleet_certificates_expiry_window", {{"window", "outside"}},
             double(s.outside_window));

  out.Family("certfleet_renewals_total", Type::kCounter,
             "Certificate renewals (certificate.renewed events).");
  out.Sample("certfleet_renewals_total", double(CountOf(s.events, "certificate.renewed")));
  out.Family("certfleet_renewal_failures_total", Type::kCounter,
             "Failed certificate renewals (certificate.renewal_failed events).");
  out.Sample("certfleet_renewal_failures_total",
             double(CountOf(s.events, "certificate.renewal_failed")));
  out.Family("certfleet_events_total", Type::kCounter, "Events emitted, by type.");
  for (const auto& c : s.events) {
    out.Sample("certfleet_events_total", {{"type", c.name}}, double(c.count));
  }

  out.Family("certfleet_deployments", Type::kGauge, "Deployments by state.");
  WriteByName(out, "certfleet_deployments", "state",
              Names(kDeploymentStates, model::DeploymentStateName), s.deployments);
  out.Family("certfleet_deployment_targets", Type::kGauge,
             "Deployment targets (one agent within a deployment) by state.");
  WriteByName(out, "certfleet_deployment_targets", "state",
              Names(kTargetStates, model::TargetStateName), s.targets);

  out.Family("certfleet_agents", Type::kGauge, "Enrolled agents, whatever their status.");
  out.Sample("certfleet_agents", double(s.agents));
  out.Family("certfleet_agents_online", Type::kGauge,
             "Active agents seen within the online window (default 300 s).");
  out.Sample("certfleet_agents_online", double(s.agents_online));

  out.Family("certfleet_job_queue_depth", Type::kGauge,
             "Jobs by queue state: due (pending, run time passed), waiting (pending, not yet "
             "due), running.");
  out.Sample("certfleet_job_queue_depth", {{"state", "due"}}, double(s.jobs.due));
  out.Sample("certfleet_job_queue_depth", {{"state", "waiting"}}, double(s.jobs.waiting));
  out.Sample("certfleet_job_queue_depth", {{"state", "running"}}, double(s.jobs.running));
  out.Family("certfleet_job_queue_oldest_due_age_seconds", Type::kGauge,
             "How long the oldest due job has been waiting for a worker; 0 when none is due.");
  double oldest = 0;
  if (s.jobs.oldest_due && *s.jobs.oldest_due < now) {
    oldest = std::chrono::duration<double>(now - *s.jobs.oldest_due).count();
  }
  out.Sample("certfleet_job_queue_oldest_due_age_seconds", oldest);

  out.Family("certfleet_event_deliveries", Type::kGauge, "Webhook deliveries by status.");
  WriteByName(out, "certfleet_event_deliveries", "status",
              Names(kDeliveryStatuses, model::DeliveryStatusName), s.deliveries);
  out.Family("certfleet_event_delivery_failures_total", Type::kCounter,
             "Webhook delivery attempts that did not deliver.");
  out.Sample("certfleet_event_delivery_failures_total", double(s.failed_delivery_attempts));

  if (connections != nullptr) {
    // Issue #13: connections closed at accept by max_connections / max_connections_per_address.
    out.Family("certfleet_connections_open", Type::kGauge,
               "Connections the HTTPS listener is serving now.");
    out.Sample("certfleet_connections_open", double(connections->open.load()));
    out.Family("certfleet_connections_refused_total", Type::kCounter,
               "Connections closed at accept because a connection limit was reached.");
    out.Sample("certfleet_connections_refused_total", {{"limit", "max_connections"}},
               double(connections->refused_max_connections.load()));
    out.Sample("certfleet_connections_refused_total", {{"limit", "max_connections_per_address"}},
               double(connections->refused_per_address.load()));
    // Issue #15: connections from a trusted proxy (trusted_proxies) that did not start with a
    // valid PROXY protocol header. Rising: the balancer does not send one (send-proxy-v2).
    out.Family("certfleet_proxy_header_refused_total", Type::kCounter,
               "Connections from trusted proxies closed for a missing, late or invalid PROXY "
               "protocol header.");
    out.Sample("certfleet_proxy_header_refused_total",
               double(connections->refused_proxy_header.load()));
  }
  http.Write(out);
  http.WriteAuthFailures(out);
  return std::move(out).Take();
}

}  // namespace

void AddMetricsRoutes(Router<RouteSpec>& router, ApiDeps& deps, const HttpMetrics& http) {
  // Authorized in the handler (system account, see CheckMayRead); not audited when allowed, since
  // Prometheus reads it every few seconds; denials are audited like every other.
  AddRoute(router, "GET", "/metrics", std::nullopt, "metrics.read",
           [&deps, &http](const RequestContext& ctx) -> Result<net::HttpResponse> {
             const TimePoint now = deps.clock.Now();
             // A reader: a scrape of a large store never holds up the writer (issue #14).
             CF_ASSIGN_OR_RETURN(auto tx, deps.store.BeginRead());
             CF_TRY(CheckMayRead(*tx, *ctx.caller));
             CF_ASSIGN_OR_RETURN(StoreSnapshot snapshot,
                                 ReadSnapshot(*tx, now, deps.metrics.agent_online_window));
             tx.reset();
             net::HttpResponse r;
             r.status = 200;
             r.headers["Content-Type"] = kMetricsContentType;
             r.body = Render(snapshot, now, http, deps.metrics.connections);
             return r;
           });
}

}  // namespace certfleet::api
