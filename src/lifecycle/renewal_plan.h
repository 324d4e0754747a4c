// Renewal planning (issue #5; storm guard and fleet scale, issue #14): when a certificate version
// has become current, decide when the renewal scheduler first tries to renew it, and store that
// as the certificate's model::RenewalState.
//
// The plan, for a version valid [notBefore, notAfter] with lifetime L, stored at created_at by
// certfleetd's clock:
//   1. the window start (RenewalWindowStart) plus a jitter drawn once in
//      [0, MaxRenewalJitter(start, notAfter, max_jitter)];
//   2. clock skew: when notBefore is more than a day behind created_at (certfleetd's clock runs
//      ahead of the CA's; CAs backdate notBefore by an hour or so, so less does not count), no
//      earlier than start + (created_at - notBefore): the window measured by certfleetd's clock;
//   3. storm guard: no earlier than created_at + min_age_fraction * L. Together with 2 this
//      means the scheduler never renews a version it stored less than that fraction of its
//      lifetime ago, whatever the clocks or a renew_before override say;
//   4. ARI (RFC 9773 section 4.2): a uniformly random time inside the window the CA suggested
//      for this version, when it is earlier. A CA asking for early renewal (e.g. before a mass
//      revocation) always wins over 1-3. Users renew on demand and are never held back by a plan.
// When 2 or 3 moved the plan, a `certificate.renewal_anomaly` event is appended to the outbox
// in the same transaction, once per version (a store Notice of kind kRenewalAnomalyNotice
// remembers the version), naming the clock difference created_at - notBefore.
//
// Thread safety: free functions over the caller's transaction; no state.
#pragma once

#include <string_view>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "model/model.h"
#include "store/store.h"

namespace certfleet::lifecycle {

inline constexpr std::string_view kRenewalAnomalyEvent = "certificate.renewal_anomaly";
inline constexpr std::string_view kRenewalAnomalyNotice = "certificate.renewal_anomaly";

struct RenewalPlanOptions {
  Seconds max_jitter{3600};
  // The storm guard (3 above), as a fraction of the version's lifetime, in [0, 1).
  double min_age_fraction = 1.0 / 3.0;
};

// When a version's renewal window opens (renewal_scheduler.h, "The window").
TimePoint RenewalWindowStart(const model::Certificate& cert, const model::CertificateVersion& v);
// The jitter bound for a window opening at `start` for a version expiring at `not_after`.
Seconds MaxRenewalJitter(TimePoint start, TimePoint not_after, Seconds max_jitter);

// Plans the candidate's version (see above) in `tx`: Put()s its state (no failures, first
// attempt at the planned time) and, if the plan was moved by 2 or 3, emits the anomaly event
// once. `now` is the tick's time (whole seconds). Returns the planned time; store errors.
Result<TimePoint> PlanRenewal(store::Tx& tx, const store::RenewalCandidate& c, TimePoint now,
                              const Clock& clock, Random& random,
                              const RenewalPlanOptions& options = {});

// The same for a version that has just become current in `tx`, at a commit site (issuance,
// renewal), so that a new version never waits for the scheduler's next tick to be planned; one
// line there: CF_TRY(PlanRenewal(tx, cert, v, clock_, random_));. `v` must be `cert`'s current
// version; its ARI window, if the issuer records one, must be stored in `tx` before the call.
Status PlanRenewal(store::Tx& tx, const model::Certificate& cert,
                   const model::CertificateVersion& v, const Clock& clock, Random& random,
                   const RenewalPlanOptions& options = {});

}  // namespace certfleet::lifecycle
