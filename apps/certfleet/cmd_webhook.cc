// certfleet webhook {create,list,show,disable,deliveries} (docs/events.md). The signing secret
// is read from a file (never argv), sent once, and never shown again by the server.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "api_client.h"
#include "args.h"
#include "cli.h"
#include "files.h"
#include "output.h"
#include "paging.h"
#include "query.h"

namespace certfleet::cli {
namespace {

constexpr size_t kMaxSecretFileBytes = 4096;

struct CreateArgs {
  std::string account;
  std::string url;
  std::vector<std::string> types;
  std::vector<std::string> tags;
  std::string secret_file;
  bool allow_private_address = false;
};

const std::vector<Column> kWebhookColumns = {
    {"ID", "id"}, {"URL", "url"}, {"TYPES", "types"}, {"TAGS", "tags"}, {"ACTIVE", "active"}};
const std::vector<Column> kWebhookFields = {{"id", "id"},
                                            {"account", "account_id"},
                                            {"url", "url"},
                                            {"types", "types"},
                                            {"tags", "tags"},
                                            {"allow private address", "allow_private_address"},
                                            {"active", "active"},
                                            {"created by", "created_by"},
                                            {"created at", "created_at"},
                                            {"updated at", "updated_at"}};
const std::vector<Column> kDeliveryColumns = {
    {"ID", "id"},           {"EVENT", "event_id"},   {"STATUS", "status"},
    {"ATTEMPT", "attempt"}, {"HTTP", "http_status"}, {"NEXT ATTEMPT", "next_attempt_at"},
    {"ERROR", "error"}};

// `rest` (a JSON object) with "secret" added, serialized straight into SecretBytes.
SecretBytes BodyWithSecret(const nlohmann::json& rest, const SecretBytes& secret) {
  // ExportBodyWithPassphrase gives {"passphrase":"<escaped>"}; keep its escaped string.
  const SecretBytes one = ExportBodyWithPassphrase(secret);
  const std::string_view value = one.view().substr(std::string_view("{\"passphrase\":").size());
  std::string head = rest.dump();
  head.pop_back();  // the closing '}'
  SecretBytes body;
  body.Append(head);
  if (head.size() > 1) body.Append(",");
  body.Append("\"secret\":");
  body.Append(value);  // ends with the closing '}'
  return body;
}

Status RunCreate(const GlobalOptions& global, const CreateArgs& args) {
  auto content = ReadSmallSecretFile(args.secret_file, kMaxSecretFileBytes);
  if (!content.ok()) {
    return Error(content.error().code(), "cannot read --secret-file: " + content.error().message());
  }
  auto secret = PassphraseFromFile(std::move(content).value());
  if (!secret.ok()) return InvalidArgument(args.secret_file + ": " + secret.error().message());
  CF_ASSIGN_OR_RETURN(auto tags, ParseTags(args.tags));
  nlohmann::json rest = {{"url", args.url},
                         {"types", args.types},
                         {"tags", tags},
                         {"allow_private_address", args.allow_private_address}};
  if (!args.account.empty()) rest["account"] = args.account;

  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto response,
                      api->PostSecret("/v1/webhooks", BodyWithSecret(rest, *secret)));
  if (global.json) {
    PrintJson(std::cout, response);
  } else {
    PrintFields(std::cout, response, kWebhookFields);
  }
  return Ok();
}

Status RunShow(const GlobalOptions& global, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto value, api->Get("/v1/webhooks/" + PathSegment(id)));
  if (global.json) {
    PrintJson(std::cout, value);
  } else {
    PrintFields(std::cout, value, kWebhookFields);
  }
  return Ok();
}

Status RunDisable(const GlobalOptions& global, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto value, api->Post("/v1/webhooks/" + PathSegment(id) + "/disable",
                                            nlohmann::json::object()));
  if (global.json) {
    PrintJson(std::cout, value);
  } else {
    PrintFields(std::cout, value, kWebhookFields);
  }
  return Ok();
}

}  // namespace

void RegisterWebhookCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* webhook = root.add_subcommand("webhook", "Webhook subscriptions to certfleet events");
  webhook->require_subcommand(1);

  auto args = std::make_shared<CreateArgs>();
  CLI::App* create = webhook->add_subcommand(
      "create", "Subscribe a URL to events (CloudEvents JSON, signed with HMAC-SHA256)");
  create->add_option("--account", args->account, "Account id or name (default: the caller's)");
  create->add_option("--url", args->url, "https:// receiver URL")->required();
  create
      ->add_option("--type", args->types,
                   "Event type or pattern: certificate.renewed, certificate.* or * (repeatable)")
      ->required()
      ->allow_extra_args(false);
  create
      ->add_option("--tag", args->tags,
                   "Only events whose resource carries tag KEY=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->check(CLI::Validator(CheckTagSpec, "KEY=VALUE"));
  create
      ->add_option("--secret-file", args->secret_file,
                   "File holding the signing secret (16 to 1024 bytes)")
      ->required();
  create->add_flag("--allow-private-address", args->allow_private_address,
                   "Allow loopback, private and link-local receivers (and http://), within "
                   "the networks certfleetd's configuration ([[outbound.allow]]) gives the "
                   "account; refused (403) when it gives none");
  create->callback([&ctx, args] {
    if (auto tags = ParseTags(args->tags); !tags.ok()) {
      throw CLI::ValidationError("--tag", tags.error().message());
    }
    ctx.action = [args](const GlobalOptions& g) { return RunCreate(g, *args); };
  });

  AddAccountListCommand(*webhook, ctx, "list", "List the webhooks of an account", "/v1/webhooks",
                        "webhooks", kWebhookColumns);

  auto show_id = std::make_shared<std::string>();
  CLI::App* show = webhook->add_subcommand("show", "Show one webhook");
  show->add_option("id", *show_id, "Webhook id (whk_...)")->required();
  show->callback([&ctx, show_id] {
    ctx.action = [show_id](const GlobalOptions& g) { return RunShow(g, *show_id); };
  });

  auto disable_id = std::make_shared<std::string>();
  CLI::App* disable = webhook->add_subcommand("disable", "Stop deliveries to a webhook");
  disable->add_option("id", *disable_id, "Webhook id (whk_...)")->required();
  disable->callback([&ctx, disable_id] {
    ctx.action = [disable_id](const GlobalOptions& g) { return RunDisable(g, *disable_id); };
  });

  struct DeliveriesArgs {
    std::string id;
    PageArgs page;
  };
  auto deliveries_args = std::make_shared<DeliveriesArgs>();
  CLI::App* deliveries =
      webhook->add_subcommand("deliveries", "The delivery log of a webhook, newest first");
  deliveries->add_option("id", deliveries_args->id, "Webhook id (whk_...)")->required();
  AddPageOptions(*deliveries, deliveries_args->page, "deliveries");
  deliveries->callback([&ctx, deliveries_args] {
    ctx.action = [deliveries_args](const GlobalOptions& g) {
      return RunListing(g, "/v1/webhooks/" + PathSegment(deliveries_args->id) + "/deliveries",
                        QueryString(), deliveries_args->page, "deliveries", kDeliveryColumns);
    };
  });
}

}  // namespace certfleet::cli
