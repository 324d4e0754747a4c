#include "acme/client/order_flow.h"

#include <algorithm>
#include <cctype>
#include <optional>
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

enum class Kind { kDns01, kHttp01 };

constexpr std::string_view KindName(Kind kind) {
  return kind == Kind::kDns01 ? "dns-01" : "http-01";
}

struct PendingChallenge {
  std::string authz_url;
  std::string identifier;  // as the authorization names it, "*." restored for wildcards
  Challenge challenge;
  Kind kind = Kind::kDns01;
  Dns01Solver* dns01 = nullptr;
  Http01Solver* http01 = nullptr;
  std::string fqdn;   // dns-01: the record name
  std::string value;  // dns-01: the TXT value; http-01: the key authorization
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

std::string OfferedTypes(const Authorization& authz) {
  std::string out;
  for (const Challenge& c : authz.challenges) {
    if (out.find(c.type) != std::string::npos) continue;
    out += (out.empty() ? "" : ", ") + c.type;
  }
  return out.empty() ? "no challenges" : out;
}

// Step 2 for one authorization: dns-01 before http-01 (dns-01 is the only one that works for
// wildcards and for names the CA cannot reach on port 80), http-01 never for a wildcard
// (RFC 8555 section 7.1.3).
Result<PendingChallenge> Choose(Client& client, const SolverFor& solver_for, const std::string& url,
                                const Authorization& authz, const std::string& identifier) {
  Result<ChallengeSolvers> solvers = solver_for(identifier);
  if (!solvers.ok()) return InStep(solvers.error(), "choosing a solver for " + identifier);
  PendingChallenge p;
  p.authz_url = url;
  p.identifier = identifier;
  if (const Challenge* c = solvers->dns01 ? authz.Find("dns-01") : nullptr; c != nullptr) {
    Result<std::string> fqdn = ChallengeRecordName(authz.identifier.value);
    if (!fqdn.ok()) return InStep(fqdn.error(), "identifier " + identifier);
    Result<std::string> value = client.Dns01TxtValue(c->token);
    if (!value.ok()) return InStep(value.error(), "dns-01 value for " + identifier);
    p.challenge = *c;
    p.kind = Kind::kDns01;
    p.dns01 = solvers->dns01;
    p.fqdn = std::move(*fqdn);
    p.value = std::move(*value);
    return p;
  }
  const Challenge* http =
      solvers->http01 != nullptr && !authz.wildcard ? authz.Find("http-01") : nullptr;
  if (http != nullptr) {
    Result<std::string> key_authorization = client.KeyAuthorization(http->token);
    if (!key_authorization.ok()) {
      return InStep(key_authorization.error(), "http-01 key authorization for " + identifier);
    }
    p.challenge = *http;
    p.kind = Kind::kHttp01;
    p.http01 = solvers->http01;
    p.value = std::move(*key_authorization);
    return p;
  }
  std::string given;
  if (solvers->dns01 != nullptr) given = "dns-01";
  if (solvers->http01 != nullptr) given += std::string(given.empty() ? "" : ", ") + "http-01";
  std::string message = "no usable challenge for " + identifier + ": the CA offers " +
                        OfferedTypes(authz) +
                        "; solvers given: " + (given.empty() ? "none" : given);
  if (authz.wildcard && solvers->http01 != nullptr) {
    message += " (http-01 cannot validate a wildcard)";
  }
  return FailedPrecondition(std::move(message));
}

Status PresentOne(const PendingChallenge& p) {
  if (p.kind == Kind::kDns01) {
    Status s = p.dns01->Present(p.fqdn, p.value);
    if (!s.ok()) return InStep(s.error(), "presenting dns-01 record for " + p.identifier);
    return Ok();
  }
  // http-01 never serves a wildcard, so the identifier is the authorization's DNS name.
  Status s = p.http01->Present(p.identifier, p.challenge.token, p.value);
  if (!s.ok()) return InStep(s.error(), "presenting http-01 resource for " + p.identifier);
  return Ok();
}

// Steps 2 and 3: collect, present, respond, wait. Every value handed to a solver is appended to
// `presented` before Present is called, so a half-done Present is cleaned up too (CleanUp of an
// absent value is Ok by contract).
Status Validate(Client& client, const SolverFor& solver_for, const Order& order,
                const StepReporter& step, std::vector<PendingChallenge>& presented) {
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
    Result<PendingChallenge> chosen = Choose(client, solver_for, url, *authz, identifier);
    if (!chosen.ok()) return std::move(chosen).error();
    pending.push_back(std::move(chosen).value());
  }
  if (pending.empty()) return Ok();

  // Present everything before answering anything: the CA may look at a shared name (wildcard
  // and apex) as soon as the first challenge is answered.
  for (Kind kind : {Kind::kDns01, Kind::kHttp01}) {
    bool announced = false;
    for (const PendingChallenge& p : pending) {
      if (p.kind != kind) continue;
      if (!announced) {
        step(kind == Kind::kDns01 ? "presenting dns-01 records" : "presenting http-01 resources");
        announced = true;
      }
      presented.push_back(p);
      CF_TRY(PresentOne(p));
    }
  }
  step("answering challenges");
  for (const PendingChallenge& p : pending) {
    Result<Challenge> answered = client.RespondToChallenge(p.challenge);
    if (!answered.ok()) {
      return InStep(answered.error(), "answering " + std::string(KindName(p.kind)) +
                                          " challenge for " + p.identifier);
    }
  }
  step("waiting for validation");
  for (const PendingChallenge& p : pending) {
    Result<Authorization> done = client.WaitAuthorization(p.authz_url);
    if (!done.ok()) {
      return InStep(done.error(),
                    "validating " + std::string(KindName(p.kind)) + " for " + p.identifier);
    }
  }
  return Ok();
}

void CleanUpAll(const std::vector<PendingChallenge>& presented, const StepReporter& step) {
  for (Kind kind : {Kind::kDns01, Kind::kHttp01}) {
    bool announced = false;
    for (const PendingChallenge& p : presented) {
      if (p.kind != kind) continue;
      if (!announced) {
        step(kind == Kind::kDns01 ? "removing dns-01 records" : "removing http-01 resources");
        announced = true;
      }
      Status s = kind == Kind::kDns01 ? p.dns01->CleanUp(p.fqdn, p.value)
                                      : p.http01->CleanUp(p.identifier, p.challenge.token);
      // Logged, not returned: a leftover value is harmless to the next order and must not hide
      // why this one failed. The key authorization is never logged.
      if (!s.ok()) {
        log::Warn(kind == Kind::kDns01 ? "dns-01 cleanup failed" : "http-01 cleanup failed",
                  {{"name", p.identifier},
                   {kind == Kind::kDns01 ? "record" : "token",
                    kind == Kind::kDns01 ? p.fqdn : p.challenge.token},
                   {"error", s.error().ToString()}});
      }
    }
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Whether a resumed order is for exactly `names` (DNS names compare case-insensitively).
bool SameNames(const Order& order, const std::vector<std::string>& names) {
  std::vector<std::string> have, want;
  for (const Identifier& id : order.identifiers) {
    if (id.type != "dns") return false;
    have.push_back(Lower(id.value));
  }
  for (const std::string& name : names) want.push_back(Lower(name));
  std::sort(have.begin(), have.end());
  have.erase(std::unique(have.begin(), have.end()), have.end());
  std::sort(want.begin(), want.end());
  want.erase(std::unique(want.begin(), want.end()), want.end());
  return have == want;
}

// Step 1 for resume_order_url: the order to continue, or nullopt (logged) for a new one.
std::optional<Order> Resume(Client& client, const std::string& url,
                            const std::vector<std::string>& names, const StepReporter& step) {
  step("resuming order");
  Result<Order> order = client.GetOrder(url);
  if (!order.ok()) {
    log::Warn("cannot read the ACME order to resume; creating a new one",
              {{"order", url}, {"error", order.error().ToString()}});
    return std::nullopt;
  }
  const std::string& status = order->status;
  if (status != "pending" && status != "ready" && status != "processing" && status != "valid") {
    // "invalid" (failed or expired, section 7.1.6), or anything unknown.
    log::Info("the ACME order to resume is " + status + "; creating a new one", {{"order", url}});
    return std::nullopt;
  }
  if (!SameNames(*order, names)) {
    log::Warn("the ACME order to resume is for other names; creating a new one", {{"order", url}});
    return std::nullopt;
  }
  if (status == "pending") {
    // A failed or expired authorization dooms the order (section 7.1.6) even if a CA has not
    // marked the order itself invalid yet.
    for (const std::string& authz_url : order->authorizations) {
      Result<Authorization> authz = client.GetAuthorization(authz_url);
      if (!authz.ok() || (authz->status != "pending" && authz->status != "valid")) {
        log::Info("an authorization of the ACME order to resume is unusable; creating a new one",
                  {{"order", url},
                   {"authorization", authz_url},
                   {"status", authz.ok() ? authz->status : authz.error().ToString()}});
        return std::nullopt;
      }
    }
  }
  return std::move(order).value();
}

// Steps 2 to 5 up to a "valid" order, from whatever state `order` is in.
Result<Order> Advance(Client& client, const SolverFor& solver_for,
                      const std::vector<std::string>& names, const crypto::PrivateKey& cert_key,
                      const StepReporter& step, Order order) {
  if (order.status == "pending") {
    std::vector<PendingChallenge> presented;
    Status validated = Validate(client, solver_for, order, step, presented);
    if (!presented.empty()) CleanUpAll(presented, step);
    if (!validated.ok()) return std::move(validated).error();
    step("waiting for the order to be ready");
    Result<Order> ready = client.WaitOrder(order.url);
    if (!ready.ok()) return InStep(ready.error(), "waiting for the order");
    order = std::move(ready).value();
    if (order.status != "ready") {
      return FailedPrecondition("order is " + order.status + " after validation, not ready");
    }
  }
  if (order.status == "ready") {
    step("finalizing");
    Result<x509::Csr> csr = x509::Csr::Build(cert_key, "", names);
    if (!csr.ok()) return InStep(csr.error(), "building the CSR");
    Result<Order> finalized = client.Finalize(order, csr->der());
    if (!finalized.ok()) return InStep(finalized.error(), "finalizing the order");
    order = std::move(finalized).value();
  }
  if (order.status == "processing" || (order.status == "valid" && order.certificate.empty())) {
    step("waiting for the certificate");
    Result<Order> issued = client.WaitOrder(order.url);
    if (!issued.ok()) return InStep(issued.error(), "waiting for the certificate");
    order = std::move(issued).value();
  }
  if (order.status != "valid" || order.certificate.empty()) {
    return FailedPrecondition("order is " + order.status + " after finalize, not valid");
  }
  return order;
}

// The CN of an RFC 2253 one-line name ("CN=a\, b,O=x" -> "a, b"); empty if none.
std::string CommonName(std::string_view name) {
  size_t i = 0;
  while (i < name.size()) {
    // One attribute: TYPE=VALUE up to an unescaped ',' or '+'.
    size_t eq = name.find('=', i);
    if (eq == std::string_view::npos) return "";
    std::string_view type = name.substr(i, eq - i);
    std::string value;
    size_t j = eq + 1;
    for (; j < name.size() && name[j] != ',' && name[j] != '+'; ++j) {
      if (name[j] == '\\' && j + 1 < name.size()) ++j;
      value += name[j];
    }
    if (type == "CN") return value;
    i = j + 1;
  }
  return "";
}

bool TopIssuedBy(const CertificateChain& chain, const std::string& issuer_cn) {
  return !chain.certificates.empty() && CommonName(chain.certificates.back().issuer()) == issuer_cn;
}

// Step 5's download: the default chain, or with `preferred` the first chain (default first, then
// the alternates in the CA's order) whose topmost certificate was issued by that CN.
Result<CertificateChain> Download(Client& client, const Order& order, const crypto::PrivateKey& key,
                                  const std::string& preferred, const StepReporter& step,
                                  bool* foreign_key) {
  step("downloading certificate");
  Result<CertificateChain> chain = client.DownloadCertificate(order.certificate);
  if (!chain.ok()) return InStep(chain.error(), "downloading the certificate");
  Result<crypto::PublicKey> leaf_key = chain->certificates.front().public_key();
  if (!leaf_key.ok() || leaf_key->spki_der() != key.public_key().spki_der()) {
    *foreign_key = true;
    return FailedPrecondition("the certificate of order " + order.url +
                              " is not for the given certificate key");
  }
  if (preferred.empty() || TopIssuedBy(*chain, preferred)) return chain;
  for (const std::string& url : chain->alternates) {
    Result<CertificateChain> alternate = client.DownloadCertificate(url);
    if (!alternate.ok()) return InStep(alternate.error(), "downloading the alternate chain " + url);
    if (alternate->certificates.front().der() != chain->certificates.front().der()) {
      return FailedPrecondition("the alternate chain " + url + " holds another certificate");
    }
    if (TopIssuedBy(*alternate, preferred)) {
      alternate->alternates = chain->alternates;
      return alternate;
    }
  }
  log::Info("no chain issued by the preferred issuer; keeping the default chain",
            {{"order", order.url}, {"preferred_chain", preferred}});
  return chain;
}

}  // namespace

Result<IssuedChain> IssueOrder(Client& client, const SolverFor& solver_for,
                               const std::vector<std::string>& names,
                               const crypto::PrivateKey& cert_key, const IssueOptions& options) {
  if (names.empty()) return InvalidArgument("no names to issue a certificate for");
  for (const std::string& name : names) {
    if (name.empty()) return InvalidArgument("empty name in the certificate request");
  }
  if (!solver_for) return InvalidArgument("no solver function for the order");
  StepReporter step(options.on_step);

  if (!options.resume_order_url.empty()) {
    if (std::optional<Order> resumed = Resume(client, options.resume_order_url, names, step)) {
      // An order finalized before (processing/valid) carries the CSR of that earlier call: if
      // its key is not `cert_key` the certificate is useless to us, so a new order is made.
      const bool finalized_before = resumed->status == "processing" || resumed->status == "valid";
      if (options.on_order) options.on_order(resumed->url);
      Result<Order> order = Advance(client, solver_for, names, cert_key, step, *resumed);
      if (!order.ok()) return std::move(order).error();
      bool foreign_key = false;
      Result<CertificateChain> chain =
          Download(client, *order, cert_key, options.preferred_chain, step, &foreign_key);
      if (chain.ok()) return IssuedChain{std::move(chain).value(), order->url};
      if (!foreign_key || !finalized_before) return std::move(chain).error();
      log::Warn("the resumed ACME order was finalized for another key; creating a new one",
                {{"order", order->url}});
    }
  }

  step("creating order");
  NewOrderRequest request;
  for (const std::string& name : names) request.identifiers.push_back({"dns", name});
  request.replaces = options.replaces;
  request.profile = options.profile;
  Result<Order> order = client.NewOrder(request);
  if (!order.ok()) return InStep(order.error(), "creating order");
  if (options.on_order) options.on_order(order->url);

  order = Advance(client, solver_for, names, cert_key, step, std::move(order).value());
  if (!order.ok()) return std::move(order).error();
  bool foreign_key = false;
  Result<CertificateChain> chain =
      Download(client, *order, cert_key, options.preferred_chain, step, &foreign_key);
  if (!chain.ok()) return std::move(chain).error();
  return IssuedChain{std::move(chain).value(), order->url};
}

Result<IssuedChain> IssueWithDns01(Client& client, Dns01Solver& solver,
                                   const std::vector<std::string>& names,
                                   const crypto::PrivateKey& cert_key,
                                   const IssueOptions& options) {
  return IssueOrder(
      client,
      [&solver](std::string_view) -> Result<ChallengeSolvers> {
        return ChallengeSolvers{.dns01 = &solver};
      },
      names, cert_key, options);
}

}  // namespace certfleet::acme
