// certfleet secret {list,show} (docs/api.md, "Secrets"). Metadata is printed like any resource;
// a value (--value) goes to stdout only, bare, so that it can be redirected into a file or piped
// (e.g. "openssl pkey -passin file:..."), and is wiped from memory once printed. The server
// decides who may read a value (admins, or operators and agents carrying every tag of the
// secret) and audits every read and denial. The command and flag names are a pinned public
// surface.
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "api_client.h"
#include "cli.h"
#include "output.h"
#include "responses.h"

namespace certfleet::cli {
namespace {

struct ShowArgs {
  std::string id;
  bool value = false;
};

const std::vector<Column> kSecretFields = {{"id", "id"},
                                           {"crn", "crn"},
                                           {"account", "account"},
                                           {"name", "name"},
                                           {"kind", "kind"},
                                           {"tags", "tags"},
                                           {"version", "version"},
                                           {"description", "description"},
                                           {"created at", "created_at"},
                                           {"updated at", "updated_at"}};
const std::vector<Column> kSecretColumns = {{"ID", "id"},           {"NAME", "name"},
                                            {"KIND", "kind"},       {"TAGS", "tags"},
                                            {"VERSION", "version"}, {"UPDATED AT", "updated_at"}};

Status RunList(const GlobalOptions& global) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto list, api->Get("/v1/secrets"));
  if (global.json) {
    PrintJson(std::cout, list);
    return Ok();
  }
  CF_ASSIGN_OR_RETURN(const nlohmann::json* items, ItemsOf(list, "secret list"));
  PrintItems(std::cout, *items, kSecretColumns);
  return Ok();
}

Status RunShowValue(const GlobalOptions& global, ApiClient& api, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto response, api.Get("/v1/secrets/" + PathSegment(id) + "/value"));
  auto value = response.is_object() ? response.find("value") : response.end();
  if (!response.is_object() || value == response.end() || !value->is_string()) {
    WipeStringMember(response, "value");
    return Malformed("the secret value response has no \"value\"");
  }
  if (global.json) {
    PrintJson(std::cout, response);
  } else {
    // Bare: the value exactly as stored, then a newline (openssl's file: reads the first line).
    std::cout << value->get<std::string>() << '\n';
  }
  std::cout.flush();
  WipeStringMember(response, "value");
  return Ok();
}

Status RunShow(const GlobalOptions& global, const ShowArgs& args) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  if (args.value) return RunShowValue(global, *api, args.id);
  CF_ASSIGN_OR_RETURN(auto secret, api->Get("/v1/secrets/" + PathSegment(args.id)));
  if (global.json) {
    PrintJson(std::cout, secret);
  } else {
    PrintFields(std::cout, secret, kSecretFields);
  }
  return Ok();
}

}  // namespace

void RegisterSecretCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* secret = root.add_subcommand("secret", "List secrets and read their values");
  secret->require_subcommand(1);

  CLI::App* list = secret->add_subcommand("list", "List secrets (metadata only)");
  list->callback([&ctx] { ctx.action = RunList; });

  auto show_args = std::make_shared<ShowArgs>();
  CLI::App* show = secret->add_subcommand("show", "Show a secret's metadata, or its value");
  show->add_option("id", show_args->id, "Secret id (sec_...)")->required();
  show->add_flag("--value", show_args->value,
                 "Print only the current value to stdout (audited; needs the secret's tags)");
  show->callback([&ctx, show_args] {
    ctx.action = [show_args](const GlobalOptions& g) { return RunShow(g, *show_args); };
  });
}

}  // namespace certfleet::cli
