// certfleet grant {create,list,revoke} (docs/api.md, "Grants"; docs/policy.md, "Cross-account
// deployments"). A grant {from A, to B} is B's consent to receive A's certificates on B's hosts,
// so it is created and revoked by an admin of B. The command and flag names are a pinned public
// surface.
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "api_client.h"
#include "cli.h"
#include "output.h"
#include "paging.h"
#include "query.h"

namespace certfleet::cli {
namespace {

struct CreateArgs {
  std::string from;
  std::string to;
};

const std::vector<Column> kGrantFields = {{"id", "id"},
                                          {"from account", "from_account"},
                                          {"to account", "to_account"},
                                          {"created by", "created_by"},
                                          {"created at", "created_at"},
                                          {"revoked", "revoked"},
                                          {"revoked at", "revoked_at"}};
const std::vector<Column> kGrantColumns = {{"ID", "id"},
                                           {"FROM", "from_account"},
                                           {"TO", "to_account"},
                                           {"CREATED BY", "created_by"},
                                           {"CREATED AT", "created_at"},
                                           {"REVOKED", "revoked"}};

void PrintGrant(const GlobalOptions& global, const nlohmann::json& grant) {
  if (global.json) {
    PrintJson(std::cout, grant);
  } else {
    PrintFields(std::cout, grant, kGrantFields);
  }
}

Status RunCreate(const GlobalOptions& global, const CreateArgs& args) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto grant, api->Post("/v1/grants", {{"from", args.from}, {"to", args.to}}));
  PrintGrant(global, grant);
  return Ok();
}

Status RunRevoke(const GlobalOptions& global, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(
      auto grant, api->Post("/v1/grants/" + PathSegment(id) + "/revoke", nlohmann::json::object()));
  PrintGrant(global, grant);
  return Ok();
}

}  // namespace

void RegisterGrantCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* grant =
      root.add_subcommand("grant", "Let another account deploy its certificates to your hosts");
  grant->require_subcommand(1);

  auto create_args = std::make_shared<CreateArgs>();
  CLI::App* create = grant->add_subcommand(
      "create", "Grant account FROM the right to deploy into account TO (admins of TO)");
  create->add_option("--from", create_args->from, "Account whose certificates are deployed")
      ->required();
  create->add_option("--to", create_args->to, "Account whose hosts receive them")->required();
  create->callback([&ctx, create_args] {
    ctx.action = [create_args](const GlobalOptions& g) { return RunCreate(g, *create_args); };
  });

  AddAccountListCommand(*grant, ctx, "list", "List the grants of an account", "/v1/grants",
                        "grants", kGrantColumns);

  auto revoke_id = std::make_shared<std::string>();
  CLI::App* revoke = grant->add_subcommand("revoke", "Revoke a grant");
  revoke->add_option("id", *revoke_id, "Grant id")->required();
  revoke->callback([&ctx, revoke_id] {
    ctx.action = [revoke_id](const GlobalOptions& g) { return RunRevoke(g, *revoke_id); };
  });
}

}  // namespace certfleet::cli
