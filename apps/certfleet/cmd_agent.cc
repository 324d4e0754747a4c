// certfleet agent {token create,token list,token revoke,list,show,revoke} (docs/agents.md,
// "Enrollment tokens" and "Agents"). An enrollment token binds the agent that uses it to an account
// and to tags chosen here, by an admin: the agent never chooses its own tags. The API shows a token
// only once, so `agent token create` prints it alone on stdout (ready for "> token-file") and wipes
// it from memory afterwards. The command and flag names are a pinned public surface.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "api_client.h"
#include "args.h"
#include "cli.h"
#include "deployments.h"
#include "output.h"
#include "paging.h"
#include "query.h"

namespace certfleet::cli {
namespace {

struct TokenCreateArgs {
  std::string account;
  std::vector<std::string> tags;
  std::string expires;
};

const std::vector<Column> kTokenColumns = {{"ID", "id"},
                                           {"ACCOUNT", "account"},
                                           {"TAGS", "tags"},
                                           {"EXPIRES AT", "expires_at"},
                                           {"USED AT", "used_at"},
                                           {"USED BY", "used_by_agent"},
                                           {"REVOKED AT", "revoked_at"}};

const std::vector<Column> kAgentFields = {{"id", "id"},
                                          {"account", "account"},
                                          {"principal", "principal"},
                                          {"hostname", "hostname"},
                                          {"tags", "tags"},
                                          {"status", "status"},
                                          {"cert serial", "cert_serial"},
                                          {"cert not after", "cert_not_after"},
                                          {"last seq", "last_seq"},
                                          {"last seen at", "last_seen_at"},
                                          {"created at", "created_at"}};
const std::vector<Column> kAgentColumns = {{"ID", "id"},
                                           {"HOSTNAME", "hostname"},
                                           {"TAGS", "tags"},
                                           {"STATUS", "status"},
                                           {"CERT NOT AFTER", "cert_not_after"},
                                           {"LAST SEEN", "last_seen_at"}};

Status RunTokenCreate(const GlobalOptions& global, const TokenCreateArgs& args) {
  CF_ASSIGN_OR_RETURN(auto tags, ParseTags(args.tags));  // already checked while parsing
  nlohmann::json body = {{"tags", tags}};
  if (!args.account.empty()) body["account"] = args.account;
  if (!args.expires.empty()) body["expires"] = args.expires;

  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto response, api->Post("/v1/agents/enrollment-tokens", body));
  auto token = response.is_object() ? response.find("token") : response.end();
  if (!response.is_object() || token == response.end() || !token->is_string() ||
      token->get<std::string>().empty()) {
    WipeStringMember(response, "token");
    return Malformed("the enrollment token response has no \"token\"");
  }
  if (global.json) {
    PrintJson(std::cout, response);
  } else {
    // The token alone on stdout (so "> file" captures just it); the rest is a note on stderr.
    std::cout << token->get<std::string>() << '\n';
    std::cerr << "created enrollment token " << Field(response, "id") << " for account "
              << Field(response, "account") << " with tags " << Field(response, "tags")
              << " (expires " << Field(response, "expires_at")
              << "); it is shown only this once and works once\n";
  }
  std::cout.flush();
  WipeStringMember(response, "token");
  return Ok();
}

struct ListArgs {
  std::string account;
  std::vector<std::string> tags;
  std::string status;
  std::string online;
  std::string hostname;
  PageArgs page;
};

Status RunList(const GlobalOptions& global, const ListArgs& args) {
  QueryString filters;
  filters.Add("account", args.account)
      .Add("status", args.status)
      .Add("online", args.online)
      .Add("hostname", args.hostname);
  AddTagFilters(filters, args.tags);
  return RunListing(global, "/v1/agents", filters, args.page, "agents", kAgentColumns);
}

Status RunShow(const GlobalOptions& global, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto agent, api->Get("/v1/agents/" + PathSegment(id)));
  if (global.json) {
    PrintJson(std::cout, agent);
  } else {
    PrintFields(std::cout, agent, kAgentFields);
  }
  return Ok();
}

// POST .../revoke for an agent or an enrollment token; prints the resource afterwards.
Status RunRevoke(const GlobalOptions& global, const std::string& path, const std::string& what) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto revoked, api->Post(path, nlohmann::json::object()));
  if (global.json) {
    PrintJson(std::cout, revoked);
  } else {
    std::cout << "revoked " << what << " " << Field(revoked, "id") << '\n';
  }
  return Ok();
}

void RegisterTokenSubcommands(CLI::App& agent, CommandContext& ctx) {
  CLI::App* token = agent.add_subcommand("token", "Create and list one-time enrollment tokens");
  token->require_subcommand(1);

  auto args = std::make_shared<TokenCreateArgs>();
  CLI::App* create = token->add_subcommand(
      "create", "Create a one-time enrollment token (shown only once) for agents of an account");
  create->add_option("--account", args->account, "Account id or name (default: the caller's)");
  create
      ->add_option("--tag", args->tags,
                   "Tag KEY=VALUE the enrolled agent carries forever (repeatable, at least one)")
      ->required()
      ->allow_extra_args(false)
      ->check(CLI::Validator(CheckTagSpec, "KEY=VALUE"));
  create->add_option("--expires", args->expires, "Lifetime, 1m to 30d (server default 1h)")
      ->check(CLI::Validator(CheckEnrollmentExpiry, "DURATION"));
  create->callback([&ctx, args] {
    // Each --tag is checked on its own above; duplicates need the whole list.
    if (auto tags = ParseTags(args->tags); !tags.ok()) {
      throw CLI::ValidationError("--tag", tags.error().message());
    }
    ctx.action = [args](const GlobalOptions& g) { return RunTokenCreate(g, *args); };
  });

  AddAccountListCommand(*token, ctx, "list", "List enrollment tokens (never their values)",
                        "/v1/agents/enrollment-tokens", "enrollment tokens", kTokenColumns);

  auto revoke_id = std::make_shared<std::string>();
  CLI::App* revoke = token->add_subcommand(
      "revoke", "Revoke an enrollment token: it can no longer enroll an agent");
  revoke->add_option("id", *revoke_id, "Enrollment token id (enr_...)")->required();
  revoke->callback([&ctx, revoke_id] {
    ctx.action = [revoke_id](const GlobalOptions& g) {
      return RunRevoke(g, "/v1/agents/enrollment-tokens/" + PathSegment(*revoke_id) + "/revoke",
                       "enrollment token");
    };
  });
}

}  // namespace

void RegisterAgentCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* agent = root.add_subcommand("agent", "Enroll and inspect certfleet agents");
  agent->require_subcommand(1);
  RegisterTokenSubcommands(*agent, ctx);

  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = agent->add_subcommand("list", "List the agents of an account");
  list->add_option("--account", list_args->account, "Account id or name (default: the caller's)");
  list->add_option("--tag", list_args->tags, "Only agents with tag KEY:VALUE (repeatable; all)")
      ->check(CLI::Validator(CheckTagFilter, "KEY:VALUE"));
  list->add_option("--status", list_args->status, "Only this status")
      ->check(CLI::IsMember({"active", "disabled", "revoked"}));
  list->add_flag_callback(
      "--online", [list_args] { list_args->online = "true"; },
      "Only agents seen within the online window (default 300 s)");
  list->add_flag_callback(
      "--offline", [list_args] { list_args->online = "false"; },
      "Only agents not seen within the online window, or never");
  list->add_option("--hostname", list_args->hostname,
                   "Only agents whose hostname contains this text (case-insensitive)");
  AddPageOptions(*list, list_args->page, "agents");
  list->callback([&ctx, list_args] {
    ctx.action = [list_args](const GlobalOptions& g) { return RunList(g, *list_args); };
  });

  auto show_id = std::make_shared<std::string>();
  CLI::App* show = agent->add_subcommand("show", "Show one agent");
  show->add_option("id", *show_id, "Agent id (agt_...)")->required();
  show->callback([&ctx, show_id] {
    ctx.action = [show_id](const GlobalOptions& g) { return RunShow(g, *show_id); };
  });

  auto revoke_id = std::make_shared<std::string>();
  CLI::App* revoke = agent->add_subcommand(
      "revoke",
      "Revoke an agent for good: its certificates are refused at once, its pending jobs "
      "cancelled");
  revoke->add_option("id", *revoke_id, "Agent id (agt_...)")->required();
  revoke->callback([&ctx, revoke_id] {
    ctx.action = [revoke_id](const GlobalOptions& g) {
      return RunRevoke(g, "/v1/agents/" + PathSegment(*revoke_id) + "/revoke", "agent");
    };
  });
}

}  // namespace certfleet::cli
