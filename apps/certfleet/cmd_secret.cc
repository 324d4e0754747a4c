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
#include "paging.h"
#include "query.h"

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

struct ListArgs {
  std::string account;
  std::vector<std::string> tags;
  std::string kind;
  std::string name;
  PageArgs page;
};

Status RunList(const GlobalOptions& global, const ListArgs& args) {
  QueryString filters;
  filters.Add("account", args.account).Add("kind", args.kind).Add("name", args.name);
  AddTagFilters(filters, args.tags);
  return RunListing(global, "/v1/secrets", filters, args.page, "secrets", kSecretColumns);
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

  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = secret->add_subcommand("list", "List secrets (metadata only)");
  list->add_option("--account", list_args->account, "Account id or name (default: the caller's)");
  list->add_option("--tag", list_args->tags, "Only secrets with tag KEY:VALUE (repeatable; all)")
      ->check(CLI::Validator(CheckTagFilter, "KEY:VALUE"));
  list->add_option("--kind", list_args->kind, "Only secrets of this kind")
      ->check(CLI::IsMember({"passphrase", "generic"}));
  list->add_option("--name", list_args->name,
                   "Only secrets whose name contains this text (case-insensitive)");
  AddPageOptions(*list, list_args->page, "secrets");
  list->callback([&ctx, list_args] {
    ctx.action = [list_args](const GlobalOptions& g) { return RunList(g, *list_args); };
  });

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
