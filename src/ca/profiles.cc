#include "ca/profiles.h"

#include "base/time_util.h"

namespace certfleet::ca {
namespace {

using std::chrono::days;
using std::chrono::minutes;

std::vector<Profile> AllProfiles() {
  using Eku = x509::ExtendedKeyUsage;
  return {
      {.name = "tls-server",
       .ekus = {Eku::kServerAuth},
       .default_validity = days(90),
       .min_validity = minutes(5),
       .public_tls_limits = true},
      {.name = "tls-client",
       .ekus = {Eku::kClientAuth},
       .default_validity = days(90),
       .min_validity = minutes(5),
       .max_validity = days(398),
       .allow_ed25519 = true},
      {.name = "short-lived",
       .ekus = {Eku::kServerAuth},
       .default_validity = days(7),
       .min_validity = minutes(5),
       .max_validity = days(7),
       .allow_ed25519 = true,
       .allow_ip_addresses = true},
      {.name = "api-server",
       .ekus = {Eku::kServerAuth},
       .default_validity = days(90),
       .min_validity = minutes(5),
       .max_validity = days(398),
       .allow_ip_addresses = true,
       .listed = false},
  };
}

}  // namespace

Seconds CabfMaxValidity(TimePoint t) {
  if (t < UtcDate(2026, 3, 15)) return days(398);
  if (t < UtcDate(2027, 3, 15)) return days(200);
  if (t < UtcDate(2029, 3, 15)) return days(100);
  return days(47);
}

Seconds MaxValidity(const Profile& p, TimePoint issued_at) {
  if (p.public_tls_limits) return CabfMaxValidity(issued_at);
  return p.max_validity;
}

Result<Profile> FindProfile(std::string_view name) {
  std::string valid;
  for (Profile& p : AllProfiles()) {
    if (p.name == name) return std::move(p);
    if (!p.listed) continue;
    if (!valid.empty()) valid += ", ";
    valid += p.name;
  }
  return InvalidArgument("unknown profile; valid profiles: " + valid);
}

std::vector<std::string> ListedProfileNames() {
  std::vector<std::string> out;
  for (const Profile& p : AllProfiles())
    if (p.listed) out.push_back(p.name);
  return out;
}

}  // namespace certfleet::ca
