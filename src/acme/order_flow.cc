#include "acme/order_flow.h"

#include <utility>

#include "base/log.h"
#include "x509/csr.h"

namespace certfleet::acme {
namespace {

// The same error with "<context>: " in front, so a user reads which step and name failed.
Error InStep(const Error& e, const std::string& context) {
  Error out(e.code(), context + ": " + e.message());
  if (e.retryable()) out.WithRetry(e.retry_after());
  if (e.cause() != nullptr) return std::move(out).WithCause(*e.cause());
  return out;
}

struct PendingChallenge {
  std::string authz_url;
  std::string identifier;  // as the authorization names it, "*." restored for wildcards
  Challenge challenge;
  std::string fqdn;
  std::string value;
};

class StepReporter {
 public:
  explicit StepReporter(const std::function<void(std::string_view)>& fn) : fn_(fn) {}
  void operator()(std::string_view step) const {
    if (fn_) fn_(step);
  }

 private:
  const std::function<void(std::string_view)>& fn_;
};

// Steps 2 and 3: collect, present, respond, wait. Every value handed to the solver is appended
// to `presented` before Present is called, so a half-done Present is cleaned up too (CleanUp of
// an absent value is Ok by contract).
Status Validate(Client& client, Dns01Solver& solver, const Order& order, const StepReporter& step,
                std::vector<PendingChallenge>& presented) {
  step("fetching authorizations");
  std::vector<PendingChallenge> pending;
  for (const std::string& url : order.authorizations) {
    Result<Authorization> authz = client.GetAuthorization(url);
    if (!authz.ok()) return InStep(authz.error(), "fetching authorization " + url);
    if (authz->status == "valid") continue;  // reused by the CA (section 7.1.4)
    std::string identifier = (authz->wildcard ? "*." : "") + authz->identifier.value;
    if (authz->status != "pending") {
      return FailedPrecondition("authorization for " + identifier + " is " + authz->status +
                                ", not pending");
    }
    const Challenge* challenge = authz->Find("dns-01");
    if (challenge == nullptr) {
      return FailedPrecondition("the CA offers no dns-01 challenge for " + identifier);
    }
    Result<std::string> fqdn = ChallengeRecordName(authz->identifier.value);
    if (!fqdn.ok()) return InStep(fqdn.error(), "identifier " + identifier);
    Result<std::string> value = client.Dns01TxtValue(challenge->token);
    if (!value.ok()) return InStep(value.error(), "dns-01 value for " + identifier);
    pending.push_back({url, identifier, *challenge, std::move(*fqdn), std::move(*value)});
  }
  if (pending.empty()) return Ok();

  // Present everything before answering anything: the CA may look at a shared name (wildcard
  // and apex) as soon as the first challenge is answered.
  step("presenting dns-01 records");
  for (const PendingChallenge& p : pending) {
    presented.push_back(p);
    Status s = solver.Present(p.fqdn, p.value);
    if (!s.ok()) return InStep(s.error(), "presenting dns-01 record for " + p.identifier);
  }
  step("answering challenges");
  for (const PendingChallenge& p : pending) {
    Result<Challenge> answered = client.RespondToChallenge(p.challenge);
    if (!answered.ok()) {
      return InStep(answered.error(), "answering dns-01 challenge for " + p.identifier);
    }
  }
  step("waiting for validation");
  for (const PendingChallenge& p : pending) {
    Result<Authorization> done = client.WaitAuthorization(p.authz_url);
    if (!done.ok()) return InStep(done.error(), "validating dns-01 for " + p.identifier);
  }
  return Ok();
}

void CleanUpAll(Dns01Solver& solver, const std::vector<PendingChallenge>& presented) {
  for (const PendingChallenge& p : presented) {
    Status s = solver.CleanUp(p.fqdn, p.value);
    // Logged, not returned: a leftover TXT value is harmless to the next order and must not hide
    // why this one failed.
    if (!s.ok()) {
      log::Warn("dns-01 cleanup failed",
                {{"name", p.identifier}, {"record", p.fqdn}, {"error", s.error().ToString()}});
    }
  }
}

}  // namespace

Result<IssuedChain> IssueWithDns01(Client& client, Dns01Solver& solver,
                                   const std::vector<std::string>& names,
                                   const crypto::PrivateKey& cert_key,
                                   const IssueOptions& options) {
  if (names.empty()) return InvalidArgument("no names to issue a certificate for");
  for (const std::string& name : names) {
    if (name.empty()) return InvalidArgument("empty name in the certificate request");
  }
  StepReporter step(options.on_step);

  step("creating order");
  NewOrderRequest request;
  for (const std::string& name : names) request.identifiers.push_back({"dns", name});
  request.replaces = options.replaces;
  request.profile = options.profile;
  Result<Order> order = client.NewOrder(request);
  if (!order.ok()) return InStep(order.error(), "creating order");

  std::vector<PendingChallenge> presented;
  Status validated = Validate(client, solver, *order, step, presented);
  if (!presented.empty()) {
    step("removing dns-01 records");
    CleanUpAll(solver, presented);
  }
  if (!validated.ok()) return std::move(validated).error();

  step("waiting for the order to be ready");
  order = client.WaitOrder(order->url);
  if (!order.ok()) return InStep(order.error(), "waiting for the order");
  if (order->status != "ready") {
    return FailedPrecondition("order is " + order->status + " after validation, not ready");
  }
  step("finalizing");
  Result<x509::Csr> csr = x509::Csr::Build(cert_key, "", names);
  if (!csr.ok()) return InStep(csr.error(), "building the CSR");
  order = client.Finalize(*order, csr->der());
  if (!order.ok()) return InStep(order.error(), "finalizing the order");
  step("waiting for the certificate");
  order = client.WaitOrder(order->url);
  if (!order.ok()) return InStep(order.error(), "waiting for the certificate");
  if (order->status != "valid" || order->certificate.empty()) {
    return FailedPrecondition("order is " + order->status + " after finalize, not valid");
  }
  step("downloading certificate");
  Result<CertificateChain> chain = client.DownloadCertificate(order->certificate);
  if (!chain.ok()) return InStep(chain.error(), "downloading the certificate");
  return IssuedChain{std::move(chain).value(), order->url};
}

}  // namespace certfleet::acme
