// /v1/issuers and /v1/solvers: the ACME issuers and challenge solvers of an account (issue #6;
// docs/api.md, "ACME issuers and solvers"). Secrets (the EAB HMAC key, a TSIG key file) are
// write-only: read with OptSecret, handed to the service in SecretBytes, never returned.
//
// The service scopes every call by Caller::account_id, so once TargetAccount has authorized the
// request for the account named in the body or query (a system administrator may name any), the
// handler passes a copy of the caller re-scoped to that account.
#include <string>
#include <utility>
#include <vector>

#include "api/api_service.h"
#include "api/json_body.h"
#include "api/list_page.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "lifecycle/acme_config_service.h"

namespace certfleet::api {
namespace {

using policy::Action;

// Field limits. A trust bundle of a few CA certificates is a few KiB; 1 MiB is also the server's
// whole request limit (net::HttpsServerOptions::max_body_bytes).
constexpr size_t kMaxNameLen = 64;
constexpr size_t kMaxUrlLen = 2048;
constexpr size_t kMaxTrustPemLen = size_t{1} << 20;
constexpr size_t kMaxContacts = 16;
constexpr size_t kMaxContactLen = 320;  // RFC 5321 address plus "mailto:"
constexpr size_t kMaxEabKidLen = 512;
constexpr size_t kMaxEabHmacLen = 1024;
constexpr size_t kMaxSolverRules = 64;
constexpr size_t kMaxSolverRuleLen = 320;  // a name, ':' and a DNS name (253)
constexpr size_t kMaxTsigKeyLen = size_t{64} << 10;
constexpr size_t kMaxProgramLen = 4096;  // PATH_MAX
constexpr size_t kMaxArgs = 64;
constexpr size_t kMaxArgLen = 4096;

nlohmann::json ViewJson(const lifecycle::AcmeConfigView& v) {
  return {{"id", v.id},
          {"account_id", v.account_id},
          {"kind", v.kind},
          {"name", v.name},
          {"type", v.type},
          {"config", v.config.is_null() ? nlohmann::json::object() : v.config},
          {"has_eab", v.has_eab},
          {"created_by", v.created_by},
          {"created_at", FormatRfc3339(v.created_at)},
          {"updated_at", FormatRfc3339(v.updated_at)}};
}

Result<lifecycle::AcmeConfigService*> Service(ApiDeps& deps) {
  if (deps.acme == nullptr) return Unavailable("ACME issuers are not configured").ForClients();
  return deps.acme;
}

// The caller, acting in `account` (already authorized by TargetAccount).
lifecycle::Caller InAccount(const RequestContext& ctx, const model::Account& account) {
  lifecycle::Caller c = *ctx.caller;
  c.account_id = account.id;
  return c;
}

// A field that only the other solver type uses must not be silently ignored.
Status RejectUnused(bool present, const char* field, const std::string& type) {
  if (!present) return Ok();
  return InvalidArgument(std::string("field \"") + field + "\" does not apply to solver type " +
                         QuoteForMessage(type));
}

Result<lifecycle::AcmeIssuerSpec> ParseIssuer(JsonBody& body) {
  lifecycle::AcmeIssuerSpec spec;
  CF_ASSIGN_OR_RETURN(spec.name, body.String("name", kMaxNameLen));
  CF_ASSIGN_OR_RETURN(std::string type, body.String("type", 16));
  CF_ASSIGN_OR_RETURN(spec.directory_url, body.String("directory_url", kMaxUrlLen));
  CF_ASSIGN_OR_RETURN(auto trust, body.OptString("trust_pem", kMaxTrustPemLen));
  CF_ASSIGN_OR_RETURN(auto contacts, body.OptStringArray("contacts", kMaxContacts, kMaxContactLen));
  CF_ASSIGN_OR_RETURN(auto eab_kid, body.OptString("eab_kid", kMaxEabKidLen));
  CF_ASSIGN_OR_RETURN(auto eab_hmac, body.OptSecret("eab_hmac", kMaxEabHmacLen));
  CF_ASSIGN_OR_RETURN(auto chain, body.OptString("preferred_chain", 256));
  CF_ASSIGN_OR_RETURN(auto profile, body.OptString("profile", 64));
  CF_ASSIGN_OR_RETURN(auto rules,
                      body.OptStringArray("solvers", kMaxSolverRules, kMaxSolverRuleLen));
  CF_TRY(body.NoOtherFields());
  if (type != "acme") {
    return InvalidArgument("field \"type\" must be \"acme\" (the only issuer type), not " +
                           QuoteForMessage(type));
  }
  if (spec.directory_url.empty()) return InvalidArgument("field \"directory_url\" is required");
  const bool has_kid = eab_kid && !eab_kid->empty();
  const bool has_hmac = eab_hmac && !eab_hmac->empty();
  if (has_kid != has_hmac) {
    return InvalidArgument(
        "fields \"eab_kid\" and \"eab_hmac\" go together: external account binding needs both");
  }
  if (trust) spec.trust_pem = std::move(*trust);
  if (contacts) spec.contacts = std::move(*contacts);
  if (has_kid) {
    spec.eab_kid = std::move(*eab_kid);
    spec.eab_hmac_key = std::move(*eab_hmac);
  }
  if (chain) spec.preferred_chain = std::move(*chain);
  if (profile) spec.profile = std::move(*profile);
  for (const std::string& text : rules.value_or(std::vector<std::string>{})) {
    auto rule = lifecycle::ParseSolverRule(text);
    if (!rule.ok()) {
      return InvalidArgument("field \"solvers\": " + rule.error().message());
    }
    spec.solvers.push_back(std::move(*rule));
  }
  return spec;
}

Result<lifecycle::SolverSpec> ParseSolver(JsonBody& body) {
  lifecycle::SolverSpec spec;
  CF_ASSIGN_OR_RETURN(spec.name, body.String("name", kMaxNameLen));
  CF_ASSIGN_OR_RETURN(spec.type, body.String("type", 16));
  CF_ASSIGN_OR_RETURN(auto server, body.OptString("server", 300));
  CF_ASSIGN_OR_RETURN(auto zone, body.OptString("zone", 254));
  CF_ASSIGN_OR_RETURN(auto tsig_key, body.OptSecret("tsig_key", kMaxTsigKeyLen));
  CF_ASSIGN_OR_RETURN(auto program, body.OptString("program", kMaxProgramLen));
  CF_ASSIGN_OR_RETURN(auto args, body.OptStringArray("args", kMaxArgs, kMaxArgLen));
  CF_ASSIGN_OR_RETURN(auto timeout, body.OptString("timeout", 32));
  CF_ASSIGN_OR_RETURN(auto selector, body.OptStringMap("selector"));
  CF_TRY(body.NoOtherFields());
  if (spec.type != lifecycle::kAgentHttp01SolverType) {
    CF_TRY(RejectUnused(selector.has_value(), "selector", spec.type));
  }
  if (timeout) {
    auto t = ParseDuration(*timeout);
    if (!t.ok() || t->count() <= 0) {
      return InvalidArgument(
          "field \"timeout\" must be a positive duration such as 60s or 2m, not " +
          QuoteForMessage(*timeout));
    }
    spec.timeout = *t;
  }
  if (spec.type == "rfc2136") {
    CF_TRY(RejectUnused(program.has_value(), "program", spec.type));
    CF_TRY(RejectUnused(args.has_value(), "args", spec.type));
    CF_TRY(RejectUnused(timeout.has_value(), "timeout", spec.type));
    if (!server || server->empty()) {
      return InvalidArgument("field \"server\" (HOST:PORT) is required for type \"rfc2136\"");
    }
    if (!tsig_key || tsig_key->empty()) {
      return InvalidArgument(
          "field \"tsig_key\" (the content of the BIND key file) is required for type "
          "\"rfc2136\"");
    }
    spec.server = std::move(*server);
    if (zone) spec.zone = std::move(*zone);
    spec.tsig_key_file = std::move(*tsig_key);
  } else if (spec.type == "exec") {
    CF_TRY(RejectUnused(server.has_value(), "server", spec.type));
    CF_TRY(RejectUnused(zone.has_value(), "zone", spec.type));
    CF_TRY(RejectUnused(tsig_key.has_value(), "tsig_key", spec.type));
    if (!program || program->empty()) {
      return InvalidArgument(
          "field \"program\" (the name of an exec program configured in certfleetd's "
          "configuration) is required for type \"exec\"");
    }
    // Issue #13: the service refuses a path or any argument (programs are named only in
    // certfleetd's configuration); passed on so that the refusal is one message, in one place.
    spec.program = std::move(*program);
    if (args) spec.args = std::move(*args);
  } else if (spec.type == lifecycle::kAgentHttp01SolverType) {
    CF_TRY(RejectUnused(server.has_value(), "server", spec.type));
    CF_TRY(RejectUnused(zone.has_value(), "zone", spec.type));
    CF_TRY(RejectUnused(tsig_key.has_value(), "tsig_key", spec.type));
    CF_TRY(RejectUnused(program.has_value(), "program", spec.type));
    CF_TRY(RejectUnused(args.has_value(), "args", spec.type));
    if (!selector || selector->empty()) {
      return InvalidArgument(
          "field \"selector\" (the tags of the agents that serve the token) is required for "
          "type \"agent-http01\"");
    }
    spec.selector = std::move(*selector);
  } else {
    return InvalidArgument(
        "field \"type\" must be \"rfc2136\", \"exec\" or \"agent-http01\", not " +
        QuoteForMessage(spec.type));
  }
  return spec;
}

// POST handler shared by both kinds: parse, authorize the target account, create, answer 201.
template <typename Spec, typename ParseFn, typename CreateFn>
Result<net::HttpResponse> Create(ApiDeps& deps, const RequestContext& ctx, const char* collection,
                                 ParseFn parse, CreateFn create) {
  CF_ASSIGN_OR_RETURN(auto* service, Service(deps));
  CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
  CF_ASSIGN_OR_RETURN(auto account_key, body.OptString("account", 128));
  CF_ASSIGN_OR_RETURN(Spec spec, parse(body));
  CF_ASSIGN_OR_RETURN(model::Account account,
                      TargetAccount(deps, ctx, account_key, Action::kIssuerWrite));
  ctx.audit_resource = spec.name;
  CF_ASSIGN_OR_RETURN(lifecycle::AcmeConfigView view,
                      create(*service, InAccount(ctx, account), spec));
  ctx.audit_resource = view.id;
  net::HttpResponse r = JsonResponse(201, ViewJson(view));
  r.headers["Location"] = std::string(collection) + "/" + view.name +
                          (account.id == ctx.caller->account_id ? "" : "?account=" + account.id);
  return r;
}

// Paged in memory by name (the order the store keeps): issuers and solvers are configuration.
Result<net::HttpResponse> List(ApiDeps& deps, const RequestContext& ctx, const std::string& kind) {
  CF_ASSIGN_OR_RETURN(auto* service, Service(deps));
  CF_ASSIGN_OR_RETURN(
      ListRequest l,
      ParseListRequest(deps, ctx, kind + "s", {"limit", "cursor", "account"}, Action::kIssuerRead));
  CF_ASSIGN_OR_RETURN(auto views, service->List(InAccount(ctx, l.account), kind));
  auto by_name = [](const lifecycle::AcmeConfigView& v) { return RowKey{0, v.name}; };
  return JsonResponse(
      200, PageJson(PageInMemory(std::move(views), l.page, by_name), l.page, ViewJson, by_name));
}

Result<net::HttpResponse> Get(ApiDeps& deps, const RequestContext& ctx, const std::string& kind) {
  CF_ASSIGN_OR_RETURN(auto* service, Service(deps));
  const std::string& name = ctx.params.at("name");
  ctx.audit_resource = name;
  CF_ASSIGN_OR_RETURN(model::Account account,
                      TargetAccount(deps, ctx, ctx.request.query("account"), Action::kIssuerRead));
  CF_ASSIGN_OR_RETURN(auto view, service->Get(InAccount(ctx, account), kind, name));
  return JsonResponse(200, ViewJson(view));
}

}  // namespace

void AddAcmeRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  AddRoute(router, "POST", "/v1/issuers", Action::kIssuerWrite, "issuer.create",
           [&deps](const RequestContext& ctx) {
             return Create<lifecycle::AcmeIssuerSpec>(
                 deps, ctx, "/v1/issuers", ParseIssuer,
                 [](lifecycle::AcmeConfigService& s, const lifecycle::Caller& c,
                    const lifecycle::AcmeIssuerSpec& spec) { return s.CreateIssuer(c, spec); });
           });
  AddRoute(router, "GET", "/v1/issuers", Action::kIssuerRead, "issuer.list",
           [&deps](const RequestContext& ctx) { return List(deps, ctx, "issuer"); });
  AddRoute(router, "GET", "/v1/issuers/{name}", Action::kIssuerRead, "issuer.read",
           [&deps](const RequestContext& ctx) { return Get(deps, ctx, "issuer"); });
  AddRoute(router, "POST", "/v1/solvers", Action::kIssuerWrite, "solver.create",
           [&deps](const RequestContext& ctx) {
             return Create<lifecycle::SolverSpec>(
                 deps, ctx, "/v1/solvers", ParseSolver,
                 [](lifecycle::AcmeConfigService& s, const lifecycle::Caller& c,
                    const lifecycle::SolverSpec& spec) { return s.CreateSolver(c, spec); });
           });
  AddRoute(router, "GET", "/v1/solvers", Action::kIssuerRead, "solver.list",
           [&deps](const RequestContext& ctx) { return List(deps, ctx, "solver"); });
  AddRoute(router, "GET", "/v1/solvers/{name}", Action::kIssuerRead, "solver.read",
           [&deps](const RequestContext& ctx) { return Get(deps, ctx, "solver"); });
}

}  // namespace certfleet::api
