// certfleet acme eab create (issue #16): an external account binding key for certfleet's ACME
// server. The HMAC key is shown once, on stdout; give it to the ACME client (certbot
// --eab-kid/--eab-hmac-key, lego --eab --kid --hmac, ...). The command and flag names are a
// pinned public surface.
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "api_client.h"
#include "args.h"
#include "cli.h"
#include "output.h"

namespace certfleet::cli {
namespace {

struct EabArgs {
  std::string account;
  std::string principal;
  std::string expires;
  std::vector<std::string> tags;
};

Status RunEabCreate(const GlobalOptions& global, const EabArgs& args) {
  nlohmann::json body = nlohmann::json::object();
  if (!args.account.empty()) body["account"] = args.account;
  if (!args.principal.empty()) body["principal"] = args.principal;
  if (!args.expires.empty()) body["expires"] = args.expires;
  if (!args.tags.empty()) {
    CF_ASSIGN_OR_RETURN(auto tags, ParseTags(args.tags));
    body["tags"] = tags;
  }
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto response, api->Post("/v1/acme/eab", body));
  if (!response.is_object() || !response.contains("kid") || !response.contains("hmac_key")) {
    return Malformed("the EAB response has no \"kid\" or \"hmac_key\"");
  }
  if (global.json) {
    PrintJson(std::cout, response);
    return Ok();
  }
  std::cout << "kid:      " << Field(response, "kid") << '\n'
            << "hmac_key: " << Field(response, "hmac_key") << '\n';
  std::cerr << "The HMAC key is shown once. Give both to the ACME client; the first account "
               "registered with them binds them.\n";
  return Ok();
}

}  // namespace

void RegisterAcmeCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* acme = root.add_subcommand("acme", "certfleet's ACME server");
  acme->require_subcommand(1);
  CLI::App* eab = acme->add_subcommand("eab", "external account binding keys");
  eab->require_subcommand(1);
  auto args = std::make_shared<EabArgs>();
  CLI::App* create = eab->add_subcommand("create", "make a key for ACME clients to register with");
  create->add_option("--account", args->account, "the account (id or name; default: yours)");
  create->add_option("--principal", args->principal,
                     "the principal issuance runs as (id or name; default: you)");
  create->add_option("--expires", args->expires, "unused keys expire after this, e.g. 1h");
  create->add_option("--tag", args->tags, "KEY=VALUE tag of every certificate issued (repeat)")
      ->check(CheckTagSpec);
  create->callback([&ctx, args] {
    ctx.action = [args](const GlobalOptions& g) { return RunEabCreate(g, *args); };
  });
}

}  // namespace certfleet::cli
