#include "events/destination.h"

#include <netdb.h>
#include <sys/socket.h>

#include <memory>

namespace certfleet::events {
namespace {

struct AddrInfoFree {
  void operator()(addrinfo* a) const { freeaddrinfo(a); }
};

}  // namespace

bool IsNonPublicAddress(std::string_view ip) { return net::IsNonPublicAddress(ip); }

std::function<bool(std::string_view ip)> PublicAddressesOnly() {
  return [](std::string_view ip) { return !net::IsNonPublicAddress(ip); };
}

Status CheckDestination(const std::string& host, const net::AddressFilter& filter) {
  if (!filter) return Ok();
  // Resolution first, so that an unknown name stays a retryable Unavailable (DNS may be down);
  // net::CheckHost then judges every address the name has.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* raw = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &raw);
  std::unique_ptr<addrinfo, AddrInfoFree> list(raw);
  if (rc != 0) {
    return Unavailable("webhook host " + host + " does not resolve: " + gai_strerror(rc));
  }
  return net::CheckHost(host, filter, "webhook host " + host);
}

Status CheckDestination(const std::string& host, bool allow_private) {
  if (allow_private) return Ok();
  return CheckDestination(host, PublicAddressesOnly());
}

}  // namespace certfleet::events
