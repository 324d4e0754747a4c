// POST /v1/acme/eab (issue #16): an external account binding key for certfleet's ACME server.
// The ACME account a client registers with it acts as the key's principal in the key's account,
// so only those who may configure the account's issuers (its admins, or a system admin naming
// the account) may make one. The HMAC key is in the answer once and sealed in the store.
//
// Body: {"account": id or name (default: the caller's), "principal": id or name in that account
// (default: the caller, when the account is the caller's own), "expires": "1h" (optional),
// "tags": {...} (given to every certificate issued through it)}.
// Answer 201: {"kid", "hmac_key" (base64url), "account", "principal", "expires_at"?}.
#include "api/api_service.h"
#include "api/json_body.h"
#include "base/time_util.h"
#include "base/validate.h"

namespace certfleet::api {
namespace {

using policy::Action;

// The principal the key's ACME accounts act as: `key` (id or name) in `account`, enabled, a
// person or service (agents request nothing).
Result<model::Principal> ResolvePrincipal(ApiDeps& deps, const RequestContext& ctx,
                                          const model::Account& account,
                                          const std::optional<std::string>& key) {
  if (!key.has_value()) {
    if (account.id != ctx.caller->account_id) {
      return InvalidArgument(
          "field \"principal\" is required for a key of another account than your own");
    }
    CF_ASSIGN_OR_RETURN(auto tx, deps.store.BeginRead());
    return tx->principals().Get(ctx.caller->principal_id);
  }
  CF_ASSIGN_OR_RETURN(auto tx, deps.store.BeginRead());
  Result<model::Principal> p = key->starts_with(std::string(model::kPrincipalPrefix) + "_")
                                   ? tx->principals().Get(*key)
                                   : tx->principals().GetByName(account.id, *key);
  if (!p.ok() || p->account_id != account.id) {
    return NotFound("principal " + QuoteForMessage(*key) + " not found in account " + account.name);
  }
  if (p->disabled) return FailedPrecondition("principal " + p->name + " is disabled");
  if (p->kind == model::PrincipalKind::kAgent) {
    return InvalidArgument("principal " + p->name + " is an agent; agents request nothing");
  }
  return p;
}

Result<net::HttpResponse> CreateEab(ApiDeps& deps, const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
  CF_ASSIGN_OR_RETURN(auto account_key, body.OptString("account", 128));
  CF_ASSIGN_OR_RETURN(auto principal_key, body.OptString("principal", 128));
  CF_ASSIGN_OR_RETURN(auto expires, body.OptString("expires", 32));
  CF_ASSIGN_OR_RETURN(auto tags, body.OptStringMap("tags"));
  CF_TRY(body.NoOtherFields());
  std::optional<Seconds> lifetime;
  if (expires.has_value()) {
    auto d = ParseDuration(*expires);
    if (!d.ok() || d->count() <= 0) {
      return InvalidArgument("field \"expires\" must be a positive duration such as \"1h\"");
    }
    lifetime = *d;
  }
  model::Tags t = tags.value_or(model::Tags{});
  CF_TRY(ValidateTags(t));
  CF_ASSIGN_OR_RETURN(model::Account account,
                      TargetAccount(deps, ctx, account_key, Action::kIssuerWrite));
  if (deps.acme_server == nullptr) {
    return Unavailable("the ACME server is not enabled").ForClients();
  }
  CF_ASSIGN_OR_RETURN(model::Principal principal,
                      ResolvePrincipal(deps, ctx, account, principal_key));
  CF_ASSIGN_OR_RETURN(acme::server::NewEabKey key,
                      deps.acme_server->CreateEabKey(account.id, principal.id, t, lifetime,
                                                     ctx.caller->principal_id));
  ctx.audit_resource = key.kid;
  ctx.audit_account = account.id;
  nlohmann::json out = {{"kid", key.kid},
                        {"hmac_key", key.hmac_key},
                        {"account", account.id},
                        {"principal", principal.id}};
  if (key.expires_at.has_value()) out["expires_at"] = FormatRfc3339(*key.expires_at);
  return JsonResponse(201, out);
}

}  // namespace

void AddAcmeServerRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  AddRoute(router, "POST", "/v1/acme/eab", Action::kIssuerWrite, "acme_eab.create",
           [&deps](const RequestContext& ctx) { return CreateEab(deps, ctx); });
}

}  // namespace certfleet::api
