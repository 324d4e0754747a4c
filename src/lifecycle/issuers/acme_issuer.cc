#include "lifecycle/issuers/acme_issuer.h"

#include <algorithm>
#include <map>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "acme/client/dns01_solver.h"
#include "acme/client/exec_solver.h"
#include "acme/client/order_flow.h"
#include "acme/protocol/ari.h"
#include "base/failpoint.h"
#include "base/log.h"
#include "base/validate.h"
#include "dns/server.h"
#include "dns/tsig_key.h"
#include "lifecycle/acme_clients.h"
#include "lifecycle/agent_http01.h"
#include "x509/certificate.h"

namespace certfleet::lifecycle {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool SuffixMatches(const std::string& identifier, const std::string& suffix) {
  if (suffix.empty()) return true;
  std::string name = Lower(identifier);
  if (name.rfind("*.", 0) == 0) name.erase(0, 2);
  if (name == suffix) return true;
  return name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         name[name.size() - suffix.size() - 1] == '.';
}

// The solvers one issuance uses, built from the issuer's rules and the account's solvers.
class Solvers {
 public:
  Result<acme::ChallengeSolvers> For(std::string_view identifier) const {
    for (const auto& [rule, choice] : rules_) {
      if (!SuffixMatches(std::string(identifier), rule.domain_suffix)) continue;
      if (choice.dns01 == nullptr && choice.http01 == nullptr) {
        return FailedPrecondition(
            "the built-in http01 solver is off (start certfleetd with --http01-listen); it is "
            "the solver for " +
            QuoteForMessage(identifier));
      }
      return choice;
    }
    return FailedPrecondition("no solver rule of the issuer matches " +
                              QuoteForMessage(identifier));
  }

  // A solver of the account, built once per issuance however many rules name it.
  struct Built {
    std::unique_ptr<acme::Dns01Solver> dns01;
    std::unique_ptr<acme::Http01Solver> http01;
  };
  std::vector<std::pair<SolverRule, acme::ChallengeSolvers>> rules_;
  std::map<std::string, Built> built_;
  std::unique_ptr<acme::Http01Solver> builtin_http01_;  // the account's view of the listener
};

struct SolverContext {
  store::Store& store;
  const std::string& account_id;
  const AcmeIssuerOptions& options;
  const Clock& clock;
  // Issue #13, read at every issuance: the account's name (exec programs list account names)
  // and its outbound filter (empty without a policy).
  std::string account_name;
  net::AddressFilter address_allowed;
};

Result<Solvers::Built> BuildSolver(const store::AcmeConfig& row, const SecretBytes& secret,
                                   const SolverContext& ctx) {
  nlohmann::json config = nlohmann::json::parse(row.config_json, nullptr, false);
  if (!config.is_object()) return Internal("solver " + row.name + ": stored config is not JSON");
  Solvers::Built out;
  if (row.type == "rfc2136") {
    CF_ASSIGN_OR_RETURN(dns::DnsServer server,
                        dns::ParseDnsServer(config.value("server", std::string())));
    server.address_allowed = ctx.address_allowed;
    CF_ASSIGN_OR_RETURN(dns::TsigKey key, dns::ParseBindKeyFile(secret.view()));
    acme::Rfc2136SolverOptions o;
    o.update.server = server;
    o.zone = config.value("zone", std::string());
    o.propagation.timeout = ctx.options.propagation_timeout;
    o.propagation.poll = ctx.options.propagation_poll;
    o.propagation.clock = &ctx.clock;
    CF_ASSIGN_OR_RETURN(out.dns01, acme::Rfc2136Solver::Create(std::move(o), std::move(key)));
    return out;
  }
  if (row.type == "exec") {
    // Issue #13: only a program of certfleetd's configuration runs, and only for an account it
    // lists, checked now (the configuration may have changed since the solver was created). A
    // row stored before with a path and arguments runs only if it equals a configured entry.
    static const acme::ExecPrograms kNone;
    const acme::ExecPrograms& programs =
        ctx.options.client.exec_programs != nullptr ? *ctx.options.client.exec_programs : kNone;
    CF_ASSIGN_OR_RETURN(const acme::ExecProgram* program,
                        acme::ResolveExecProgram(programs, config.value("program", std::string()),
                                                 config.value("args", std::vector<std::string>()),
                                                 ctx.account_name));
    acme::ExecSolverOptions o = program->ToOptions();
    o.zone = config.value("zone", std::string());
    CF_ASSIGN_OR_RETURN(out.dns01, acme::ExecSolver::Create(std::move(o)));
    return out;
  }
  if (row.type == kAgentHttp01SolverType) {
    AgentHttp01Options o;
    o.selector = config.value("selector", model::Tags());
    o.timeout = std::chrono::seconds(config.value("timeout_seconds", 60));
    o.poll = ctx.options.agent_http01_poll;
    out.http01 = std::make_unique<AgentHttp01Solver>(
        ctx.store, ctx.clock, ctx.options.agent_notifier, ctx.account_id, std::move(o));
    return out;
  }
  return Internal("solver " + row.name + " has unknown type " + row.type);
}

Result<Solvers> BuildSolvers(store::Store& store, secrets::SecretStore& secrets,
                             const std::string& account_id, const nlohmann::json& rules,
                             const AcmeIssuerOptions& options, const Clock& clock) {
  Solvers out;
  if (!rules.is_array() || rules.empty()) {
    return FailedPrecondition("the issuer has no solver rules (--solver)");
  }
  SolverContext ctx{store, account_id, options, clock, {}, {}};
  {
    CF_ASSIGN_OR_RETURN(auto tx, store.Begin());
    CF_ASSIGN_OR_RETURN(model::Account account, tx->accounts().Get(account_id));
    ctx.account_name = account.name;
    CF_ASSIGN_OR_RETURN(ctx.address_allowed, AccountAddressFilter(*tx, account_id, options.client));
  }
  for (const auto& r : rules) {
    SolverRule rule{.solver = r.value("solver", std::string()),
                    .domain_suffix = r.value("domain_suffix", std::string())};
    acme::ChallengeSolvers choice;
    if (rule.solver == kBuiltinHttp01Solver) {
      // The account's view of certfleetd's listener (issue #13): its tokens answer only for the
      // names its orders name, and it cannot withdraw another account's. Null when the listener
      // is off: an error only for names it would serve.
      if (options.http01 != nullptr && !out.builtin_http01_) {
        out.builtin_http01_ = options.http01->ForAccount(account_id);
      }
      choice.http01 = out.builtin_http01_.get();
    } else {
      auto it = out.built_.find(rule.solver);
      if (it == out.built_.end()) {
        store::AcmeConfig row;
        SecretBytes secret;
        {
          CF_ASSIGN_OR_RETURN(auto tx, store.Begin());
          auto found = tx->acme_configs().GetByName(account_id, "solver", rule.solver);
          if (!found.ok()) {
            if (found.error().code() == ErrorCode::kNotFound) {
              return FailedPrecondition("solver " + QuoteForMessage(rule.solver) +
                                        " no longer exists");
            }
            return std::move(found).error();
          }
          row = std::move(*found);
          if (!row.secret_blob_id.empty()) {
            CF_ASSIGN_OR_RETURN(secret, secrets.OpenBlob(*tx, row.secret_blob_id));
          }
        }
        CF_ASSIGN_OR_RETURN(auto solver, BuildSolver(row, secret, ctx));
        it = out.built_.emplace(rule.solver, std::move(solver)).first;
      }
      choice.dns01 = it->second.dns01.get();
      choice.http01 = it->second.http01.get();
    }
    out.rules_.emplace_back(std::move(rule), choice);
  }
  return out;
}

std::optional<TimePoint> OptTime(const std::optional<std::pair<TimePoint, TimePoint>>& w,
                                 bool start) {
  if (!w) return std::nullopt;
  return start ? w->first : w->second;
}

}  // namespace

Result<std::optional<std::pair<TimePoint, TimePoint>>> StoredAriWindow(
    store::Tx& tx, const std::string& version_key) {
  CF_ASSIGN_OR_RETURN(auto order, tx.acme_orders().Get(version_key));
  if (!order || !order->ari_start || !order->ari_end) {
    return std::optional<std::pair<TimePoint, TimePoint>>();
  }
  return std::optional<std::pair<TimePoint, TimePoint>>(
      std::make_pair(*order->ari_start, *order->ari_end));
}

Result<store::AcmeConfig> AcmeIssuer::LoadIssuer(const std::string& account_id,
                                                 const std::string& name) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto found = tx->acme_configs().GetByName(account_id, "issuer", name);
  if (!found.ok() && found.error().code() == ErrorCode::kNotFound) {
    return FailedPrecondition("issuer " + QuoteForMessage(name) +
                              " does not exist in the certificate's account");
  }
  return found;
}

Status AcmeIssuer::RevokeAtCa(const std::string& account_id, const std::string& issuer_config,
                              const std::string& leaf_pem, int reason) {
  CF_ASSIGN_OR_RETURN(store::AcmeConfig issuer, LoadIssuer(account_id, issuer_config));
  CF_ASSIGN_OR_RETURN(x509::Certificate leaf, x509::Certificate::FromPem(leaf_pem));
  CF_ASSIGN_OR_RETURN(auto client,
                      OpenIssuerClient(store_, secrets_, issuer, clock_, options_.client));
  Status revoked = client->RevokeCertificate(leaf.der(), reason);
  if (!revoked.ok() && revoked.error().message().find("alreadyRevoked") != std::string::npos) {
    return Ok();
  }
  if (!revoked.ok()) {
    return Error(revoked.error().code(), "the CA refused to revoke serial " + leaf.serial_hex() +
                                             ": " + revoked.error().message());
  }
  log::Info("certificate revoked at the CA", {{"issuer", issuer.name},
                                              {"account_id", account_id},
                                              {"serial", leaf.serial_hex()},
                                              {"reason", std::to_string(reason)}});
  return Ok();
}

Result<IssueOutcome> AcmeIssuer::Issue(const IssueInput& input,
                                       const std::string& idempotency_key) {
  if (input.key == nullptr) return Internal("ACME issuance without a key");
  auto step = [&](std::string_view s) {
    if (input.on_step) input.on_step(s);
  };
  step("loading the issuer");
  CF_ASSIGN_OR_RETURN(store::AcmeConfig issuer, LoadIssuer(input.account_id, input.issuer_config));
  std::optional<store::AcmeOrder> previous_order;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(previous_order, tx->acme_orders().Get(idempotency_key));
  }
  nlohmann::json config = nlohmann::json::parse(issuer.config_json, nullptr, false);
  if (!config.is_object()) return Internal("issuer " + issuer.name + ": stored config is not JSON");
  CF_ASSIGN_OR_RETURN(
      Solvers solvers,
      BuildSolvers(store_, secrets_, input.account_id,
                   config.value("solvers", nlohmann::json::array()), options_, clock_));
  step("contacting the CA");
  CF_ASSIGN_OR_RETURN(auto client,
                      OpenIssuerClient(store_, secrets_, issuer, clock_, options_.client));

  acme::IssueOptions o;
  o.profile = config.value("profile", std::string());
  o.preferred_chain = config.value("preferred_chain", std::string());
  o.on_step = input.on_step;
  if (previous_order) o.resume_order_url = previous_order->order_url;
  if (!input.previous_leaf_pem.empty() && !client->directory().renewal_info.empty()) {
    auto previous = x509::Certificate::FromPem(input.previous_leaf_pem);
    if (previous.ok()) {
      auto id = acme::CertId(*previous);
      if (id.ok()) o.replaces = *id;
    }
  }
  Status recorded = Ok();
  o.on_order = [&](const std::string& order_url) {
    auto put = [&]() -> Status {
      CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
      CF_TRY(tx->acme_orders().Put({.order_key = idempotency_key,
                                    .certificate_id = input.certificate_id,
                                    .order_url = order_url,
                                    .updated_at = clock_.Now()}));
      return tx->Commit();
    };
    recorded = put();
    // Crash tests: the order is recorded, no challenge answered yet; a restarted certfleetd must
    // continue this same order.
    if (recorded.ok()) Failpoint("acme.order_recorded");
    if (!recorded.ok()) {
      log::Warn("could not record the ACME order",
                {{"certificate_id", input.certificate_id}, {"error", recorded.error().ToString()}});
    }
  };
  CF_ASSIGN_OR_RETURN(acme::IssuedChain issued,
                      acme::IssueOrder(
                          *client, [&solvers](std::string_view id) { return solvers.For(id); },
                          input.domains, *input.key, o));
  if (issued.chain.certificates.empty()) return Internal("the CA returned an empty chain");

  IssueOutcome out;
  out.leaf_pem = issued.chain.certificates.front().ToPem();
  for (size_t i = 1; i < issued.chain.certificates.size(); ++i) {
    out.chain_pem += issued.chain.certificates[i].ToPem();
  }
  out.detail = "issued by " + issuer.name;

  // ARI: the CA's suggested window for the new certificate (best effort; RFC 9773 section 4.2).
  std::optional<std::pair<TimePoint, TimePoint>> window;
  if (!client->directory().renewal_info.empty()) {
    auto info = client->GetRenewalInfo(issued.chain.certificates.front());
    if (info.ok()) {
      window = std::make_pair(info->window_start, info->window_end);
    } else {
      log::Warn("ARI renewalInfo unavailable",
                {{"certificate_id", input.certificate_id}, {"error", info.error().ToString()}});
    }
  }
  // Recorded under the version being issued; the scheduler reads it for the current version.
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_TRY(tx->acme_orders().Put({.order_key = idempotency_key,
                                  .certificate_id = input.certificate_id,
                                  .order_url = issued.order_url,
                                  .ari_start = OptTime(window, true),
                                  .ari_end = OptTime(window, false),
                                  .updated_at = clock_.Now()}));
    CF_TRY(tx->Commit());
  }
  return out;
}

}  // namespace certfleet::lifecycle
