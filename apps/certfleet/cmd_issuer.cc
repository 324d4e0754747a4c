// certfleet issuer {create acme,list,show} and certfleet solver {create rfc2136,create exec,
// create agent-http01,list,show}: the ACME issuers of an account and the solvers that answer their
// challenges (docs/api.md, "ACME issuers and solvers"). The command and flag names are a pinned
// public surface.
//
// Secrets (the EAB HMAC key, a TSIG key file) are read from files, never argv, and sent with
// ApiClient::PostSecret, so they sit only in SecretBytes on this side; the server never shows
// them again.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "acme_views.h"
#include "api_client.h"
#include "args.h"
#include "base/validate.h"
#include "cli.h"
#include "files.h"
#include "output.h"
#include "paging.h"
#include "query.h"

namespace certfleet::cli {
namespace {

// A trust bundle of a few CA certificates is a few KiB; 1 MiB is also the server's request limit.
constexpr size_t kMaxTrustFileBytes = size_t{1} << 20;
// An EAB HMAC key is one line of base64url; a BIND key file a few lines.
constexpr size_t kMaxSecretFileBytes = size_t{64} << 10;

struct IssuerArgs {
  std::string name;
  std::string account;
  std::string directory;
  std::string trust_file;
  std::vector<std::string> contacts;
  std::string eab_kid;
  std::string eab_hmac_file;
  std::vector<std::string> solvers;
  std::string preferred_chain;
  std::string profile;
};

struct SolverArgs {
  std::string type;  // "rfc2136", "exec" or "agent-http01"
  std::string name;
  std::string account;
  // rfc2136
  std::string server;
  std::string tsig_key_file;
  std::string zone;
  // exec
  std::string program;
  std::vector<std::string> args;
  std::string timeout;  // exec, agent-http01
  // agent-http01
  std::vector<std::string> selector;
};

void PrintView(const GlobalOptions& global, const nlohmann::json& view) {
  if (global.json) {
    PrintJson(std::cout, view);
  } else {
    PrintKeyValues(std::cout, AcmeViewLines(view));
  }
}

// A secret file's content, with the flag named in errors (never the content).
Result<SecretBytes> ReadSecretFlag(const std::string& flag, const std::string& path) {
  auto content = ReadSmallSecretFile(path, kMaxSecretFileBytes);
  if (!content.ok()) {
    return Error(content.error().code(), "cannot read " + flag + ": " + content.error().message());
  }
  if (content->empty()) return InvalidArgument(flag + ": " + path + " is empty");
  return std::move(content).value();
}

Status RunCreateIssuer(const GlobalOptions& global, const IssuerArgs& args) {
  // Local files first: a typo in a path should not cost a round trip to the CA.
  nlohmann::json body = {{"type", "acme"}, {"name", args.name}, {"directory_url", args.directory}};
  if (!args.account.empty()) body["account"] = args.account;
  if (!args.trust_file.empty()) {
    auto pem = ReadSmallFile(args.trust_file, kMaxTrustFileBytes);
    if (!pem.ok()) {
      return Error(pem.error().code(), "cannot read --trust: " + pem.error().message());
    }
    body["trust_pem"] = std::move(pem).value();
  }
  if (!args.contacts.empty()) body["contacts"] = args.contacts;
  if (!args.solvers.empty()) body["solvers"] = args.solvers;
  if (!args.preferred_chain.empty()) body["preferred_chain"] = args.preferred_chain;
  if (!args.profile.empty()) body["profile"] = args.profile;

  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  nlohmann::json view;
  if (args.eab_kid.empty()) {
    CF_ASSIGN_OR_RETURN(view, api->Post("/v1/issuers", body));
  } else {
    CF_ASSIGN_OR_RETURN(SecretBytes content, ReadSecretFlag("--eab-hmac-file", args.eab_hmac_file));
    // One line of base64url, as the CA hands it out; a trailing newline is not part of the key.
    auto hmac = PassphraseFromFile(std::move(content));
    if (!hmac.ok()) {
      return InvalidArgument("--eab-hmac-file: " + args.eab_hmac_file +
                             " must hold the HMAC key as one line of base64url text");
    }
    body["eab_kid"] = args.eab_kid;
    CF_ASSIGN_OR_RETURN(
        view, api->PostSecret("/v1/issuers", JsonWithSecretMember(body, "eab_hmac", *hmac)));
  }
  PrintView(global, view);
  return Ok();
}

Status RunCreateSolver(const GlobalOptions& global, const SolverArgs& args) {
  nlohmann::json body = {{"type", args.type}, {"name", args.name}};
  if (!args.account.empty()) body["account"] = args.account;
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  nlohmann::json view;
  if (args.type == "rfc2136") {
    body["server"] = args.server;
    if (!args.zone.empty()) body["zone"] = args.zone;
    // The whole BIND key file as `tsig-keygen` wrote it; the server parses it.
    CF_ASSIGN_OR_RETURN(SecretBytes key, ReadSecretFlag("--tsig-key-file", args.tsig_key_file));
    CF_ASSIGN_OR_RETURN(
        view, api->PostSecret("/v1/solvers", JsonWithSecretMember(body, "tsig_key", key)));
  } else if (args.type == "exec") {
    body["program"] = args.program;
    if (!args.args.empty()) body["args"] = args.args;
    if (!args.timeout.empty()) body["timeout"] = args.timeout;
    CF_ASSIGN_OR_RETURN(view, api->Post("/v1/solvers", body));
  } else {
    CF_ASSIGN_OR_RETURN(auto selector, ParseTags(args.selector));  // checked while parsing
    body["selector"] = selector;
    if (!args.timeout.empty()) body["timeout"] = args.timeout;
    CF_ASSIGN_OR_RETURN(view, api->Post("/v1/solvers", body));
  }
  PrintView(global, view);
  return Ok();
}

Status RunShow(const GlobalOptions& global, const std::string& collection, const std::string& name,
               const std::string& account) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(
      auto view,
      api->Get(QueryString().Add("account", account).Append(collection + "/" + PathSegment(name))));
  PrintView(global, view);
  return Ok();
}

struct ListArgs {
  std::string account;
  PageArgs page;
};

Status RunList(const GlobalOptions& global, const std::string& collection, const ListArgs& args) {
  const bool issuers = collection == "/v1/issuers";
  return RunListing(
      global, collection, QueryString().Add("account", args.account), args.page,
      issuers ? "issuers" : "solvers", [issuers](const nlohmann::json& items) {
        if (issuers) {
          Table table({"NAME", "TYPE", "DIRECTORY", "SOLVERS", "EAB", "CREATED AT"});
          for (const auto& i : items) {
            table.AddRow({Field(i, "name"), Field(i, "type"), ConfigCell(i, "directory_url"),
                          ConfigCell(i, "solvers"), Field(i, "has_eab"), Field(i, "created_at")});
          }
          table.Print(std::cout);
        } else {
          Table table({"NAME", "TYPE", "TARGET", "CREATED AT"});
          for (const auto& s : items) {
            const bool exec = Field(s, "type") == "exec";
            table.AddRow({Field(s, "name"), Field(s, "type"),
                          ConfigCell(s, exec ? "program" : "server"), Field(s, "created_at")});
          }
          table.Print(std::cout);
        }
      });
}

// `list` and `show NAME` for one collection.
void AddReadCommands(CLI::App& group, CommandContext& ctx, const std::string& collection,
                     const std::string& noun) {
  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = group.add_subcommand("list", "List the " + noun + "s of an account");
  list->add_option("--account", list_args->account, "Account id or name (default: the caller's)");
  AddPageOptions(*list, list_args->page, noun + "s");
  list->callback([&ctx, collection, list_args] {
    ctx.action = [collection, list_args](const GlobalOptions& g) {
      return RunList(g, collection, *list_args);
    };
  });

  auto show_name = std::make_shared<std::string>();
  auto show_account = std::make_shared<std::string>();
  CLI::App* show = group.add_subcommand("show", "Show one " + noun);
  show->add_option("name", *show_name, "The " + noun + "'s name")->required();
  show->add_option("--account", *show_account, "Account id or name (default: the caller's)");
  show->callback([&ctx, collection, show_name, show_account] {
    ctx.action = [collection, show_name, show_account](const GlobalOptions& g) {
      return RunShow(g, collection, *show_name, *show_account);
    };
  });
}

void RegisterIssuer(CLI::App& root, CommandContext& ctx) {
  CLI::App* issuer = root.add_subcommand("issuer", "ACME issuers: where certificates come from");
  issuer->require_subcommand(1);
  CLI::App* create = issuer->add_subcommand("create", "Create an issuer");
  create->require_subcommand(1);

  auto args = std::make_shared<IssuerArgs>();
  CLI::App* acme = create->add_subcommand(
      "acme", "An ACME (RFC 8555) issuer; the ACME account is registered with the CA right away");
  acme->add_option("--name", args->name, "Issuer name, unique per account")->required();
  acme->add_option("--account", args->account, "Account id or name (default: the caller's)");
  acme->add_option("--directory", args->directory, "The CA's ACME directory URL (https://)")
      ->required();
  acme->add_option("--trust", args->trust_file,
                   "PEM file of CA certificates trusted for the directory's TLS (default: the "
                   "system store)");
  acme->add_option("--contact", args->contacts, "Contact e-mail address (repeatable)")
      ->allow_extra_args(false);
  acme->add_option("--eab-kid", args->eab_kid, "External account binding key id");
  acme->add_option("--eab-hmac-file", args->eab_hmac_file,
                   "File holding the external account binding HMAC key (base64url)");
  acme->add_option("--solver", args->solvers,
                   "SOLVER[:DOMAIN_SUFFIX]: answer challenges for names under the suffix (all "
                   "names without one) with this solver; the first matching rule wins; \"http01\" "
                   "is certfleetd's own http-01 listener (repeatable)")
      ->allow_extra_args(false);
  acme->add_option("--preferred-chain", args->preferred_chain,
                   "Issuer CN of the top certificate of the preferred alternate chain");
  acme->add_option("--profile", args->profile, "ACME profile to request (default: the CA's)");
  acme->callback([&ctx, args] {
    if (args->eab_kid.empty() != args->eab_hmac_file.empty()) {
      throw CLI::ValidationError("--eab-kid", "--eab-kid and --eab-hmac-file go together");
    }
    ctx.action = [args](const GlobalOptions& g) { return RunCreateIssuer(g, *args); };
  });

  AddReadCommands(*issuer, ctx, "/v1/issuers", "issuer");
}

void RegisterSolver(CLI::App& root, CommandContext& ctx) {
  CLI::App* solver = root.add_subcommand("solver", "ACME challenge solvers of an account");
  solver->require_subcommand(1);
  CLI::App* create = solver->add_subcommand("create", "Create a solver");
  create->require_subcommand(1);

  auto dns = std::make_shared<SolverArgs>();
  dns->type = "rfc2136";
  CLI::App* rfc2136 = create->add_subcommand(
      "rfc2136", "dns-01 through DNS UPDATE (RFC 2136) signed with a TSIG key");
  rfc2136->add_option("--name", dns->name, "Solver name, unique per account")->required();
  rfc2136->add_option("--account", dns->account, "Account id or name (default: the caller's)");
  rfc2136->add_option("--server", dns->server, "Primary DNS server, HOST:PORT")->required();
  rfc2136
      ->add_option("--tsig-key-file", dns->tsig_key_file,
                   "BIND key file with the TSIG key (as tsig-keygen writes it)")
      ->required();
  rfc2136->add_option("--zone", dns->zone, "Only update records in this zone");
  rfc2136->callback([&ctx, dns] {
    ctx.action = [dns](const GlobalOptions& g) { return RunCreateSolver(g, *dns); };
  });

  auto ex = std::make_shared<SolverArgs>();
  ex->type = "exec";
  CLI::App* exec = create->add_subcommand(
      "exec", "dns-01 through a local program (JSON protocol of docs/exec-solver.md)");
  exec->add_option("--name", ex->name, "Solver name, unique per account")->required();
  exec->add_option("--account", ex->account, "Account id or name (default: the caller's)");
  // Issue #13: programs, their arguments and timeouts are named only in certfleetd's
  // configuration ([exec_solvers.NAME]); --program picks one by name. A path, --arg or
  // --timeout is sent as given and refused by the server with its reason.
  exec->add_option("--program", ex->program,
                   "Name of a program configured in certfleetd's configuration "
                   "([exec_solvers.NAME]); not a path")
      ->required();
  exec->add_option("--arg", ex->args,
                   "Refused: arguments are configured with the program in certfleetd's "
                   "configuration")
      ->allow_extra_args(false);
  exec->add_option("--timeout", ex->timeout,
                   "Refused: the timeout is configured with the program in certfleetd's "
                   "configuration")
      ->check(CLI::Validator(CheckDurationSpec, "DURATION"));
  exec->callback([&ctx, ex] {
    ctx.action = [ex](const GlobalOptions& g) { return RunCreateSolver(g, *ex); };
  });

  auto agent = std::make_shared<SolverArgs>();
  agent->type = "agent-http01";
  CLI::App* agent_http01 = create->add_subcommand(
      "agent-http01",
      "http-01 served by the account's agents that match the selector (their [http01] "
      "webroot or listener)");
  agent_http01->add_option("--name", agent->name, "Solver name, unique per account")->required();
  agent_http01->add_option("--account", agent->account,
                           "Account id or name (default: the caller's)");
  agent_http01
      ->add_option("--selector", agent->selector,
                   "Tag KEY=VALUE the serving agents carry (repeatable, at least one)")
      ->required()
      ->allow_extra_args(false)
      ->check(CLI::Validator(CheckTagSpec, "KEY=VALUE"));
  agent_http01
      ->add_option("--timeout", agent->timeout,
                   "How long to wait for every agent to serve the token (default 60s)")
      ->check(CLI::Validator(CheckDurationSpec, "DURATION"));
  agent_http01->callback([&ctx, agent] {
    if (auto tags = ParseTags(agent->selector); !tags.ok()) {
      throw CLI::ValidationError("--selector", tags.error().message());
    }
    ctx.action = [agent](const GlobalOptions& g) { return RunCreateSolver(g, *agent); };
  });

  AddReadCommands(*solver, ctx, "/v1/solvers", "solver");
}

}  // namespace

void RegisterIssuerCommands(CLI::App& root, CommandContext& ctx) {
  RegisterIssuer(root, ctx);
  RegisterSolver(root, ctx);
}

}  // namespace certfleet::cli
