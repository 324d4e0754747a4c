// certfleet account {create,list} (docs/api.md, "Accounts, principals, tokens"). Creating an
// account needs a system administrator (an admin of the default account). The command and flag
// names are a pinned public surface.
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "api_client.h"
#include "cli.h"
#include "output.h"
#include "paging.h"

namespace certfleet::cli {
namespace {

const std::vector<Column> kAccountFields = {
    {"id", "id"}, {"name", "name"}, {"crn", "crn"}, {"created at", "created_at"}};
const std::vector<Column> kAccountColumns = {
    {"ID", "id"}, {"NAME", "name"}, {"CRN", "crn"}, {"CREATED AT", "created_at"}};

Status RunCreate(const GlobalOptions& global, const std::string& name) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto account, api->Post("/v1/accounts", {{"name", name}}));
  if (global.json) {
    PrintJson(std::cout, account);
  } else {
    PrintFields(std::cout, account, kAccountFields);
  }
  return Ok();
}

}  // namespace

void RegisterAccountCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* account = root.add_subcommand("account", "Create and list accounts");
  account->require_subcommand(1);

  auto name = std::make_shared<std::string>();
  CLI::App* create =
      account->add_subcommand("create", "Create an account (system administrators only)");
  create->add_option("name", *name, "Account name, unique")->required();
  create->callback([&ctx, name] {
    ctx.action = [name](const GlobalOptions& g) { return RunCreate(g, *name); };
  });

  auto page = std::make_shared<PageArgs>();
  CLI::App* list = account->add_subcommand("list", "List the accounts visible to the caller");
  AddPageOptions(*list, *page, "accounts");
  list->callback([&ctx, page] {
    ctx.action = [page](const GlobalOptions& g) {
      return RunListing(g, "/v1/accounts", QueryString(), *page, "accounts", kAccountColumns);
    };
  });
}

}  // namespace certfleet::cli
