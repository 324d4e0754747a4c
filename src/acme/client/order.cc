// Client: orders, authorizations, challenges, bounded polling, finalize and download
// (RFC 8555 sections 7.4, 7.5, 7.4.2).
#include <algorithm>

#include <nlohmann/json.hpp>

#include "acme/client/client.h"
#include "base/encoding.h"

namespace certfleet::acme {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// The Error for a resource that ended "invalid": its own problem when it carries one.
Error InvalidResource(std::string_view what, const std::optional<Problem>& problem) {
  if (problem) return ProblemError(*problem, what);
  return FailedPrecondition("the CA marked the " + std::string(what) + " invalid");
}

}  // namespace

milliseconds Client::NextDelay(std::optional<std::chrono::seconds> retry_after, int attempt) const {
  milliseconds delay = options_.poll_min_interval;
  if (retry_after) {
    // Clamp before converting: a hostile Retry-After is already capped at a year by the parser,
    // and a year in milliseconds fits easily.
    delay = std::chrono::duration_cast<milliseconds>(*retry_after);
  } else {
    for (int i = 0; i < attempt && delay < options_.poll_max_interval; ++i) delay *= 2;
  }
  return std::clamp(delay, options_.poll_min_interval, options_.poll_max_interval);
}

Result<Order> Client::NewOrder(const NewOrderRequest& request) {
  if (request.identifiers.empty()) return InvalidArgument("newOrder: no identifiers");
  json ids = json::array();
  for (const auto& id : request.identifiers) {
    ids.push_back({{"type", id.type}, {"value", id.value}});
  }
  json payload = {{"identifiers", ids}};
  // RFC 9773 section 5: "replaces" only for a CA that implements ARI.
  if (!request.replaces.empty() && !directory_.renewal_info.empty()) {
    payload["replaces"] = request.replaces;
  }
  if (!request.profile.empty()) {
    if (directory_.profiles.count(request.profile) == 0) {
      return InvalidArgument("the CA does not offer the profile \"" +
                             Sanitize(request.profile, 64) + "\"");
    }
    payload["profile"] = request.profile;
  }
  CF_ASSIGN_OR_RETURN(
      Response r, PostAsAccount(directory_.new_order, Dump(payload), BodyKind::kJson, "newOrder"));
  if (r.location.empty()) return Malformed("the CA's newOrder answer has no Location");
  return ParseOrder(r.body, r.location, transport_->allow_plain_http());
}

Result<Order> Client::GetOrder(const std::string& url) {
  CF_ASSIGN_OR_RETURN(Response r, PostAsAccount(url, "", BodyKind::kJson, "order"));
  return ParseOrder(r.body, url, transport_->allow_plain_http());
}

Result<Authorization> Client::GetAuthorization(const std::string& url) {
  CF_ASSIGN_OR_RETURN(Response r, PostAsAccount(url, "", BodyKind::kJson, "authorization"));
  return ParseAuthorization(r.body, url, transport_->allow_plain_http());
}

Result<Challenge> Client::RespondToChallenge(const Challenge& challenge) {
  CF_ASSIGN_OR_RETURN(Response r, PostAsAccount(challenge.url, "{}", BodyKind::kJson, "challenge"));
  return ParseChallenge(r.body, transport_->allow_plain_http());
}

Result<Authorization> Client::WaitAuthorization(const std::string& url) {
  const TimePoint deadline = clock_.Now() + options_.poll_timeout;
  for (int attempt = 0;; ++attempt) {
    CF_ASSIGN_OR_RETURN(Response r, PostAsAccount(url, "", BodyKind::kJson, "authorization"));
    CF_ASSIGN_OR_RETURN(Authorization authz,
                        ParseAuthorization(r.body, url, transport_->allow_plain_http()));
    if (authz.status == "valid") return authz;
    if (authz.status != "pending") {
      // The failed challenge carries the reason (section 7.1.4).
      for (const auto& c : authz.challenges) {
        if (c.status == "invalid" && c.error) {
          return ProblemError(*c.error,
                              "authorization of " + Sanitize(authz.identifier.value, 100));
        }
      }
      return FailedPrecondition("the CA's authorization of " +
                                Sanitize(authz.identifier.value, 100) + " is " +
                                Sanitize(authz.status, 40));
    }
    milliseconds delay = NextDelay(r.retry_after, attempt);
    if (attempt + 1 >= options_.max_polls || clock_.Now() + delay > deadline) {
      return Error(ErrorCode::kTimeout, "the CA's authorization of " +
                                            Sanitize(authz.identifier.value, 100) +
                                            " is still pending; gave up waiting")
          .WithRetry();
    }
    sleeper_(delay);
  }
}

Result<Order> Client::Finalize(const Order& order, std::string_view csr_der) {
  if (order.status != "ready") {
    return FailedPrecondition("finalize: the order is " + Sanitize(order.status, 40) +
                              ", not ready");
  }
  json payload = {{"csr", Base64UrlEncode(csr_der)}};
  CF_ASSIGN_OR_RETURN(Response r,
                      PostAsAccount(order.finalize, Dump(payload), BodyKind::kJson, "finalize"));
  return ParseOrder(r.body, order.url, transport_->allow_plain_http());
}

Result<Order> Client::WaitOrder(const std::string& url) {
  const TimePoint deadline = clock_.Now() + options_.poll_timeout;
  for (int attempt = 0;; ++attempt) {
    CF_ASSIGN_OR_RETURN(Response r, PostAsAccount(url, "", BodyKind::kJson, "order"));
    CF_ASSIGN_OR_RETURN(Order order, ParseOrder(r.body, url, transport_->allow_plain_http()));
    if (order.status == "ready" || order.status == "valid") return order;
    if (order.status != "pending" && order.status != "processing") {
      return InvalidResource("order", order.error);
    }
    milliseconds delay = NextDelay(r.retry_after, attempt);
    if (attempt + 1 >= options_.max_polls || clock_.Now() + delay > deadline) {
      return Error(ErrorCode::kTimeout,
                   "the CA's order is still " + Sanitize(order.status, 40) + " after " +
                       std::to_string(options_.poll_timeout.count()) + " s; gave up waiting")
          .WithRetry();
    }
    sleeper_(delay);
  }
}

Result<CertificateChain> Client::DownloadCertificate(const std::string& url) {
  CF_ASSIGN_OR_RETURN(Response r,
                      PostAsAccount(url, "", BodyKind::kCertificate, "certificate download"));
  // Only CERTIFICATE blocks: a chain carrying a private key (or anything else) is refused whole.
  auto certs = x509::Certificate::ParsePemChain(r.body);
  if (!certs.ok()) {
    return Malformed("the CA's certificate chain is refused: " + certs.error().ToString());
  }
  if (certs->empty()) return Malformed("the CA's certificate chain holds no certificate");
  CertificateChain chain;
  chain.certificates = std::move(certs).value();
  chain.pem = x509::ChainToPem(chain.certificates);  // re-encoded: no text between blocks
  for (auto& alt : r.Links("alternate")) {
    CF_TRY(CheckServerUrl(alt, transport_->allow_plain_http(), "an alternate chain"));
    chain.alternates.push_back(std::move(alt));
  }
  return chain;
}

}  // namespace certfleet::acme
