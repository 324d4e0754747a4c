// /v1/agents (management: enrollment tokens, agents) and /v1/agent (the agent protocol:
// enrollment, long-poll, bundles, passphrases, reports, certificate renewal). docs/agents.md.
#include <functional>

#include "api/api_service.h"
#include "api/dto.h"
#include "api/json_body.h"
#include "api/list_page.h"
#include "api/poll_hub.h"
#include "api/problem.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "lifecycle/agent_http01.h"

namespace certfleet::api {
namespace {

using policy::Action;

constexpr int64_t kMaxWaitSeconds = 60;
constexpr int64_t kDefaultWaitSeconds = 25;
constexpr size_t kMaxPemField = 16 << 10;

// Agent routes authenticate with the client certificate; every one is audited except the poll.
void AddAgentRoute(Router<RouteSpec>& router, const std::string& method, const std::string& pattern,
                   const std::string& audit_action, RouteHandler handler, bool audit_reads) {
  RouteSpec spec;
  spec.handler = std::move(handler);
  spec.audit_action = audit_action;
  spec.audit_success = method != "GET";
  spec.audit_reads = audit_reads;
  spec.authenticated = false;
  spec.agent_auth = true;
  router.Add(method, pattern, std::move(spec));
}

Result<std::optional<Seconds>> OptDuration(JsonBody& body, const std::string& key) {
  CF_ASSIGN_OR_RETURN(auto text, body.OptString(key, 32));
  if (!text) return std::optional<Seconds>();
  CF_ASSIGN_OR_RETURN(Seconds d, ParseDuration(*text));
  return std::optional<Seconds>(d);
}

// What a poll hands the agent: install assignments and http-01 challenges (docs/agents.md).
struct AgentWork {
  std::vector<lifecycle::AgentJob> jobs;
  std::vector<store::AgentChallenge> challenges;
  bool empty() const { return jobs.empty() && challenges.empty(); }
};

Result<AgentWork> PendingWork(ApiDeps& deps, const model::Agent& agent) {
  AgentWork work;
  CF_ASSIGN_OR_RETURN(work.jobs, deps.deployments.PendingJobs(agent));
  CF_ASSIGN_OR_RETURN(work.challenges, lifecycle::PendingAgentChallenges(deps.store, agent));
  return work;
}

net::HttpResponse JobsResponse(const AgentWork& work) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& j : work.jobs) items.push_back(AgentJobJson(j));
  nlohmann::json challenges = nlohmann::json::array();
  for (const auto& c : work.challenges) {
    challenges.push_back({{"token", c.token},
                          {"identifier", c.identifier},
                          {"key_authorization", c.key_authorization},
                          {"action", c.state == "remove" ? "remove" : "present"}});
  }
  return JsonResponse(200, {{"jobs", std::move(items)}, {"challenges", std::move(challenges)}});
}

nlohmann::json CredentialsJson(const lifecycle::AgentCredentials& c) {
  return {{"agent_id", c.agent.id}, {"account", c.agent.account_id},
          {"tags", c.agent.tags},   {"certificate", c.certificate_pem},
          {"chain", c.chain_pem},   {"not_after", FormatRfc3339(c.not_after)}};
}

// Resolves the account of a resource named by id alone (agents, enrollment tokens) and checks
// `action` on it: a resource of an account the caller may not act on answers NotFound, exactly
// like an unknown id.
Result<model::Account> OwningAccount(
    ApiDeps& deps, const RequestContext& ctx, std::string_view what, std::string_view id_prefix,
    const std::function<Result<std::string>(const std::string&)>& account_of_id) {
  struct Owner {
    std::string account_id;
  };
  CF_ASSIGN_OR_RETURN(Owner owner,
                      LoadForAction(
                          ctx, what, ctx.params.at("id"), id_prefix, Action::kAgentWrite,
                          [&](const std::string& id) -> Result<Owner> {
                            CF_ASSIGN_OR_RETURN(std::string account_id, account_of_id(id));
                            return Owner{std::move(account_id)};
                          },
                          [](const Owner& o) { return o.account_id; }));
  return deps.governance.ResolveAccount(owner.account_id);
}

// GET /v1/agents?limit=&cursor=&account=&tag=k:v&status=&online=&hostname= (docs/api.md):
// keyset pages by id. Online means seen within the metrics' online window (default 300 s).
Result<net::HttpResponse> ListAgents(ApiDeps& deps, const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(ListRequest l, ParseListRequest(deps, ctx, "agents",
                                                      {"limit", "cursor", "account", "tag",
                                                       "status", "online", "hostname"},
                                                      Action::kAgentRead));
  const ListQuery& q = l.query;
  const PageRequest& page = l.page;
  store::AgentFilter f{.limit = page.fetch(), .after_id = page.after_id()};
  CF_ASSIGN_OR_RETURN(f.tags, QueryTags(q));
  CF_ASSIGN_OR_RETURN(auto status, QueryChoice(q, "status", {"active", "disabled", "revoked"}));
  if (status) {
    CF_ASSIGN_OR_RETURN(f.status, model::ParseAgentStatus(*status));
  }
  CF_ASSIGN_OR_RETURN(auto online, QueryChoice(q, "online", {"true", "false"}));
  if (online) {
    const TimePoint since = deps.clock.Now() - deps.metrics.agent_online_window;
    (*online == "true" ? f.seen_since : f.unseen_since) = since;
  }
  CF_ASSIGN_OR_RETURN(auto hostname, QueryText(q, "hostname", 253));
  f.hostname_contains = hostname.value_or("");
  f.account_id = l.account.id;
  CF_ASSIGN_OR_RETURN(auto tx, deps.store.BeginRead());
  CF_ASSIGN_OR_RETURN(auto rows, tx->agents().List(f));
  return JsonResponse(200, PageJson(rows, page, AgentJson, kById));
}

// GET /v1/agents/enrollment-tokens?limit=&cursor=&account=: paged in memory by id (tokens are
// made by hand, one per host to enroll).
Result<net::HttpResponse> ListEnrollmentTokens(ApiDeps& deps, const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(ListRequest l,
                      ParseListRequest(deps, ctx, "enrollment-tokens",
                                       {"limit", "cursor", "account"}, Action::kAgentRead));
  CF_ASSIGN_OR_RETURN(auto tokens, deps.agents.ListEnrollmentTokens(l.account.id));
  return SmallPage(std::move(tokens), l.page, EnrollmentTokenJson);
}

void AddManagementRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  // Revocation (issue #13): by an admin of the agent's (token's) account or a system admin.
  AddRoute(router, "POST", "/v1/agents/enrollment-tokens/{id}/revoke", Action::kAgentWrite,
           "agent.enrollment_token.revoke",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             const std::string& id = ctx.params.at("id");
             CF_ASSIGN_OR_RETURN(
                 model::Account account,
                 OwningAccount(
                     deps, ctx, "enrollment token", model::kEnrollmentTokenPrefix,
                     [&](const std::string& k) { return deps.agents.EnrollmentTokenAccount(k); }));
             ctx.audit_resource = id;
             CF_ASSIGN_OR_RETURN(
                 auto t, deps.agents.RevokeEnrollmentToken(account.id, id, ctx.caller->audit));
             return JsonResponse(200, EnrollmentTokenJson(t));
           });
  AddRoute(router, "POST", "/v1/agents/{id}/revoke", Action::kAgentWrite, "agent.revoke",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             const std::string& id = ctx.params.at("id");
             CF_ASSIGN_OR_RETURN(
                 model::Account account,
                 OwningAccount(deps, ctx, "agent", model::kAgentPrefix,
                               [&](const std::string& k) { return deps.agents.AgentAccount(k); }));
             ctx.audit_resource = id;
             CF_ASSIGN_OR_RETURN(auto agent, deps.agents.Revoke(*ctx.caller, account.id, id));
             return JsonResponse(200, AgentJson(agent));
           });
  AddRoute(router, "POST", "/v1/agents/enrollment-tokens", Action::kAgentWrite,
           "agent.enrollment_token.create",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(auto account_key, body.OptString("account", 128));
             CF_ASSIGN_OR_RETURN(auto tags, body.OptStringMap("tags"));
             CF_ASSIGN_OR_RETURN(auto ttl, OptDuration(body, "expires"));
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(model::Account account,
                                 TargetAccount(deps, ctx, account_key, Action::kAgentWrite));
             CF_ASSIGN_OR_RETURN(
                 auto issued, deps.agents.CreateEnrollmentToken(*ctx.caller, account.id,
                                                                tags.value_or(model::Tags{}), ttl));
             ctx.audit_resource = issued.record.id;
             nlohmann::json j = EnrollmentTokenJson(issued.record);
             j["token"] = std::string(issued.token.view());
             return JsonResponse(201, j);
           });
  AddRoute(router, "GET", "/v1/agents/enrollment-tokens", Action::kAgentRead,
           "agent.enrollment_token.list",
           [&deps](const RequestContext& ctx) { return ListEnrollmentTokens(deps, ctx); });
  AddRoute(router, "GET", "/v1/agents", Action::kAgentRead, "agent.list",
           [&deps](const RequestContext& ctx) { return ListAgents(deps, ctx); });
  AddRoute(router, "GET", "/v1/agents/{id}", Action::kAgentRead, "agent.read",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(
                 model::Account account,
                 TargetAccount(deps, ctx, ctx.request.query("account"), Action::kAgentRead));
             CF_ASSIGN_OR_RETURN(auto agent, deps.agents.Get(account.id, ctx.params.at("id")));
             return JsonResponse(200, AgentJson(agent));
           });
}

void AddProtocolRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  // Enrollment: the one-time token is the credential. Audited whatever the outcome (a reused
  // token is an alert).
  RouteSpec enroll;
  enroll.authenticated = false;
  enroll.audit_success = true;
  enroll.audit_action = "agent.enroll";
  enroll.handler = [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
    CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
    CF_ASSIGN_OR_RETURN(auto token, body.OptSecret("token", 128));
    CF_ASSIGN_OR_RETURN(std::string csr, body.String("csr", kMaxPemField));
    CF_ASSIGN_OR_RETURN(std::string hostname, body.String("hostname", 253));
    CF_TRY(body.NoOtherFields());
    if (!token) return InvalidArgument("field \"token\" is required");
    lifecycle::EnrollRequest req{std::string(token->view()), std::move(csr), std::move(hostname)};
    auto creds = deps.agents.Enroll(req);
    SecureWipe(req.token.data(), req.token.size());
    if (!creds.ok()) return std::move(creds).error();
    ctx.audit_resource = creds->agent.id;
    ctx.audit_account = creds->agent.account_id;
    return JsonResponse(201, CredentialsJson(*creds));
  };
  router.Add("POST", "/v1/agent/enroll", std::move(enroll));

  AddAgentRoute(
      router, "GET", "/v1/agent/jobs", "agent.poll",
      [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
        CF_ASSIGN_OR_RETURN(int64_t wait,
                            QueryInt(ctx, "wait", kDefaultWaitSeconds, kMaxWaitSeconds));
        const model::Agent agent = *ctx.agent;
        CF_ASSIGN_OR_RETURN(AgentWork work, PendingWork(deps, agent));
        if (!work.empty() || wait == 0 || deps.poll_hub == nullptr) return JobsResponse(work);
        auto check = [&deps, agent]() -> std::optional<net::HttpResponse> {
          // A poll parked before the agent was revoked (or disabled) ends now, refused like
          // its next request would be: AgentService::Revoke wakes it through the notifier.
          auto active = deps.agents.IsActive(agent.id);
          if (active.ok() && !*active) {
            return ProblemResponse(Unauthorized("agent has been revoked or disabled"));
          }
          auto found = PendingWork(deps, agent);
          if (!found.ok() || found->empty()) return std::nullopt;
          return JobsResponse(*found);
        };
        return deps.poll_hub->Park(agent.id, std::chrono::seconds(wait), check,
                                   [] { return JobsResponse(AgentWork{}); });
      },
      /*audit_reads=*/false);

  AddAgentRoute(
      router, "GET", "/v1/agent/jobs/{id}/bundle", "agent.bundle_read",
      [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
        CF_ASSIGN_OR_RETURN(auto bundle, deps.deployments.Bundle(*ctx.agent, ctx.params.at("id")));
        return JsonResponse(200, {{"seq", bundle.seq},
                                  {"certificate", bundle.certificate_pem},
                                  {"chain", bundle.chain_pem},
                                  {"private_key", std::string(bundle.encrypted_key_pem.view())}});
      },
      /*audit_reads=*/true);

  AddAgentRoute(
      router, "GET", "/v1/agent/secrets/{id}", "secret.read_value",
      [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
        CF_ASSIGN_OR_RETURN(int64_t version, QueryInt(ctx, "version", 0, 1 << 30));
        CF_ASSIGN_OR_RETURN(SecretBytes value,
                            deps.secrets.ReadValue(*ctx.caller, ctx.params.at("id"), int(version)));
        return JsonResponse(200, {{"id", ctx.params.at("id")},
                                  {"version", version},
                                  {"value", std::string(value.view())}});
      },
      /*audit_reads=*/true);

  AddAgentRoute(
      router, "POST", "/v1/agent/jobs/{id}/report", "agent.report",
      [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
        CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
        CF_ASSIGN_OR_RETURN(auto seq, body.OptInt("seq", 1, INT64_MAX));
        CF_ASSIGN_OR_RETURN(std::string state, body.String("state", 32));
        CF_ASSIGN_OR_RETURN(auto reason, body.OptString("reason", 1024));
        CF_ASSIGN_OR_RETURN(auto paths, body.OptStringArray("paths", 32, 4096));
        CF_ASSIGN_OR_RETURN(auto serial, body.OptString("serial", 128));
        CF_TRY(body.NoOtherFields());
        if (!seq) return InvalidArgument("field \"seq\" is required");
        CF_ASSIGN_OR_RETURN(model::TargetState st, model::ParseTargetState(state));
        lifecycle::AgentReport report{.seq = *seq,
                                      .state = st,
                                      .reason = reason.value_or(""),
                                      .paths = paths.value_or(std::vector<std::string>{}),
                                      .serial_hex = serial.value_or("")};
        CF_TRY(deps.deployments.Report(*ctx.agent, ctx.params.at("id"), std::move(report)));
        return JsonResponse(200, {{"accepted", true}});
      },
      /*audit_reads=*/false);

  // The agent's answer to an http-01 challenge of its poll (lifecycle/agent_http01.h).
  AddAgentRoute(
      router, "POST", "/v1/agent/challenges/{token}", "agent.challenge_ack",
      [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
        CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
        CF_ASSIGN_OR_RETURN(std::string state, body.String("state", 32));
        CF_ASSIGN_OR_RETURN(auto reason, body.OptString("reason", 1024));
        CF_TRY(body.NoOtherFields());
        CF_TRY(lifecycle::AcknowledgeAgentChallenge(deps.store, deps.clock, *ctx.agent,
                                                    ctx.params.at("token"), state,
                                                    reason.value_or("")));
        return JsonResponse(200, {{"accepted", true}});
      },
      /*audit_reads=*/false);

  AddAgentRoute(
      router, "POST", "/v1/agent/renew", "agent.renew",
      [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
        CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
        CF_ASSIGN_OR_RETURN(std::string csr, body.String("csr", kMaxPemField));
        CF_TRY(body.NoOtherFields());
        CF_ASSIGN_OR_RETURN(auto creds,
                            deps.agents.Renew(*ctx.agent, csr, ctx.request.client_cert_der));
        ctx.audit_resource = creds.agent.id;
        return JsonResponse(200, CredentialsJson(creds));
      },
      /*audit_reads=*/false);
}

}  // namespace

void AddAgentRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  AddManagementRoutes(router, deps);
  AddProtocolRoutes(router, deps);
}

}  // namespace certfleet::api
