#include "lifecycle/expiry_watcher.h"

#include <nlohmann/json.hpp>

#include <map>

#include "base/check.h"
#include "base/time_util.h"
#include "events/events.h"
#include "lifecycle/account_policy_loader.h"
#include "lifecycle/status_util.h"

namespace certfleet::lifecycle {
namespace {

constexpr std::string_view kApproaching = "certificate.approaching_expiration";
constexpr std::string_view kExpired = "certificate.expired";
constexpr std::string_view kOffline = "agent.offline";
constexpr Seconds kDay{86400};

TimePoint Whole(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }

// ceil((not_after - now) / 1 day) for not_after > now.
int64_t DaysLeft(TimePoint now, TimePoint not_after) {
  const int64_t left = std::chrono::duration_cast<Seconds>(not_after - now).count();
  return (left + kDay.count() - 1) / kDay.count();
}

int64_t Unix(TimePoint t) {
  return std::chrono::duration_cast<Seconds>(t.time_since_epoch()).count();
}

// "<version id> <days>" -> days, for a notice of `version_id`; nullopt otherwise.
std::optional<int64_t> WarnedDays(const std::optional<store::Notice>& n,
                                  const std::string& version_id) {
  if (!n) return std::nullopt;
  const size_t space = n->marker.find(' ');
  if (space == std::string::npos || n->marker.compare(0, space, version_id) != 0) {
    return std::nullopt;
  }
  try {
    return std::stoll(n->marker.substr(space + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

ExpiryWatcher::ExpiryWatcher(store::Store& store, const Clock& clock, Random& random,
                             ExpiryWatcherOptions options, std::unique_ptr<LeaderLock> lock)
    : store_(store),
      clock_(clock),
      random_(random),
      options_(std::move(options)),
      lock_(std::move(lock)) {
  CF_CHECK(!options_.owner.empty() && options_.batch > 0);
  CF_CHECK(options_.agent_offline_after.count() > 0);
  if (!lock_) {
    lock_ = DefaultLeaderLock(store_, clock_, std::string(kExpiryWatcherLockName), options_.owner,
                              options_.lease);
  }
}

void ExpiryWatcher::Stop() { lock_->Release(); }

Result<WatchStats> ExpiryWatcher::RunOnce() {
  WatchStats stats;
  CF_ASSIGN_OR_RETURN(bool leader, lock_->TryAcquire());
  if (!leader) return stats;
  const TimePoint now = Whole(clock_.Now());
  if (!last_sweep_ || now - *last_sweep_ >= options_.certificate_sweep_interval ||
      now < *last_sweep_) {
    CF_TRY(SweepCertificates(now, stats));
    last_sweep_ = now;
  }
  CF_TRY(CheckAgents(now, stats));
  return stats;
}

Status ExpiryWatcher::SweepCertificates(TimePoint now, WatchStats& stats) {
  // Every issued certificate ending within the longest window any account may configure; each
  // account's own window filters below (policies are read once per account per sweep).
  const TimePoint bound = now + kDay * policy::kMaxExpiryWarningDays + Seconds(1);
  std::map<std::string, int> warning_days;
  std::string after;
  while (true) {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(auto page, tx->stats().ListCertificateExpiry(bound, after, options_.batch));
    if (page.empty()) return Ok();
    for (const store::CertificateExpiry& c : page) {
      nlohmann::json data = {{"certificate_id", c.certificate_id},
                             {"name", c.name},
                             {"version_id", c.version_id},
                             {"not_after", FormatRfc3339(c.not_after)}};
      if (c.not_after <= now) {
        CF_ASSIGN_OR_RETURN(auto seen, tx->notices().Get(std::string(kExpired), c.certificate_id));
        if (seen && seen->marker == c.version_id) continue;
        CF_TRY(AsStatus(events::Emit(*tx, clock_, random_,
                                     {.account_id = c.account_id,
                                      .type = std::string(kExpired),
                                      .subject = c.certificate_id,
                                      .data_json = data.dump(),
                                      .tags = c.tags})));
        CF_TRY(tx->notices().Put({std::string(kExpired), c.certificate_id, c.version_id, now}));
        ++stats.expired;
        continue;
      }
      auto days_it = warning_days.find(c.account_id);
      if (days_it == warning_days.end()) {
        CF_ASSIGN_OR_RETURN(policy::AccountPolicy p, LoadAccountPolicy(*tx, c.account_id));
        days_it = warning_days.emplace(c.account_id, p.expiry_warning_days).first;
      }
      const int64_t days = DaysLeft(now, c.not_after);
      if (days > days_it->second) continue;
      CF_ASSIGN_OR_RETURN(auto seen,
                          tx->notices().Get(std::string(kApproaching), c.certificate_id));
      std::optional<int64_t> warned = WarnedDays(seen, c.version_id);
      if (warned && *warned <= days) continue;  // already warned today
      data["days_remaining"] = days;
      CF_TRY(AsStatus(events::Emit(*tx, clock_, random_,
                                   {.account_id = c.account_id,
                                    .type = std::string(kApproaching),
                                    .subject = c.certificate_id,
                                    .data_json = data.dump(),
                                    .tags = c.tags})));
      CF_TRY(tx->notices().Put({std::string(kApproaching), c.certificate_id,
                                c.version_id + " " + std::to_string(days), now}));
      ++stats.approaching;
    }
    CF_TRY(tx->Commit());
    after = page.back().certificate_id;
    if (page.size() < options_.batch) return Ok();
  }
}

Status ExpiryWatcher::CheckAgents(TimePoint now, WatchStats& stats) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(std::vector<model::Agent> agents, tx->agents().List());
  for (const model::Agent& a : agents) {
    if (a.status != model::AgentStatus::kActive || !a.last_seen_at) continue;
    if (now - *a.last_seen_at < options_.agent_offline_after) continue;
    const std::string marker = std::to_string(Unix(*a.last_seen_at));
    CF_ASSIGN_OR_RETURN(auto seen, tx->notices().Get(std::string(kOffline), a.id));
    if (seen && seen->marker == marker) continue;
    nlohmann::json data = {{"agent_id", a.id},
                           {"hostname", a.hostname},
                           {"last_seen_at", FormatRfc3339(*a.last_seen_at)},
                           {"offline_after_seconds", options_.agent_offline_after.count()}};
    CF_TRY(AsStatus(events::Emit(*tx, clock_, random_,
                                 {.account_id = a.account_id,
                                  .type = std::string(kOffline),
                                  .subject = a.id,
                                  .data_json = data.dump(),
                                  .tags = a.tags})));
    CF_TRY(tx->notices().Put({std::string(kOffline), a.id, marker, now}));
    ++stats.offline;
  }
  return tx->Commit();
}

}  // namespace certfleet::lifecycle
