// certfleet deploy {create,show,list,redeploy} (docs/agents.md, "Deployments"). A deployment
// names a certificate, the account whose agents receive it, a tag selector and the name of a
// profile in the agents' own configuration; the server never sends a path or a command.
//
// --wait polls GET /v1/deployments/{id} with a bounded backoff until the state is final or
// --timeout passes. The exit status is 0 only for "succeeded": "failed", "no_targets" and a
// timeout exit 1 with the state and the reason of every target that did not succeed. The command
// and flag names are a pinned public surface.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "api_client.h"
#include "args.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "cli.h"
#include "deployments.h"
#include "output.h"
#include "paging.h"
#include "query.h"

namespace certfleet::cli {
namespace {

constexpr char kDefaultWaitTimeout[] = "10m";

struct WaitArgs {
  bool wait = false;
  std::string timeout = kDefaultWaitTimeout;
};

struct CreateArgs {
  std::string certificate;
  std::string account;
  std::vector<std::string> selector;
  std::string profile;
  std::string deadline;
  WaitArgs wait;
};

struct ListArgs {
  std::string account;
  std::string certificate;
  std::string state;
  PageArgs page;
};

struct RedeployArgs {
  std::string id;
  WaitArgs wait;
};

const std::vector<Column> kDeploymentFields = {{"id", "id"},
                                               {"account", "account"},
                                               {"certificate", "certificate"},
                                               {"target account", "target_account"},
                                               {"selector", "selector"},
                                               {"profile", "profile"},
                                               {"state", "state"},
                                               {"state detail", "state_detail"},
                                               {"generation", "generation"},
                                               {"version", "version"},
                                               {"version id", "version_id"},
                                               {"secret id", "secret_id"},
                                               {"secret version", "secret_version"},
                                               {"job id", "job_id"},
                                               {"deadline", "deadline"},
                                               {"created at", "created_at"},
                                               {"updated at", "updated_at"}};
const std::vector<Column> kDeploymentColumns = {{"ID", "id"},
                                                {"CERTIFICATE", "certificate"},
                                                {"TARGET ACCOUNT", "target_account"},
                                                {"SELECTOR", "selector"},
                                                {"PROFILE", "profile"},
                                                {"STATE", "state"},
                                                {"GENERATION", "generation"},
                                                {"UPDATED AT", "updated_at"}};

void PrintDeployment(std::ostream& out, const nlohmann::json& deployment) {
  PrintFields(out, deployment, kDeploymentFields);
  auto targets = deployment.is_object() ? deployment.find("targets") : deployment.end();
  if (targets == deployment.end() || !targets->is_array()) return;
  out << '\n';
  if (targets->empty()) {
    out << "no targets\n";
    return;
  }
  Table table({"AGENT", "HOSTNAME", "STATE", "VERSION", "GENERATION", "REASON"});
  for (const auto& t : *targets) {
    table.AddRow({Field(t, "agent"), Field(t, "hostname"), Field(t, "state"), TargetVersion(t),
                  Field(t, "generation"), Field(t, "reason")});
  }
  table.Print(out);
}

// Polls the deployment until it leaves "running" or `timeout` passes; returns the last state
// seen (still "running" on timeout). Transient errors are retried until then.
Result<nlohmann::json> WaitForDeployment(ApiClient& api, nlohmann::json deployment,
                                         std::chrono::seconds timeout) {
  CF_ASSIGN_OR_RETURN(bool running, DeploymentRunning(deployment));
  const std::string path = "/v1/deployments/" + PathSegment(deployment.value("id", ""));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::chrono::milliseconds delay{0};
  while (running) {
    delay = NextPollDelay(delay);
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(delay, deadline - now));
    Result<nlohmann::json> polled = api.Get(path);
    if (!polled.ok()) {
      // A restarting server or a dropped connection does not end the wait; --timeout does.
      if (!RetryableWhileWaiting(polled.error())) return polled.error();
      std::cerr << "warning: " << polled.error().message() << "; still waiting\n";
      continue;
    }
    deployment = std::move(polled).value();
    CF_ASSIGN_OR_RETURN(running, DeploymentRunning(deployment));
  }
  return deployment;
}

// Prints `deployment` (after waiting for it when asked) and returns the command's status.
Status Finish(const GlobalOptions& global, ApiClient& api, nlohmann::json deployment,
              const WaitArgs& wait) {
  if (wait.wait) {
    if (!deployment.is_object() || !deployment.contains("id") || !deployment["id"].is_string()) {
      return Malformed("the server's deployment has no \"id\"");
    }
    CF_ASSIGN_OR_RETURN(std::chrono::seconds timeout, ParseDuration(wait.timeout));
    CF_ASSIGN_OR_RETURN(deployment, WaitForDeployment(api, std::move(deployment), timeout));
  }
  if (global.json) {
    PrintJson(std::cout, deployment);
  } else {
    PrintDeployment(std::cout, deployment);
  }
  std::cout.flush();
  if (!wait.wait) return Ok();
  Status outcome = DeploymentOutcome(deployment);
  if (!outcome.ok() && outcome.error().code() == ErrorCode::kTimeout) {
    return Error(ErrorCode::kTimeout, outcome.error().message() + " after " + wait.timeout +
                                          " (see certfleet deploy show " + Field(deployment, "id") +
                                          ")");
  }
  return outcome;
}

Status RunCreate(const GlobalOptions& global, const CreateArgs& args) {
  CF_ASSIGN_OR_RETURN(auto selector, ParseTags(args.selector));  // already checked while parsing
  nlohmann::json body = {
      {"certificate", args.certificate}, {"selector", selector}, {"profile", args.profile}};
  if (!args.account.empty()) body["target_account"] = args.account;
  if (!args.deadline.empty()) body["deadline"] = args.deadline;
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto deployment, api->Post("/v1/deployments", body));
  return Finish(global, *api, std::move(deployment), args.wait);
}

Status RunShow(const GlobalOptions& global, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto deployment, api->Get("/v1/deployments/" + PathSegment(id)));
  return Finish(global, *api, std::move(deployment), WaitArgs{});
}

Status RunList(const GlobalOptions& global, const ListArgs& args) {
  QueryString filters;
  filters.Add("account", args.account)
      .Add("certificate", args.certificate)
      .Add("state", args.state);
  return RunListing(global, "/v1/deployments", filters, args.page, "deployments",
                    kDeploymentColumns);
}

Status RunRedeploy(const GlobalOptions& global, const RedeployArgs& args) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(
      auto deployment,
      api->Post("/v1/deployments/" + PathSegment(args.id) + "/redeploy", nlohmann::json::object()));
  return Finish(global, *api, std::move(deployment), args.wait);
}

void AddWaitOptions(CLI::App& command, WaitArgs& wait) {
  command.add_flag("--wait", wait.wait,
                   "Wait until the deployment finishes; exit status 0 only if it succeeded");
  command
      .add_option("--timeout", wait.timeout,
                  std::string("How long --wait waits (default ") + kDefaultWaitTimeout + ")")
      ->check(CLI::Validator(CheckWaitTimeout, "DURATION"));
}

}  // namespace

void RegisterDeployCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* deploy =
      root.add_subcommand("deploy", "Install certificates on the agents that match a selector");
  deploy->require_subcommand(1);

  auto create_args = std::make_shared<CreateArgs>();
  CLI::App* create = deploy->add_subcommand(
      "create", "Deploy a certificate to every agent of an account that matches the selector");
  create->add_option("--cert", create_args->certificate, "Certificate id (crt_...)")->required();
  create->add_option("--account", create_args->account,
                     "Account whose agents receive it (default: the certificate's)");
  create
      ->add_option("--selector", create_args->selector,
                   "Tag KEY=VALUE an agent must carry (repeatable, at least one)")
      ->required()
      ->allow_extra_args(false)
      ->check(CLI::Validator(CheckTagSpec, "KEY=VALUE"));
  create
      ->add_option("--profile", create_args->profile,
                   "Name of the install profile in the agents' configuration")
      ->required()
      ->check(CLI::Validator(
          [](const std::string& name) {
            auto valid = ValidateName("profile", name);
            return valid.ok() ? std::string() : valid.error().message();
          },
          "NAME"));
  create
      ->add_option("--deadline", create_args->deadline,
                   "How long the agents have, 1m to 24h (server default 15m)")
      ->check(CLI::Validator(CheckDeploymentDeadline, "DURATION"));
  AddWaitOptions(*create, create_args->wait);
  create->callback([&ctx, create_args] {
    if (auto tags = ParseTags(create_args->selector); !tags.ok()) {
      throw CLI::ValidationError("--selector", tags.error().message());
    }
    ctx.action = [create_args](const GlobalOptions& g) { return RunCreate(g, *create_args); };
  });

  auto show_id = std::make_shared<std::string>();
  CLI::App* show = deploy->add_subcommand("show", "Show a deployment and its targets");
  show->add_option("id", *show_id, "Deployment id (dep_...)")->required();
  show->callback([&ctx, show_id] {
    ctx.action = [show_id](const GlobalOptions& g) { return RunShow(g, *show_id); };
  });

  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = deploy->add_subcommand("list", "List deployments");
  list->add_option("--account", list_args->account, "Account id or name");
  list->add_option("--cert", list_args->certificate, "Only deployments of this certificate");
  list->add_option("--state", list_args->state, "Only deployments in this state")
      ->check(CLI::IsMember({"running", "succeeded", "failed", "no_targets"}));
  AddPageOptions(*list, list_args->page, "deployments");
  list->callback([&ctx, list_args] {
    ctx.action = [list_args](const GlobalOptions& g) { return RunList(g, *list_args); };
  });

  auto redeploy_args = std::make_shared<RedeployArgs>();
  CLI::App* redeploy = deploy->add_subcommand(
      "redeploy",
      "Deploy again: a new generation, a fresh passphrase, to every agent that matches now");
  redeploy->add_option("id", redeploy_args->id, "Deployment id (dep_...)")->required();
  AddWaitOptions(*redeploy, redeploy_args->wait);
  redeploy->callback([&ctx, redeploy_args] {
    ctx.action = [redeploy_args](const GlobalOptions& g) { return RunRedeploy(g, *redeploy_args); };
  });
}

}  // namespace certfleet::cli
