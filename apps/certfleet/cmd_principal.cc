// certfleet principal {create,list,tag,disable,enable} (docs/api.md, "Accounts, principals,
// tokens"). Tags are assigned by administrators only; a principal cannot set its own (rule
// tags.self_assign). The command and flag names are a pinned public surface.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "api_client.h"
#include "args.h"
#include "cli.h"
#include "output.h"
#include "paging.h"
#include "query.h"

namespace certfleet::cli {
namespace {

struct CreateArgs {
  std::string account;
  std::string name;
  std::string role;
  std::string kind;
  std::vector<std::string> tags;
};

struct TagArgs {
  std::string account;
  std::string principal;
  std::vector<std::string> tags;
};

const std::vector<Column> kPrincipalFields = {{"id", "id"},
                                              {"account", "account"},
                                              {"name", "name"},
                                              {"kind", "kind"},
                                              {"role", "role"},
                                              {"tags", "tags"},
                                              {"disabled", "disabled"},
                                              {"created at", "created_at"}};
const std::vector<Column> kPrincipalColumns = {
    {"ID", "id"},     {"NAME", "name"}, {"ACCOUNT", "account"},   {"KIND", "kind"},
    {"ROLE", "role"}, {"TAGS", "tags"}, {"DISABLED", "disabled"}, {"CREATED AT", "created_at"}};

void PrintPrincipal(const GlobalOptions& global, const nlohmann::json& principal) {
  if (global.json) {
    PrintJson(std::cout, principal);
  } else {
    PrintFields(std::cout, principal, kPrincipalFields);
  }
}

Status RunCreate(const GlobalOptions& global, const CreateArgs& args) {
  nlohmann::json body = {{"account", args.account}, {"name", args.name}, {"role", args.role}};
  if (!args.kind.empty()) body["kind"] = args.kind;
  if (!args.tags.empty()) {
    CF_ASSIGN_OR_RETURN(auto tags, ParseTags(args.tags));  // already checked while parsing
    body["tags"] = tags;
  }
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto principal, api->Post("/v1/principals", body));
  PrintPrincipal(global, principal);
  return Ok();
}

Status RunTag(const GlobalOptions& global, const TagArgs& args) {
  CF_ASSIGN_OR_RETURN(auto tags, ParseTags(args.tags));
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  const std::string path = QueryString()
                               .Add("account", args.account)
                               .Append("/v1/principals/" + PathSegment(args.principal));
  CF_ASSIGN_OR_RETURN(auto principal, api->Patch(path, {{"tags", tags}}));
  PrintPrincipal(global, principal);
  return Ok();
}

// POST /v1/principals/{id}/disable|enable: every token of a disabled principal answers 401.
Status RunSetDisabled(const GlobalOptions& global, const std::string& account,
                      const std::string& name, bool disabled) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  const std::string path =
      QueryString()
          .Add("account", account)
          .Append("/v1/principals/" + PathSegment(name) + (disabled ? "/disable" : "/enable"));
  CF_ASSIGN_OR_RETURN(auto principal, api->Post(path, nlohmann::json::object()));
  PrintPrincipal(global, principal);
  return Ok();
}

// Each --tag is checked on its own by CheckTagSpec; a key given twice needs the whole list.
void CheckTagList(const std::vector<std::string>& specs) {
  if (auto tags = ParseTags(specs); !tags.ok()) {
    throw CLI::ValidationError("--tag", tags.error().message());
  }
}

}  // namespace

void RegisterPrincipalCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* principal =
      root.add_subcommand("principal", "Create, list and tag principals (users, services, agents)");
  principal->require_subcommand(1);

  auto create_args = std::make_shared<CreateArgs>();
  CLI::App* create = principal->add_subcommand("create", "Create a principal");
  create->add_option("--account", create_args->account, "Account id or name")->required();
  create->add_option("--name", create_args->name, "Principal name, unique per account")->required();
  create->add_option("--role", create_args->role, "Role")
      ->required()
      ->check(CLI::IsMember({"admin", "operator", "auditor", "agent"}));
  create->add_option("--kind", create_args->kind, "Kind (default user; agent for the agent role)")
      ->check(CLI::IsMember({"user", "service", "agent"}));
  create->add_option("--tag", create_args->tags, "Tag KEY=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->check(CLI::Validator(CheckTagSpec, "KEY=VALUE"));
  create->callback([&ctx, create_args] {
    CheckTagList(create_args->tags);
    ctx.action = [create_args](const GlobalOptions& g) { return RunCreate(g, *create_args); };
  });

  AddAccountListCommand(*principal, ctx, "list", "List the principals of an account",
                        "/v1/principals", "principals", kPrincipalColumns);

  auto tag_args = std::make_shared<TagArgs>();
  CLI::App* tag = principal->add_subcommand(
      "tag", "Replace a principal's tags (administrators only; not one's own)");
  tag->add_option("--account", tag_args->account,
                  "Account id or name (default: the caller's; not needed with a principal id)");
  tag->add_option("--principal", tag_args->principal, "Principal id or name")->required();
  tag->add_option("--tag", tag_args->tags, "Tag KEY=VALUE (repeatable)")
      ->required()
      ->allow_extra_args(false)
      ->check(CLI::Validator(CheckTagSpec, "KEY=VALUE"));
  tag->callback([&ctx, tag_args] {
    CheckTagList(tag_args->tags);
    ctx.action = [tag_args](const GlobalOptions& g) { return RunTag(g, *tag_args); };
  });

  for (bool disabled : {true, false}) {
    struct Args {
      std::string name;
      std::string account;
    };
    auto args = std::make_shared<Args>();
    CLI::App* cmd = principal->add_subcommand(
        disabled ? "disable" : "enable",
        disabled ? "Disable a principal: all of its tokens answer 401 at once (not oneself)"
                 : "Enable a disabled principal again (its unexpired tokens work again)");
    cmd->add_option("name", args->name, "Principal id or name")->required();
    cmd->add_option("--account", args->account,
                    "Account id or name (default: the caller's; not needed with a principal id)");
    cmd->callback([&ctx, args, disabled] {
      ctx.action = [args, disabled](const GlobalOptions& g) {
        return RunSetDisabled(g, args->account, args->name, disabled);
      };
    });
  }
}

}  // namespace certfleet::cli
