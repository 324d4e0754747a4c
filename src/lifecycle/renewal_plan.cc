#include "lifecycle/renewal_plan.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <optional>

#include "base/check.h"
#include "base/log.h"
#include "base/time_util.h"
#include "events/events.h"
#include "lifecycle/issuers/acme_issuer.h"

namespace certfleet::lifecycle {
namespace {

using std::chrono::duration_cast;

TimePoint Whole(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }

Seconds RandomUpTo(Random& random, Seconds max) {
  if (max.count() <= 0) return Seconds(0);
  return Seconds(static_cast<int64_t>(random.Uniform(static_cast<uint64_t>(max.count()) + 1)));
}

// CAs backdate notBefore a little (an hour or so) to absorb clock differences; only a larger
// gap between notBefore and the moment certfleetd stored the version is a clock anomaly.
constexpr Seconds kSkewTolerance = std::chrono::hours(24);

struct Plan {
  TimePoint window_start;
  TimePoint at;
  Seconds skew{0};     // created_at - not_before
  Seconds min_age{0};  // the storm guard's minimum age
  bool moved = false;  // the skew rule or the storm guard moved the plan later
};

Plan Compute(const store::RenewalCandidate& c, Random& random, const RenewalPlanOptions& o) {
  model::Certificate cert;
  cert.renew_before_seconds = c.renew_before_seconds;
  model::CertificateVersion v;
  v.not_before = c.not_before;
  v.not_after = c.not_after;
  Plan p;
  p.window_start = RenewalWindowStart(cert, v);
  const Seconds jitter =
      RandomUpTo(random, MaxRenewalJitter(p.window_start, v.not_after, o.max_jitter));
  const TimePoint natural = p.window_start + jitter;
  p.at = natural;
  // The window measured by certfleetd's own clock: when its clock runs ahead of the CA's, a new
  // version would otherwise look due the moment it is stored, and be renewed again and again.
  p.skew = duration_cast<Seconds>(c.created_at - c.not_before);
  if (p.skew > kSkewTolerance) p.at = std::max(p.at, natural + p.skew);
  // The storm guard holds whatever the clocks say (also against a renew_before as long as the
  // lifetime, which opens the window at notBefore).
  const Seconds lifetime = duration_cast<Seconds>(c.not_after - c.not_before) + Seconds(1);
  p.min_age = Seconds(std::llround(double(lifetime.count()) * o.min_age_fraction));
  p.at = std::max(p.at, c.created_at + p.min_age + jitter);
  p.moved = p.at > natural;
  return p;
}

Status EmitAnomaly(store::Tx& tx, const store::RenewalCandidate& c, const model::Certificate* cert,
                   const Plan& p, TimePoint now, const Clock& clock, Random& random) {
  // Once per version, however often it is planned (a plan can be redone when its state was
  // overwritten for an older version).
  CF_ASSIGN_OR_RETURN(std::optional<store::Notice> seen,
                      tx.notices().Get(std::string(kRenewalAnomalyNotice), c.certificate_id));
  if (seen && seen->marker == c.version_id) return Ok();
  std::optional<model::Certificate> loaded;
  if (cert == nullptr) {
    CF_ASSIGN_OR_RETURN(loaded, tx.certificates().Get(c.certificate_id));
    cert = &*loaded;
  }
  nlohmann::json data = {
      {"certificate_id", c.certificate_id},
      // clock_skew: notBefore more than a day before certfleetd stored the version (its clock
      // runs ahead of the CA's); min_age: the window opens earlier than the storm guard allows.
      {"reason", p.skew > kSkewTolerance ? "clock_skew" : "min_age"},
      {"name", cert->name},
      {"version_id", c.version_id},
      {"version", c.version},
      {"not_before", FormatRfc3339(c.not_before)},
      {"not_after", FormatRfc3339(c.not_after)},
      {"stored_at", FormatRfc3339(c.created_at)},
      {"observed_at", FormatRfc3339(now)},
      {"clock_skew_seconds", p.skew.count()},
      {"window_start", FormatRfc3339(p.window_start)},
      {"min_age_seconds", p.min_age.count()},
      {"planned_at", FormatRfc3339(p.at)},
  };
  auto e = events::Emit(tx, clock, random,
                        {.account_id = cert->account_id,
                         .type = std::string(kRenewalAnomalyEvent),
                         .subject = c.certificate_id,
                         .data_json = data.dump(),
                         .tags = cert->tags});
  if (!e.ok()) return std::move(e).error();
  CF_TRY(
      tx.notices().Put({std::string(kRenewalAnomalyNotice), c.certificate_id, c.version_id, now}));
  log::Warn("certificate renewal deferred: the version looks older than certfleetd has known it",
            {{"certificate_id", c.certificate_id},
             {"version_id", c.version_id},
             {"clock_skew_seconds", std::to_string(p.skew.count())},
             {"planned_at", FormatRfc3339(p.at)}});
  return Ok();
}

Result<TimePoint> PlanCandidate(store::Tx& tx, const store::RenewalCandidate& c,
                                const model::Certificate* cert, TimePoint now, const Clock& clock,
                                Random& random, const RenewalPlanOptions& options) {
  CF_CHECK(options.min_age_fraction >= 0 && options.min_age_fraction < 1);
  now = Whole(now);
  Plan p = Compute(c, random, options);
  // ARI (RFC 9773 section 4.2): only an earlier suggestion counts (a later window does not
  // stretch the configured one); it wins over the guards because the CA asked for it.
  CF_ASSIGN_OR_RETURN(auto ari,
                      StoredAriWindow(tx, c.certificate_id + "/" + std::to_string(c.version)));
  if (ari && ari->second > ari->first) {
    const TimePoint suggested =
        ari->first + RandomUpTo(random, duration_cast<Seconds>(ari->second - ari->first));
    p.at = std::min(p.at, suggested);
  }
  p.at = Whole(p.at);
  if (p.moved) CF_TRY(EmitAnomaly(tx, c, cert, p, now, clock, random));
  CF_TRY(tx.renewals().Put({.certificate_id = c.certificate_id,
                            .version_id = c.version_id,
                            .next_attempt_at = p.at,
                            .updated_at = now}));
  return p.at;
}

}  // namespace

TimePoint RenewalWindowStart(const model::Certificate& cert, const model::CertificateVersion& v) {
  // RFC 5280 4.1.2.5: the validity period includes notAfter.
  const Seconds lifetime =
      duration_cast<Seconds>(v.not_after - v.not_before) + std::chrono::seconds(1);
  Seconds before;
  if (cert.renew_before_seconds) {
    before = Seconds(*cert.renew_before_seconds);
  } else if (lifetime <= std::chrono::days(10)) {
    before = lifetime / 2;
  } else {
    before = lifetime / 3;
  }
  return std::max(v.not_before, v.not_after - before);
}

Seconds MaxRenewalJitter(TimePoint start, TimePoint not_after, Seconds max_jitter) {
  Seconds window = duration_cast<Seconds>(not_after - start);
  if (window.count() <= 0) return Seconds(0);
  return std::min(window / 10, max_jitter);
}

Result<TimePoint> PlanRenewal(store::Tx& tx, const store::RenewalCandidate& c, TimePoint now,
                              const Clock& clock, Random& random,
                              const RenewalPlanOptions& options) {
  return PlanCandidate(tx, c, nullptr, now, clock, random, options);
}

Status PlanRenewal(store::Tx& tx, const model::Certificate& cert,
                   const model::CertificateVersion& v, const Clock& clock, Random& random,
                   const RenewalPlanOptions& options) {
  CF_CHECK(cert.current_version_id == v.id);
  const store::RenewalCandidate c{.certificate_id = cert.id,
                                  .version_id = v.id,
                                  .account_id = cert.account_id,
                                  .version = v.version,
                                  .not_before = v.not_before,
                                  .not_after = v.not_after,
                                  .created_at = v.created_at,
                                  .renew_before_seconds = cert.renew_before_seconds};
  CF_ASSIGN_OR_RETURN(TimePoint at,
                      PlanCandidate(tx, c, &cert, clock.Now(), clock, random, options));
  (void)at;
  return Ok();
}

}  // namespace certfleet::lifecycle
