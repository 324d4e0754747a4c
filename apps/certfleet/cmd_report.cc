// certfleet report exports (docs/api.md, "Reports"): how often each certificate's private key was
// exported, and how many names (and wildcard names) those exports covered. The command and flag
// names are a pinned public surface.
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "api_client.h"
#include "args.h"
#include "cli.h"
#include "output.h"
#include "query.h"
#include "responses.h"

namespace certfleet::cli {
namespace {

struct ExportsArgs {
  std::string since;
  std::string account;
};

const std::vector<Column> kExportColumns = {{"ACCOUNT", "account"}, {"CERTIFICATE", "certificate"},
                                            {"NAME", "name"},       {"EXPORTS", "exports"},
                                            {"FQDNS", "fqdns"},     {"WILDCARDS", "wildcards"}};

Status RunExports(const GlobalOptions& global, const ExportsArgs& args) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto report, api->Get(QueryString()
                                                .Add("since", args.since)
                                                .Add("account", args.account)
                                                .Append("/v1/reports/exports")));
  if (global.json) {
    PrintJson(std::cout, report);
    return Ok();
  }
  CF_ASSIGN_OR_RETURN(const nlohmann::json* items, ItemsOf(report, "export report"));
  PrintItems(std::cout, *items, kExportColumns);
  return Ok();
}

}  // namespace

void RegisterReportCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* report = root.add_subcommand("report", "Reports over the audit trail");
  report->require_subcommand(1);

  auto args = std::make_shared<ExportsArgs>();
  CLI::App* exports = report->add_subcommand("exports", "Private-key exports per certificate");
  exports->add_option("--since", args->since, "Count exports from this date or time on")
      ->check(CLI::Validator(CheckTimestampSpec, "DATE"));
  exports->add_option("--account", args->account,
                      "Account id or name (default: the caller's; all for system admins)");
  exports->callback([&ctx, args] {
    ctx.action = [args](const GlobalOptions& g) { return RunExports(g, *args); };
  });
}

}  // namespace certfleet::cli
