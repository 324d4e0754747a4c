// certfleet domain {claim,list,release} (docs/api.md "Domain claims"; docs/policy.md "Two
// layers"). A system admin assigns each account the domains it may hold; names outside an
// account's claims are refused at issuance and deployment (rule domain.unclaimed). The command
// and flag names are a pinned public surface.
#include <cctype>
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

struct ClaimArgs {
  std::string account;
  std::string domain;
  bool include_subdomains = false;
  bool shared = false;
};

struct ReleaseArgs {
  std::string id;
  std::string account;
  std::string domain;
};

const std::vector<Column> kClaimFields = {{"id", "id"},
                                          {"account", "account_name"},
                                          {"account id", "account"},
                                          {"domain", "domain"},
                                          {"include subdomains", "include_subdomains"},
                                          {"shared", "shared"},
                                          {"created by", "created_by"},
                                          {"created at", "created_at"}};
const std::vector<Column> kClaimColumns = {
    {"ID", "id"},         {"ACCOUNT", "account_name"},
    {"DOMAIN", "domain"}, {"SUBDOMAINS", "include_subdomains"},
    {"SHARED", "shared"}, {"CREATED AT", "created_at"}};

void PrintClaim(const GlobalOptions& global, const nlohmann::json& claim) {
  if (global.json) {
    PrintJson(std::cout, claim);
  } else {
    PrintFields(std::cout, claim, kClaimFields);
  }
}

Status RunClaim(const GlobalOptions& global, const ClaimArgs& args) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto claim,
                      api->Post("/v1/domains", {{"account", args.account},
                                                {"domain", args.domain},
                                                {"include_subdomains", args.include_subdomains},
                                                {"shared", args.shared}}));
  PrintClaim(global, claim);
  return Ok();
}

// The id of the claim of `domain` held by `account` (the domain compared as the server stores
// it: lower case, no trailing dot).
Result<std::string> FindClaimId(ApiClient& api, const std::string& account,
                                const std::string& domain) {
  std::string wanted = domain;
  for (char& c : wanted) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!wanted.empty() && wanted.back() == '.') wanted.pop_back();
  CF_ASSIGN_OR_RETURN(
      Listing list,
      FetchListing([&](const std::string& target) { return api.Get(target); }, "/v1/domains",
                   QueryString().Add("account", account), PageArgs{}, "domain claims"));
  for (const auto& item : list.items) {
    if (item.is_object() && item.value("domain", std::string()) == wanted) {
      return item.value("id", std::string());
    }
  }
  return NotFound("account " + account + " holds no claim on " + wanted);
}

Status RunRelease(const GlobalOptions& global, const ReleaseArgs& args) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  std::string id = args.id;
  if (id.empty()) {
    CF_ASSIGN_OR_RETURN(id, FindClaimId(*api, args.account, args.domain));
  }
  CF_ASSIGN_OR_RETURN(auto claim, api->Post("/v1/domains/" + PathSegment(id) + "/release",
                                            nlohmann::json::object()));
  PrintClaim(global, claim);
  return Ok();
}

}  // namespace

void RegisterDomainCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* domain = root.add_subcommand(
      "domain", "Domain claims: which names each account may hold (system admins assign them)");
  domain->require_subcommand(1);

  auto claim_args = std::make_shared<ClaimArgs>();
  CLI::App* claim =
      domain->add_subcommand("claim", "Assign a domain to an account (system admins only)");
  claim->add_option("--account", claim_args->account, "Account id or name")->required();
  claim->add_option("--domain", claim_args->domain, "DNS name, e.g. example.com (no wildcard)")
      ->required();
  claim->add_flag("--include-subdomains", claim_args->include_subdomains,
                  "Also cover every name below the domain (needed for its wildcards)");
  claim->add_flag("--shared", claim_args->shared,
                  "Let other accounts hold overlapping claims that are marked shared too");
  claim->callback([&ctx, claim_args] {
    ctx.action = [claim_args](const GlobalOptions& g) { return RunClaim(g, *claim_args); };
  });

  AddAccountListCommand(*domain, ctx, "list",
                        "List domain claims (system admins: every account's unless --account)",
                        "/v1/domains", "domain claims", kClaimColumns);

  auto release_args = std::make_shared<ReleaseArgs>();
  CLI::App* release = domain->add_subcommand(
      "release", "Release a domain claim, by id or by --account and --domain (system admins)");
  release->add_option("id", release_args->id, "Claim id (dcl_...)");
  CLI::Option* account =
      release->add_option("--account", release_args->account, "Account id or name");
  CLI::Option* name = release->add_option("--domain", release_args->domain, "Claimed domain");
  account->needs(name);
  name->needs(account);
  release->callback([&ctx, release_args] {
    if (release_args->id.empty() == release_args->domain.empty()) {
      throw CLI::ValidationError("domain release", "give a claim id, or --account and --domain");
    }
    ctx.action = [release_args](const GlobalOptions& g) { return RunRelease(g, *release_args); };
  });
}

}  // namespace certfleet::cli
