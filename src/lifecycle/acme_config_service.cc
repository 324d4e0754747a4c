#include "lifecycle/acme_config_service.h"

#include "acme/client/client.h"
#include "audit/audit_log.h"
#include "base/encoding.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/validate.h"
#include "dns/names.h"
#include "dns/server.h"
#include "dns/tsig_key.h"
#include "lifecycle/acme_clients.h"
#include "net/https_client.h"
#include "store/owned.h"
#include "x509/certificate.h"

namespace certfleet::lifecycle {
namespace {

constexpr size_t kMaxSolverRules = 32;
constexpr size_t kMaxContacts = 8;
constexpr size_t kMaxTrustBytes = 1 << 20;
constexpr size_t kMaxSelectorTags = 32;

TimePoint Whole(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }

bool Printable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

Result<std::string> ContactUrl(const std::string& contact) {
  std::string c = contact.rfind("mailto:", 0) == 0 ? contact : "mailto:" + contact;
  const std::string_view address = std::string_view(c).substr(7);
  const size_t at = address.find('@');
  if (address.empty() || address.size() > 254 || at == std::string_view::npos || at == 0 ||
      at + 1 == address.size() || address.find_first_of(" ,;<>\"'\\") != std::string_view::npos ||
      !Printable(address)) {
    return InvalidArgument("contact " + QuoteForMessage(contact) + " is not an e-mail address");
  }
  return c;
}

AcmeConfigView View(const store::AcmeConfig& c) {
  AcmeConfigView v{.id = c.id,
                   .account_id = c.account_id,
                   .kind = c.kind,
                   .name = c.name,
                   .type = c.type,
                   .config = nlohmann::json::parse(c.config_json, nullptr, false),
                   .has_eab = !c.secret2_blob_id.empty(),
                   .created_by = c.created_by,
                   .created_at = c.created_at,
                   .updated_at = c.updated_at};
  if (v.config.is_discarded()) v.config = nlohmann::json::object();
  return v;
}

}  // namespace

Result<net::AddressFilter> AccountAddressFilter(store::Tx& tx, const std::string& account_id,
                                                const AcmeConfigOptions& options) {
  if (options.outbound == nullptr) return net::AddressFilter();
  CF_ASSIGN_OR_RETURN(model::Account account, tx.accounts().Get(account_id));
  return options.outbound->FilterFor(account.name);
}

Result<SolverRule> ParseSolverRule(std::string_view text) {
  SolverRule rule;
  const size_t colon = text.find(':');
  rule.solver = std::string(text.substr(0, colon));
  if (colon != std::string_view::npos) rule.domain_suffix = std::string(text.substr(colon + 1));
  if (rule.solver != kBuiltinHttp01Solver) {
    auto st = ValidateName("solver", rule.solver);
    if (!st.ok())
      return InvalidArgument("solver rule " + QuoteForMessage(text) + ": " + st.error().message());
  }
  if (colon != std::string_view::npos) {
    if (rule.domain_suffix.rfind("*.", 0) == 0) rule.domain_suffix.erase(0, 2);
    auto st = ValidateDnsName(rule.domain_suffix, /*allow_wildcard=*/false);
    if (!st.ok()) {
      return InvalidArgument("solver rule " + QuoteForMessage(text) +
                             ": the domain suffix is not a DNS name");
    }
    std::transform(rule.domain_suffix.begin(), rule.domain_suffix.end(), rule.domain_suffix.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  }
  return rule;
}

Status AcmeConfigService::CheckSolverRules(store::Tx& tx, const std::string& account_id,
                                           const std::vector<SolverRule>& rules) {
  if (rules.size() > kMaxSolverRules) {
    return InvalidArgument("at most " + std::to_string(kMaxSolverRules) + " solver rules");
  }
  for (const SolverRule& r : rules) {
    if (r.solver == kBuiltinHttp01Solver) continue;
    auto s = tx.acme_configs().GetByName(account_id, "solver", r.solver);
    if (!s.ok()) {
      if (s.error().code() == ErrorCode::kNotFound) {
        return InvalidArgument("unknown solver " + QuoteForMessage(r.solver) +
                               " (create it with `certfleet solver create`)");
      }
      return std::move(s).error();
    }
  }
  return Ok();
}

Result<AcmeConfigView> AcmeConfigService::CreateIssuer(const Caller& caller,
                                                       const AcmeIssuerSpec& spec) {
  CF_TRY(ValidateName("name", spec.name));
  if (spec.name == "internal") return InvalidArgument("the issuer name \"internal\" is reserved");
  if (spec.directory_url.size() > 2048 || !Printable(spec.directory_url)) {
    return InvalidArgument("directory_url is not a URL");
  }
  const bool https = spec.directory_url.rfind("https://", 0) == 0;
  const bool http = spec.directory_url.rfind("http://", 0) == 0;
  if (!https && !(http && options_.allow_plain_http)) {
    return InvalidArgument("directory_url must be an https:// URL");
  }
  if (spec.trust_pem.size() > kMaxTrustBytes) return InvalidArgument("trust_pem is too large");
  if (!spec.trust_pem.empty()) {
    auto certs = x509::Certificate::ParsePemChain(spec.trust_pem);
    if (!certs.ok() || certs->empty()) {
      return InvalidArgument("trust_pem holds no PEM certificate");
    }
  }
  if (spec.contacts.size() > kMaxContacts) {
    return InvalidArgument("at most " + std::to_string(kMaxContacts) + " contacts");
  }
  std::vector<std::string> contacts;
  for (const std::string& c : spec.contacts) {
    CF_ASSIGN_OR_RETURN(std::string url, ContactUrl(c));
    contacts.push_back(std::move(url));
  }
  if (spec.eab_kid.empty() != spec.eab_hmac_key.empty()) {
    return InvalidArgument("external account binding needs both eab_kid and the EAB HMAC key");
  }
  if (spec.eab_kid.size() > 256 || !Printable(spec.eab_kid)) {
    return InvalidArgument("eab_kid is not a key identifier");
  }
  SecretBytes eab_key;
  if (!spec.eab_hmac_key.empty()) {
    std::string_view text = spec.eab_hmac_key.view();
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
      text.remove_suffix(1);
    }
    auto decoded = Base64UrlDecode(text);
    if (!decoded.ok() || decoded->size() < 16) {
      return InvalidArgument("the EAB HMAC key must be base64url text of at least 16 bytes");
    }
    eab_key = SecretBytes::FromString(std::move(*decoded));
  }
  if (spec.preferred_chain.size() > 256 || !Printable(spec.preferred_chain)) {
    return InvalidArgument("preferred_chain is not a certificate name");
  }
  if (!spec.profile.empty()) CF_TRY(ValidateName("profile", spec.profile));
  net::AddressFilter filter;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_TRY(CheckSolverRules(*tx, caller.account_id, spec.solvers));
    auto existing = tx->acme_configs().GetByName(caller.account_id, "issuer", spec.name);
    if (existing.ok()) return Conflict("issuer " + QuoteForMessage(spec.name) + " exists");
    CF_ASSIGN_OR_RETURN(filter, AccountAddressFilter(*tx, caller.account_id, options_));
  }
  // Issue #13: a directory on a network the account may not reach is refused before any
  // connection, with one generic message (the client checks again at connect time).
  CF_ASSIGN_OR_RETURN(net::Url url, net::ParseUrl(spec.directory_url));
  CF_TRY(net::CheckHost(url.host, filter, "ACME directory host " + QuoteForMessage(url.host)));

  nlohmann::json rules = nlohmann::json::array();
  for (const SolverRule& r : spec.solvers) {
    rules.push_back({{"solver", r.solver}, {"domain_suffix", r.domain_suffix}});
  }
  nlohmann::json config = {{"directory_url", spec.directory_url},
                           {"trust_pem", spec.trust_pem},
                           {"contacts", contacts},
                           {"eab_kid", spec.eab_kid},
                           {"preferred_chain", spec.preferred_chain},
                           {"profile", spec.profile},
                           {"solvers", rules},
                           {"account_key_type", "p256"}};

  // The account key is ours: generated here, used only sealed.
  CF_ASSIGN_OR_RETURN(crypto::PrivateKey generated,
                      crypto::PrivateKey::Generate(crypto::KeyType::kP256));
  auto key = std::make_shared<const crypto::PrivateKey>(std::move(generated));
  CF_ASSIGN_OR_RETURN(auto client, NewAcmeClient(config, key, clock_, options_, filter));
  if (!spec.profile.empty()) {
    const auto& profiles = client->directory().profiles;
    if (profiles.find(spec.profile) == profiles.end()) {
      return InvalidArgument("the directory offers no profile " + QuoteForMessage(spec.profile));
    }
  }
  acme::NewAccountRequest request{.contact = contacts,
                                  .terms_of_service_agreed = true,
                                  .eab_kid = spec.eab_kid,
                                  .eab_hmac_key = eab_key.Clone()};
  auto account = client->NewAccount(request);
  if (!account.ok() &&
      account.error().message().find(net::kPrivateNetworkRule) != std::string::npos) {
    return std::move(account).error();  // the generic refusal, unadorned
  }
  if (!account.ok()) {
    // The tenant's own CA, named by the tenant: its answer is theirs to read.
    return Error(account.error().code(), "registering the ACME account at " + spec.directory_url +
                                             " failed: " + account.error().message())
        .ForClients();
  }
  config["account_url"] = client->account_url();

  const TimePoint now = Whole(clock_.Now());
  store::AcmeConfig row{.id = NewId("acm", clock_, random_),
                        .account_id = caller.account_id,
                        .kind = "issuer",
                        .name = spec.name,
                        .type = "acme",
                        .config_json = config.dump(),
                        .created_by = caller.principal_id,
                        .created_at = now,
                        .updated_at = now};
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(row.secret_blob_id,
                      secrets_.SealBlob(*tx, key->ToPkcs8Der(), "acme-account-key"));
  if (!eab_key.empty()) {
    CF_ASSIGN_OR_RETURN(row.secret2_blob_id, secrets_.SealBlob(*tx, eab_key, "acme-eab-hmac"));
  }
  Status inserted = tx->acme_configs().Insert(row);
  if (!inserted.ok()) {
    if (inserted.error().code() == ErrorCode::kConflict) {
      return Conflict("issuer " + QuoteForMessage(spec.name) + " exists");
    }
    return std::move(inserted).error();
  }
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = row.account_id, .resource = row.id, .status = 201}));
  CF_TRY(tx->Commit());
  log::Info("acme issuer created", {{"account_id", row.account_id},
                                    {"issuer", row.name},
                                    {"directory_url", spec.directory_url},
                                    {"account_url", client->account_url()}});
  return View(row);
}

Result<AcmeConfigView> AcmeConfigService::CreateSolver(const Caller& caller,
                                                       const SolverSpec& spec) {
  CF_TRY(ValidateName("name", spec.name));
  if (spec.name == kBuiltinHttp01Solver) {
    return InvalidArgument("the solver name \"http01\" is reserved for the built-in solver");
  }
  nlohmann::json config;
  SecretBytes secret;
  if (spec.type == "rfc2136") {
    CF_ASSIGN_OR_RETURN(dns::DnsServer server, dns::ParseDnsServer(spec.server));
    {
      // Issue #13: a server on a network the account may not reach is refused now; the solver
      // checks again on the addresses it connects to.
      CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
      CF_ASSIGN_OR_RETURN(net::AddressFilter filter,
                          AccountAddressFilter(*tx, caller.account_id, options_));
      tx.reset();
      CF_TRY(
          net::CheckHost(server.host, filter, "DNS server host " + QuoteForMessage(server.host)));
    }
    if (!spec.zone.empty()) {
      auto st = dns::ValidateZoneName(spec.zone);
      if (!st.ok()) return InvalidArgument("zone: " + st.error().message());
    }
    if (spec.tsig_key_file.empty()) return InvalidArgument("the TSIG key file is required");
    auto key = dns::ParseBindKeyFile(spec.tsig_key_file.view());
    if (!key.ok()) return InvalidArgument("the TSIG key file: " + key.error().message());
    config = {{"server", spec.server},
              {"zone", spec.zone},
              {"tsig_key_name", key->name},
              {"tsig_algorithm", std::string(dns::TsigAlgorithmName(key->algorithm))}};
    secret = spec.tsig_key_file.Clone();
  } else if (spec.type == "exec") {
    // Issue #13: the program is a NAME from certfleetd's configuration. A path or arguments from
    // the API are refused whatever the caller's role: only the host's root, writing the config
    // file, decides what certfleetd runs.
    if (!spec.args.empty()) {
      return InvalidArgument(
          "exec solver arguments cannot be given through the API: programs and their arguments "
          "are named in certfleetd's configuration ([exec_solvers.NAME]); pass a configured "
          "program's name");
    }
    if (spec.program.empty() || acme::LooksLikePath(spec.program)) {
      return InvalidArgument(
          "program must be the name of an exec program configured in certfleetd's configuration "
          "([exec_solvers.NAME]), not a path; programs are named only there");
    }
    if (spec.timeout) {
      return InvalidArgument(
          "an exec program's timeout is set with the program in certfleetd's configuration");
    }
    CF_TRY(ValidateName("program", spec.program));
    {
      CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
      CF_ASSIGN_OR_RETURN(model::Account account, tx->accounts().Get(caller.account_id));
      static const acme::ExecPrograms kNone;
      CF_TRY(acme::ResolveExecProgram(
          options_.exec_programs != nullptr ? *options_.exec_programs : kNone, spec.program, {},
          account.name));
    }
    config = {{"program", spec.program}};
  } else if (spec.type == kAgentHttp01SolverType) {
    if (spec.selector.empty()) {
      return InvalidArgument("selector must name at least one tag (which agents serve the token)");
    }
    if (spec.selector.size() > kMaxSelectorTags) {
      return InvalidArgument("selector has more than 32 tags");
    }
    CF_TRY(ValidateTags(spec.selector));
    const Seconds timeout = spec.timeout.value_or(Seconds(60));
    if (timeout < Seconds(1) || timeout > Seconds(600)) {
      return InvalidArgument("timeout must be between 1s and 10m");
    }
    config = {{"selector", spec.selector}, {"timeout_seconds", timeout.count()}};
  } else {
    return InvalidArgument("unknown solver type " + QuoteForMessage(spec.type) +
                           " (rfc2136, exec or agent-http01)");
  }
  const TimePoint now = Whole(clock_.Now());
  store::AcmeConfig row{.id = NewId("acm", clock_, random_),
                        .account_id = caller.account_id,
                        .kind = "solver",
                        .name = spec.name,
                        .type = spec.type,
                        .config_json = config.dump(),
                        .created_by = caller.principal_id,
                        .created_at = now,
                        .updated_at = now};
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  if (!secret.empty()) {
    CF_ASSIGN_OR_RETURN(row.secret_blob_id, secrets_.SealBlob(*tx, secret, "acme-tsig-key"));
  }
  Status inserted = tx->acme_configs().Insert(row);
  if (!inserted.ok()) {
    if (inserted.error().code() == ErrorCode::kConflict) {
      return Conflict("solver " + QuoteForMessage(spec.name) + " exists");
    }
    return std::move(inserted).error();
  }
  CF_TRY(audit::AppendInTx(caller.audit, *tx,
                           {.account_id = row.account_id, .resource = row.id, .status = 201}));
  CF_TRY(tx->Commit());
  log::Info("acme solver created",
            {{"account_id", row.account_id}, {"solver", row.name}, {"type", row.type}});
  return View(row);
}

Result<AcmeConfigView> AcmeConfigService::Get(const Caller& caller, const std::string& kind,
                                              const std::string& name) {
  CF_TRY(ValidateName("name", name));
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  // Looked up by name inside the caller's account; the ownership check still runs so that the
  // answer for another account's name is the one for an unknown name.
  CF_ASSIGN_OR_RETURN(
      auto row, store::LoadOwned(kind, name, "", caller.account_id, [&](const std::string& k) {
        return tx->acme_configs().GetByName(caller.account_id, kind, k);
      }));
  return View(row);
}

Result<std::vector<AcmeConfigView>> AcmeConfigService::List(const Caller& caller,
                                                            const std::string& kind) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(auto rows, tx->acme_configs().List(caller.account_id, kind));
  std::vector<AcmeConfigView> out;
  for (const auto& r : rows) out.push_back(View(r));
  return out;
}

}  // namespace certfleet::lifecycle
