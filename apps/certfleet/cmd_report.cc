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
#include "paging.h"
#include "query.h"

namespace certfleet::cli {
namespace {

struct ExportsArgs {
  std::string since;
  std::string until;
  std::string account;
  std::string certificate;
  std::string principal;
  PageArgs page;
};

const std::vector<Column> kExportColumns = {{"ACCOUNT", "account"}, {"CERTIFICATE", "certificate"},
                                            {"NAME", "name"},       {"EXPORTS", "exports"},
                                            {"FQDNS", "fqdns"},     {"WILDCARDS", "wildcards"}};

Status RunExports(const GlobalOptions& global, const ExportsArgs& args) {
  QueryString filters;
  filters.Add("since", args.since)
      .Add("until", args.until)
      .Add("account", args.account)
      .Add("certificate", args.certificate)
      .Add("principal", args.principal);
  return RunListing(global, "/v1/reports/exports", filters, args.page, "certificates",
                    kExportColumns);
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
  exports->add_option("--until", args->until, "Count exports before this date or time")
      ->check(CLI::Validator(CheckTimestampSpec, "DATE"));
  exports->add_option("--cert", args->certificate, "Only this certificate (crt_...)");
  exports->add_option("--principal", args->principal, "Only exports by this principal (prn_...)");
  AddPageOptions(*exports, args->page, "certificates");
  exports->callback([&ctx, args] {
    ctx.action = [args](const GlobalOptions& g) { return RunExports(g, *args); };
  });
}

}  // namespace certfleet::cli
