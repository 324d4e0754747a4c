// certfleet token {create,list,revoke} (docs/api.md, "Accounts, principals, tokens"). The API shows
// a token only once, in the creation response, so this command either prints it once or writes it
// to a new 0600 file (--out, created with O_EXCL: an existing file, perhaps another principal's
// token, is never overwritten). The command and flag names are a pinned public surface.
#include <errno.h>
#include <sys/stat.h>

#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "api_client.h"
#include "args.h"
#include "base/files.h"
#include "cli.h"
#include "output.h"
#include "paging.h"
#include "query.h"

namespace certfleet::cli {
namespace {

struct CreateArgs {
  std::string principal;
  std::string account;
  std::string expires;
  std::string out;
};

// Fails early, before a token is minted that could not be saved: the path must not exist yet.
// (WriteNewFile's O_EXCL still decides; this only avoids creating a token in the common case.)
Status CheckOutputFree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) return Conflict(path + " exists already; not overwritten");
  if (errno != ENOENT) return InvalidArgument("cannot use " + path + " for --out");
  return Ok();
}

Status RunCreate(const GlobalOptions& global, const CreateArgs& args) {
  if (!args.out.empty()) CF_TRY(CheckOutputFree(args.out));
  nlohmann::json body = {{"principal", args.principal}};
  if (!args.account.empty()) body["account"] = args.account;
  if (!args.expires.empty()) body["expires"] = args.expires;

  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto response, api->Post("/v1/tokens", body));
  auto token = response.is_object() ? response.find("token") : response.end();
  if (!response.is_object() || token == response.end() || !token->is_string() ||
      token->get<std::string>().empty()) {
    WipeStringMember(response, "token");
    return Malformed("the token response has no \"token\"");
  }

  if (!args.out.empty()) {
    std::string content = token->get<std::string>() + "\n";
    Status written = WriteNewFile(args.out, content, 0600);
    SecureWipe(content.data(), content.size());
    WipeStringMember(response, "token");
    if (!written.ok()) {
      return Error(written.error().code(),
                   "token " + Field(response, "id") +
                       " was created but not saved: " + written.error().message());
    }
    if (global.json) {
      response["token_file"] = args.out;
      PrintJson(std::cout, response);
    } else {
      std::cout << Field(response, "id") << '\n';
    }
    return Ok();
  }

  if (global.json) {
    PrintJson(std::cout, response);
  } else {
    // The token alone on stdout (so "> file" captures just it); the rest is a note on stderr.
    std::cout << token->get<std::string>() << '\n';
    const nlohmann::json expires = response.value("expires_at", nlohmann::json());
    std::cerr << "created token " << Field(response, "id") << " for principal "
              << Field(response, "principal") << " ("
              << (expires.is_string() ? "expires " + Cell(expires) : std::string("no expiry"))
              << "); it is shown only this once\n";
  }
  WipeStringMember(response, "token");
  return Ok();
}

const std::vector<Column> kTokenColumns = {{"ID", "id"},
                                           {"PRINCIPAL", "principal"},
                                           {"CREATED AT", "created_at"},
                                           {"EXPIRES AT", "expires_at"},
                                           {"REVOKED", "revoked"}};

Status RunList(const GlobalOptions& global, const std::string& account,
               const std::string& principal, const PageArgs& page) {
  return RunListing(global, "/v1/tokens",
                    QueryString().Add("account", account).Add("principal", principal), page,
                    "tokens", kTokenColumns);
}

Status RunRevoke(const GlobalOptions& global, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(
      auto token, api->Post("/v1/tokens/" + PathSegment(id) + "/revoke", nlohmann::json::object()));
  if (global.json) {
    PrintJson(std::cout, token);
  } else {
    std::cout << "revoked token " << Field(token, "id") << " of principal "
              << Field(token, "principal") << '\n';
  }
  return Ok();
}

}  // namespace

void RegisterTokenCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* token = root.add_subcommand("token", "Create, list and revoke API tokens");
  token->require_subcommand(1);

  auto args = std::make_shared<CreateArgs>();
  CLI::App* create =
      token->add_subcommand("create", "Create a bearer token for a principal (shown only once)");
  create->add_option("--principal", args->principal, "Principal id or name")->required();
  create->add_option("--account", args->account,
                     "Account id or name (default: the caller's; not needed with a principal id)");
  create
      ->add_option("--expires", args->expires,
                   "Lifetime such as 30d or 12h, at most 3650d (default: 90d)")
      ->check(CLI::Validator(CheckDurationSpec, "DURATION"));
  create->add_option("--out", args->out,
                     "Write the token to this new file (mode 0600; must not exist) and print "
                     "only the token id");
  create->callback([&ctx, args] {
    ctx.action = [args](const GlobalOptions& g) { return RunCreate(g, *args); };
  });

  struct ListArgs {
    std::string account;
    std::string principal;
    PageArgs page;
  };
  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = token->add_subcommand("list", "List API tokens (never their values)");
  list->add_option("--account", list_args->account,
                   "Account id or name (default: the caller's; not needed with a principal id)");
  list->add_option("--principal", list_args->principal, "Only this principal's (id or name)");
  AddPageOptions(*list, list_args->page, "tokens");
  list->callback([&ctx, list_args] {
    ctx.action = [list_args](const GlobalOptions& g) {
      return RunList(g, list_args->account, list_args->principal, list_args->page);
    };
  });

  auto revoke_id = std::make_shared<std::string>();
  CLI::App* revoke =
      token->add_subcommand("revoke", "Revoke an API token: it answers 401 from its next request");
  revoke->add_option("id", *revoke_id, "Token id (tok_...)")->required();
  revoke->callback([&ctx, revoke_id] {
    ctx.action = [revoke_id](const GlobalOptions& g) { return RunRevoke(g, *revoke_id); };
  });
}

}  // namespace certfleet::cli
