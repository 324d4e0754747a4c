// certfleet inventory --cert ID | --agent ID (docs/agents.md, "Inventory"): where a certificate
// is installed, or what is installed on a host. The command and flag names are a pinned public
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

struct InventoryArgs {
  std::string certificate;
  std::string agent;
  PageArgs page;
};

const std::vector<Column> kInventoryColumns = {
    {"CERTIFICATE", "certificate"}, {"NAME", "certificate_name"},
    {"VERSION", "version"},         {"SERIAL", "serial"},
    {"NOT AFTER", "not_after"},     {"AGENT", "agent"},
    {"HOSTNAME", "hostname"},       {"STATE", "state"},
    {"SECRET", "secret_id"},        {"INSTALLED AT", "installed_at"},
    {"VERIFIED AT", "verified_at"}, {"PATHS", "paths"}};

Status RunInventory(const GlobalOptions& global, const InventoryArgs& args) {
  return RunListing(global, "/v1/inventory",
                    QueryString().Add("certificate", args.certificate).Add("agent", args.agent),
                    args.page, "placements", kInventoryColumns);
}

}  // namespace

void RegisterInventoryCommands(CLI::App& root, CommandContext& ctx) {
  auto args = std::make_shared<InventoryArgs>();
  CLI::App* inventory = root.add_subcommand(
      "inventory", "Where a certificate is installed (--cert), or what a host has (--agent)");
  CLI::Option* cert =
      inventory->add_option("--cert", args->certificate, "Certificate id (crt_...)");
  CLI::Option* agent = inventory->add_option("--agent", args->agent, "Agent id (agt_...)");
  cert->excludes(agent);
  AddPageOptions(*inventory, args->page, "placements");
  inventory->callback([&ctx, args] {
    if (args->certificate.empty() == args->agent.empty()) {
      throw CLI::ValidationError("inventory", "give exactly one of --cert ID or --agent ID");
    }
    ctx.action = [args](const GlobalOptions& g) { return RunInventory(g, *args); };
  });
}

}  // namespace certfleet::cli
