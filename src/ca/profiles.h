// Certificate profiles of the internal CA. A profile fixes key usages, EKUs and validity limits;
// the caller only picks a profile by name and may ask for a shorter validity.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "x509/certificate.h"

namespace certfleet::ca {

struct Profile {
  std::string name;
  std::vector<x509::ExtendedKeyUsage> ekus;
  Seconds default_validity{0};
  Seconds min_validity{0};
  // Upper bound, evaluated at the time of issuance (see MaxValidity()).
  bool public_tls_limits = false;  // apply the CA/Browser Forum schedule
  Seconds max_validity{0};         // a fixed cap for private profiles
  bool allow_ed25519 = false;
  bool allow_ip_addresses = false;
  bool listed = true;  // selectable through the API
};

// The CA/Browser Forum maximum TLS subscriber certificate validity at `issued_at`
// (Baseline Requirements 6.3.2, ballot SC-081v3): 398 days before 2026-03-15, 200 days from then,
// 100 days from 2027-03-15, 47 days from 2029-03-15.
Seconds CabfMaxValidity(TimePoint issued_at);

// The effective maximum for `profile` at `issued_at`.
Seconds MaxValidity(const Profile& profile, TimePoint issued_at);

// Profiles: "tls-server" (serverAuth, default 90 days, CA/B cap), "tls-client" (clientAuth,
// default 90 days, at most 398 days), "short-lived" (serverAuth, default 7 days, at most 7 days,
// IP SANs allowed: like Let's Encrypt, IP identifiers only on short-lived certificates),
// and the unlisted "api-server" (serverAuth, IP SANs allowed) used for certfleetd's own listener.
// NotFound lists the valid names.
Result<Profile> FindProfile(std::string_view name);
std::vector<std::string> ListedProfileNames();

}  // namespace certfleet::ca
