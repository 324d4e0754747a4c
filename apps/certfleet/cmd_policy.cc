// certfleet policy {set,show} (docs/api.md, "Policies"; docs/policy.md). The TOML document is
// checked by the server, which answers 400 naming the bad key; `set` only reads the file and
// keeps it to the API's 64 KiB limit. The server keeps the document verbatim (comments survive,
// and --json shows it so); `show` prints the canonical form that docs/policy.md promises,
// rendered here with the same pure functions the server validates with (src/policy). The command
// and flag names are a pinned public surface.
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "api_client.h"
#include "cli.h"
#include "files.h"
#include "output.h"
#include "policy/account_policy.h"
#include "responses.h"

namespace certfleet::cli {
namespace {

// docs/policy.md: "Documents are limited to 64 KiB".
constexpr size_t kMaxPolicyBytes = 64 * 1024;

struct SetArgs {
  std::string account;
  std::string file;
};

// The account the user named, else the caller's own: the only account GET /v1/accounts shows.
Result<std::string> AccountOrOwn(ApiClient& api, const std::string& account) {
  if (!account.empty()) return account;
  CF_ASSIGN_OR_RETURN(auto accounts, api.Get("/v1/accounts"));
  return SoleAccountId(accounts);
}

Status RunSet(const GlobalOptions& global, const SetArgs& args) {
  auto toml = ReadSmallFile(args.file, kMaxPolicyBytes);
  if (!toml.ok()) {
    return Error(toml.error().code(), "cannot read --file: " + toml.error().message());
  }
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto policy, api->Put("/v1/policies/" + PathSegment(args.account),
                                            {{"toml", std::move(toml).value()}}));
  if (global.json) {
    PrintJson(std::cout, policy);
  } else {
    std::cout << "policy of account " << Field(policy, "account") << " saved (version "
              << Field(policy, "version") << ")\n";
  }
  return Ok();
}

Status RunShow(const GlobalOptions& global, const std::string& account_flag) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(std::string account, AccountOrOwn(*api, account_flag));
  CF_ASSIGN_OR_RETURN(auto policy, api->Get("/v1/policies/" + PathSegment(account)));
  if (global.json) {
    PrintJson(std::cout, policy);
    return Ok();
  }
  auto toml = policy.is_object() ? policy.find("toml") : policy.end();
  if (!policy.is_object() || toml == policy.end() || !toml->is_string()) {
    return Malformed("the policy response has no \"toml\"");
  }
  std::string text;
  if (auto parsed = policy::ParseAccountPolicy(toml->get<std::string>()); parsed.ok()) {
    text = policy::PolicyToToml(*parsed);
  } else {
    // A server newer than this CLI may know keys that we do not: show its document as it is.
    std::cerr << "note: this certfleet cannot render the policy in canonical form ("
              << SanitizeForTerminal(parsed.error().message()) << "); showing it as stored\n";
    text = toml->get<std::string>();
  }
  text = SanitizeText(text);
  if (!text.empty() && text.back() != '\n') text += '\n';
  std::cout << text;
  return Ok();
}

}  // namespace

void RegisterPolicyCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* policy = root.add_subcommand("policy", "Set and show an account's policy");
  policy->require_subcommand(1);

  auto set_args = std::make_shared<SetArgs>();
  CLI::App* set = policy->add_subcommand("set", "Replace an account's policy with a TOML file");
  set->add_option("--account", set_args->account, "Account id or name")->required();
  set->add_option("--file", set_args->file, "Policy document (TOML, at most 64 KiB)")->required();
  set->callback([&ctx, set_args] {
    ctx.action = [set_args](const GlobalOptions& g) { return RunSet(g, *set_args); };
  });

  auto show_account = std::make_shared<std::string>();
  CLI::App* show =
      policy->add_subcommand("show", "Print an account's policy in canonical TOML form");
  show->add_option("--account", *show_account,
                   "Account id or name (default: the caller's, when it sees only one)");
  show->callback([&ctx, show_account] {
    ctx.action = [show_account](const GlobalOptions& g) { return RunShow(g, *show_account); };
  });
}

}  // namespace certfleet::cli
