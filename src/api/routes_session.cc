// Console sessions (issue #17, docs/console.md "Server side", sessions.h): POST /v1/session logs
// in with an API token in the body and sets the session cookie; GET /v1/session tells the
// console who it is and what it may do; DELETE /v1/session logs out. Login and logout are
// audited ("session.create", "session.delete"); neither the token nor the cookie value is ever
// recorded.
#include "api/api_service.h"
#include "base/time_util.h"

namespace certfleet::api {
namespace {

using nlohmann::json;

// HttpOnly: page scripts never see it. Secure: HTTPS only. SameSite=Strict: other sites' pages
// cannot make the browser send it (the first line of CSRF defence; X-CSRF-Token is the second).
std::string SetCookie(const std::string& value, Seconds max_age) {
  return std::string(kSessionCookie) + "=" + value +
         "; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=" + std::to_string(max_age.count());
}

// The actions this caller may perform in its own account (policy::Authorize), by name, for the
// console to offer only those. Tag-gated actions count when the caller's own tags would do. The
// API still decides every request.
json AllowedActions(const lifecycle::Caller& caller) {
  const policy::Subject subject = lifecycle::ToSubject(caller);
  json out = json::array();
  for (policy::Action a : policy::AllActions()) {
    if (policy::Authorize(subject, a, {.account_id = caller.account_id, .secret_tags = caller.tags})
            .allowed) {
      out.push_back(std::string(policy::ActionName(a)));
    }
  }
  return out;
}

Result<json> SessionView(ApiDeps& deps, const lifecycle::Caller& caller, const Session& s) {
  CF_ASSIGN_OR_RETURN(model::Principal p, deps.governance.GetPrincipal(caller.principal_id));
  CF_ASSIGN_OR_RETURN(model::Account a, deps.governance.ResolveAccount(caller.account_id));
  return json{{"principal",
               {{"id", p.id},
                {"name", p.name},
                {"account", a.name},
                {"role", std::string(model::RoleName(p.role))}}},
              {"actions", AllowedActions(caller)},
              {"csrf_token", s.csrf_token},
              {"expires_at", FormatRfc3339(s.expires_at)}};
}

// The session the request was authenticated with; Unauthorized for a bearer caller.
Result<const RequestCredential*> SessionOf(const RequestContext& ctx) {
  if (ctx.credential == nullptr || !ctx.credential->session) {
    return Unauthorized("no valid console session (log in again)");
  }
  return ctx.credential;
}

}  // namespace

void AddSessionRoutes(Router<RouteSpec>& router, ApiDeps& deps, SessionStore& sessions) {
  RouteSpec login;
  login.token_in_body = true;
  login.audit_action = "session.create";
  login.audit_success = true;
  login.handler = [&deps, &sessions](const RequestContext& ctx) -> Result<net::HttpResponse> {
    SessionStore::Created created = sessions.Create(ctx.credential->login_token_hash);
    ctx.audit_resource = "session";
    CF_ASSIGN_OR_RETURN(json view, SessionView(deps, *ctx.caller, created.session));
    net::HttpResponse r = JsonResponse(201, view);
    r.headers["Set-Cookie"] = SetCookie(created.cookie, sessions.options().max);
    return r;
  };
  router.Add("POST", "/v1/session", std::move(login));

  AddRoute(router, "GET", "/v1/session", std::nullopt, "session.read",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(const RequestCredential* c, SessionOf(ctx));
             CF_ASSIGN_OR_RETURN(json view, SessionView(deps, *ctx.caller, *c->session));
             return JsonResponse(200, view);
           });

  AddRoute(router, "DELETE", "/v1/session", std::nullopt, "session.delete",
           [&sessions](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(const RequestCredential* c, SessionOf(ctx));
             ctx.audit_resource = "session";
             sessions.Remove(c->cookie);
             net::HttpResponse r;
             r.status = 204;
             r.headers["Set-Cookie"] = SetCookie("", Seconds(0));
             return r;
           });
}

}  // namespace certfleet::api
