// certfleet: the command-line client. Talks only to the REST API (docs/architecture.md,
// "Programs"). Exit status: 0 on success, 1 when the command fails (the API refused, the server is
// unreachable, a file cannot be read or written), 2 for usage errors.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli.h"

int main(int argc, char** argv) {
  using certfleet::cli::CommandContext;
  CommandContext ctx;

  CLI::App app("certfleet: manage certificates through the certfleet REST API", "certfleet");
  // Global options may be given after a subcommand too ("certfleet cert list --json").
  app.fallthrough();
  app.require_subcommand(1);
  app.add_option("--server", ctx.global.server, "certfleetd base URL")
      ->envname("CERTFLEET_SERVER")
      ->capture_default_str();
  app.add_option("--ca", ctx.global.ca_file,
                 "PEM bundle trusted for the server certificate (\"\" = system store)")
      ->envname("CERTFLEET_CA")
      ->capture_default_str();
  app.add_option("--token-file", ctx.global.token_file, "File holding the API bearer token")
      ->envname("CERTFLEET_TOKEN_FILE")
      ->capture_default_str();
  app.add_flag("--json", ctx.global.json, "Print the API's JSON instead of tables");

  certfleet::cli::RegisterCertCommands(app, ctx);
  certfleet::cli::RegisterAccountCommands(app, ctx);
  certfleet::cli::RegisterPrincipalCommands(app, ctx);
  certfleet::cli::RegisterTokenCommands(app, ctx);
  certfleet::cli::RegisterGrantCommands(app, ctx);
  certfleet::cli::RegisterPolicyCommands(app, ctx);
  certfleet::cli::RegisterSecretCommands(app, ctx);
  certfleet::cli::RegisterAuditCommands(app, ctx);
  certfleet::cli::RegisterReportCommands(app, ctx);
  certfleet::cli::RegisterAgentCommands(app, ctx);
  certfleet::cli::RegisterDeployCommands(app, ctx);
  certfleet::cli::RegisterInventoryCommands(app, ctx);
  certfleet::cli::RegisterWebhookCommands(app, ctx);
  certfleet::cli::RegisterIssuerCommands(app, ctx);
  certfleet::cli::RegisterDomainCommands(app, ctx);
  certfleet::cli::RegisterAcmeCommands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (!ctx.action) {
    std::cerr << app.help();
    return 2;
  }
  certfleet::Status status = ctx.action(ctx.global);
  if (!status.ok()) {
    std::cerr << "error: " << status.error().message() << '\n';
    return 1;
  }
  return 0;
}
