// certfleet audit {list,verify} (docs/api.md, "Audit"). `verify` asks the server to check the
// keyed hash chains of the audit trail (the caller's account's, or all of them for system admins
// and auditors) and exits 1 with "audit chain broken at record N: <reason>" when
// it is broken, so that monitoring can run it as is. The command and flag names are a pinned
// public surface.
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
#include "responses.h"

namespace certfleet::cli {
namespace {

struct ListArgs {
  std::string account;
  std::string principal;
  std::string action;
  std::string resource;
  std::string resource_type;
  std::string outcome;
  std::string since;
  std::string until;
  PageArgs page;
};

const std::vector<Column> kAuditColumns = {{"SEQ", "seq"},         {"AT", "at"},
                                           {"ACCOUNT", "account"}, {"PRINCIPAL", "principal"},
                                           {"ACTION", "action"},   {"RESOURCE", "resource"},
                                           {"OUTCOME", "outcome"}, {"STATUS", "status"},
                                           {"DETAIL", "detail"}};

Status RunList(const GlobalOptions& global, const ListArgs& args) {
  QueryString filters;
  filters.Add("account", args.account)
      .Add("principal", args.principal)
      .Add("action", args.action)
      .Add("resource", args.resource)
      .Add("resource_type", args.resource_type)
      .Add("outcome", args.outcome)
      .Add("since", args.since)
      .Add("until", args.until);
  return RunListing(global, "/v1/audit", filters, args.page, "audit records", kAuditColumns);
}

Status RunVerify(const GlobalOptions& global, const std::string& account) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  QueryString query;
  query.Add("account", account);
  CF_ASSIGN_OR_RETURN(auto report, api->Get(query.Append("/v1/audit/verify")));
  if (global.json) PrintJson(std::cout, report);
  // A broken chain is this command's failure: main prints the message and exits 1.
  CF_TRY(AuditVerifyStatus(report));
  if (!global.json) {
    std::cout << "audit chain ok: " << Field(report, "checked") << " records checked\n";
  }
  return Ok();
}

}  // namespace

void RegisterAuditCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* audit = root.add_subcommand("audit", "Read and verify the audit trail");
  audit->require_subcommand(1);

  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = audit->add_subcommand("list", "List audit records, oldest first");
  list->add_option("--account", list_args->account, "Account id or name");
  list->add_option("--principal", list_args->principal, "Principal id");
  list->add_option("--resource", list_args->resource, "Resource id (crt_..., sec_..., ...)");
  list->add_option("--since", list_args->since, "From this time on (inclusive)")
      ->check(CLI::Validator(CheckTimestampSpec, "TIME"));
  list->add_option("--until", list_args->until, "Before this time (exclusive)")
      ->check(CLI::Validator(CheckTimestampSpec, "TIME"));
  list->add_option("--action", list_args->action, "Only this action (certificate.export, ...)");
  list->add_option("--resource-type", list_args->resource_type,
                   "Only resources of this kind, by id prefix (crt, sec, agt, ...)");
  list->add_option("--outcome", list_args->outcome, "Only this outcome")
      ->check(CLI::IsMember({"success", "denied", "failure"}));
  AddPageOptions(*list, list_args->page, "audit records");
  list->callback([&ctx, list_args] {
    ctx.action = [list_args](const GlobalOptions& g) { return RunList(g, *list_args); };
  });

  // Without --account: the caller's own account's chain, or every chain for a system admin or
  // system auditor (the server decides; the report's "scope" says which).
  auto verify_account = std::make_shared<std::string>();
  CLI::App* verify = audit->add_subcommand(
      "verify", "Check the audit trail's keyed hash chain (exit status 1 if it is broken)");
  verify->add_option("--account", *verify_account,
                     "Account id or name (system admins and auditors; default: all they see)");
  verify->callback([&ctx, verify_account] {
    ctx.action = [verify_account](const GlobalOptions& g) { return RunVerify(g, *verify_account); };
  });
}

}  // namespace certfleet::cli
