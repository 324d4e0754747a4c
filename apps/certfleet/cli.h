// Shared plumbing for the certfleet CLI's command groups.
//
// Each command group lives in its own cmd_<group>.cc and exposes one Register<Group>Commands()
// function that adds its subcommands to the root CLI11 app. A subcommand's parse callback only
// records which action to run; main() runs that action after parsing, so network and file errors
// never travel through CLI11's exception machinery. Local input errors are raised as
// CLI::ValidationError during parsing and exit with status 2 (usage), everything after parsing
// exits with status 1 on failure.
#pragma once

#include <functional>
#include <string>

#include "base/error.h"

namespace CLI {
class App;
}  // namespace CLI

namespace certfleet::cli {

// Options accepted by every command (flags, then environment, then defaults).
struct GlobalOptions {
  std::string server = "https://127.0.0.1:8443";  // CERTFLEET_SERVER
  std::string ca_file = "var/ca.pem";             // CERTFLEET_CA; "" = system trust store
  std::string token_file = "var/admin.token";     // CERTFLEET_TOKEN_FILE
  bool json = false;  // print the API's JSON instead of human-readable output
};

// What a parsed command line asks for. Returns Ok() or the Error to print as "error: <message>".
using Action = std::function<Status(const GlobalOptions&)>;

struct CommandContext {
  GlobalOptions global;
  Action action;  // set by the parse callback of the selected leaf subcommand
};

// One registration function per command group (cmd_<group>.cc).
void RegisterCertCommands(CLI::App& root, CommandContext& ctx);
void RegisterAccountCommands(CLI::App& root, CommandContext& ctx);
void RegisterPrincipalCommands(CLI::App& root, CommandContext& ctx);
void RegisterTokenCommands(CLI::App& root, CommandContext& ctx);
void RegisterGrantCommands(CLI::App& root, CommandContext& ctx);
void RegisterPolicyCommands(CLI::App& root, CommandContext& ctx);
void RegisterSecretCommands(CLI::App& root, CommandContext& ctx);
void RegisterAuditCommands(CLI::App& root, CommandContext& ctx);
void RegisterReportCommands(CLI::App& root, CommandContext& ctx);
void RegisterAgentCommands(CLI::App& root, CommandContext& ctx);
void RegisterDeployCommands(CLI::App& root, CommandContext& ctx);
void RegisterInventoryCommands(CLI::App& root, CommandContext& ctx);
void RegisterWebhookCommands(CLI::App& root, CommandContext& ctx);
// `issuer` and `solver` (cmd_issuer.cc): ACME issuers and their challenge solvers.
void RegisterIssuerCommands(CLI::App& root, CommandContext& ctx);
// `domain` (cmd_domain.cc): domain claims, assigned by system admins (issue #13).
void RegisterDomainCommands(CLI::App& root, CommandContext& ctx);
// acme eab create (issue #16): keys for the ACME server.
void RegisterAcmeCommands(CLI::App& root, CommandContext& ctx);

}  // namespace certfleet::cli
