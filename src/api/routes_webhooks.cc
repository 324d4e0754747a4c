// /v1/webhooks: subscriptions and their delivery logs (docs/events.md). The signing secret is
// write-only: sealed on creation, never returned.
#include "api/api_service.h"
#include "api/json_body.h"
#include "api/list_page.h"
#include "base/time_util.h"
#include "events/webhooks.h"

namespace certfleet::api {
namespace {

using policy::Action;

nlohmann::json WebhookJson(const model::WebhookSubscription& w) {
  return {{"id", w.id},
          {"account_id", w.account_id},
          {"url", w.url},
          {"types", w.types},
          {"tags", w.tags},
          {"allow_private_address", w.allow_private_address},
          {"active", w.active},
          {"created_by", w.created_by},
          {"created_at", FormatRfc3339(w.created_at)},
          {"updated_at", FormatRfc3339(w.updated_at)}};
}

nlohmann::json OptTime(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(FormatRfc3339(*t)) : nlohmann::json(nullptr);
}

nlohmann::json DeliveryJson(const model::WebhookDelivery& d) {
  return {{"id", d.id},
          {"subscription_id", d.subscription_id},
          {"event_id", d.event_id},
          {"attempt", d.attempt},
          {"status", model::DeliveryStatusName(d.status)},
          {"http_status", d.http_status},
          {"error", d.error},
          {"next_attempt_at", OptTime(d.next_attempt_at)},
          {"delivered_at", OptTime(d.delivered_at)},
          {"created_at", FormatRfc3339(d.created_at)},
          {"updated_at", FormatRfc3339(d.updated_at)}};
}

Result<events::WebhookService*> Service(ApiDeps& deps) {
  if (deps.webhooks == nullptr) return Unavailable("webhooks are not configured").ForClients();
  return deps.webhooks;
}

// The account of webhook `id`, checked for `action`. Unknown and foreign subscriptions give the
// same NotFound.
Result<std::string> WebhookAccount(ApiDeps& deps, const RequestContext& ctx, const std::string& id,
                                   Action action) {
  CF_ASSIGN_OR_RETURN(auto tx, deps.store.Begin());
  CF_ASSIGN_OR_RETURN(model::WebhookSubscription w,
                      LoadForAction(
                          ctx, "webhook", id, model::kWebhookPrefix, action,
                          [&](const std::string& k) { return tx->webhooks().Get(k); },
                          [](const model::WebhookSubscription& s) { return s.account_id; }));
  return w.account_id;
}

// The request's audit record, appended in the webhook change's own transaction (events does not
// depend on audit, so the service takes it as a hook).
events::BeforeCommit AuditBeforeCommit(const RequestContext& ctx, int status) {
  return [&ctx, status](store::Tx& tx, const model::WebhookSubscription& w) -> Status {
    return audit::AppendInTx(ctx.caller->audit, tx,
                             {.account_id = w.account_id, .resource = w.id, .status = status});
  };
}

}  // namespace

void AddWebhookRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  AddRoute(router, "POST", "/v1/webhooks", Action::kWebhookWrite, "webhook.create",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(auto* service, Service(deps));
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(auto account_key, body.OptString("account", 128));
             CF_ASSIGN_OR_RETURN(std::string url, body.String("url", 2048));
             CF_ASSIGN_OR_RETURN(auto types, body.OptStringArray("types", 32, 128));
             CF_ASSIGN_OR_RETURN(auto tags, body.OptStringMap("tags"));
             CF_ASSIGN_OR_RETURN(auto secret, body.OptSecret("secret", 1024));
             CF_ASSIGN_OR_RETURN(auto allow_private, body.OptBool("allow_private_address"));
             CF_TRY(body.NoOtherFields());
             if (!secret) return InvalidArgument("field \"secret\" is required");
             CF_ASSIGN_OR_RETURN(model::Account account,
                                 TargetAccount(deps, ctx, account_key, Action::kWebhookWrite));
             events::NewWebhook spec{.account_id = account.id,
                                     .url = url,
                                     .types = types.value_or(std::vector<std::string>{}),
                                     .tags = tags.value_or(model::Tags{}),
                                     .secret = std::move(*secret),
                                     .allow_private_address = allow_private.value_or(false),
                                     .created_by = ctx.caller->principal_id};
             CF_ASSIGN_OR_RETURN(auto w, service->Create(spec, AuditBeforeCommit(ctx, 201)));
             ctx.audit_resource = w.id;
             net::HttpResponse r = JsonResponse(201, WebhookJson(w));
             r.headers["Location"] = "/v1/webhooks/" + w.id;
             return r;
           });
  AddRoute(router, "GET", "/v1/webhooks", Action::kWebhookRead, "webhook.list",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(auto* service, Service(deps));
             CF_ASSIGN_OR_RETURN(ListRequest l, ParseListRequest(deps, ctx, "webhooks",
                                                                 {"limit", "cursor", "account"},
                                                                 Action::kWebhookRead));
             CF_ASSIGN_OR_RETURN(auto list, service->List(l.account.id));
             return SmallPage(std::move(list), l.page, WebhookJson);
           });
  AddRoute(router, "GET", "/v1/webhooks/{id}", Action::kWebhookRead, "webhook.read",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(auto* service, Service(deps));
             const std::string& id = ctx.params.at("id");
             CF_ASSIGN_OR_RETURN(std::string account,
                                 WebhookAccount(deps, ctx, id, Action::kWebhookRead));
             CF_ASSIGN_OR_RETURN(auto w, service->Get(account, id));
             return JsonResponse(200, WebhookJson(w));
           });
  AddRoute(router, "POST", "/v1/webhooks/{id}/disable", Action::kWebhookWrite, "webhook.disable",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(auto* service, Service(deps));
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_TRY(body.NoOtherFields());
             const std::string& id = ctx.params.at("id");
             CF_ASSIGN_OR_RETURN(std::string account,
                                 WebhookAccount(deps, ctx, id, Action::kWebhookWrite));
             CF_ASSIGN_OR_RETURN(auto w,
                                 service->Disable(account, id, AuditBeforeCommit(ctx, 200)));
             return JsonResponse(200, WebhookJson(w));
           });
  // Newest first (by id, descending), keyset pages in the store: the cursor names the last
  // delivery shown, and the next page starts below it.
  AddRoute(router, "GET", "/v1/webhooks/{id}/deliveries", Action::kWebhookRead,
           "webhook.deliveries", [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(auto* service, Service(deps));
             CF_ASSIGN_OR_RETURN(ListQuery q, ListQuery::Parse(ctx.request, {"limit", "cursor"}));
             CF_ASSIGN_OR_RETURN(PageRequest page, ParsePage(q, "deliveries"));
             const std::string& id = ctx.params.at("id");
             CF_ASSIGN_OR_RETURN(std::string account,
                                 WebhookAccount(deps, ctx, id, Action::kWebhookRead));
             CF_ASSIGN_OR_RETURN(auto list,
                                 service->Deliveries(account, id, page.after_id(), page.fetch()));
             return JsonResponse(200, PageJson(list, page, DeliveryJson, kById));
           });
}

}  // namespace certfleet::api
