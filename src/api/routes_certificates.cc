// /v1/certificates: request, list, show, export, renew, revoke; and the internal CA's CRL.
#include "api/api_service.h"

#include <map>

#include "api/csv.h"
#include "api/dto.h"
#include "api/json_body.h"
#include "api/list_query.h"
#include "base/time_util.h"

namespace certfleet::api {
namespace {

// The stable, public URL of the internal CA's CRL (named in its certificates' CRL Distribution
// Points; certfleetd derives CaOptions::crl_url from its listener and this path).
constexpr char kInternalCrlPath[] = "/crl/intermediate.crl";

nlohmann::json RevocationJson(const lifecycle::RevocationView& r) {
  nlohmann::json j = CertificateJson(r.view);
  nlohmann::json revoked = nlohmann::json::array();
  for (const model::Revocation& v : r.revoked) {
    revoked.push_back(
        {{"serial", v.serial_hex},
         {"version_id", v.version_id},
         {"reason", x509::RevocationReasonName(static_cast<x509::RevocationReason>(v.reason))},
         {"revoked_at", FormatRfc3339(v.revoked_at)}});
  }
  j["revoked_versions"] = std::move(revoked);
  return j;
}

// GET /v1/certificates/{id}/versions: every version, oldest first (by version number), paged in
// memory: a certificate gains a handful of versions a year. No PEM and no key: the current
// version's certificate is in the detail, and keys leave only through export.
Result<net::HttpResponse> ListVersions(ApiDeps& deps, const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(ListQuery q, ListQuery::Parse(ctx.request, {"limit", "cursor"}));
  CF_ASSIGN_OR_RETURN(PageRequest page, ParsePage(q, "versions"));
  // Authorizes the read: another account's certificate answers 404 like an unknown one.
  CF_ASSIGN_OR_RETURN(lifecycle::CertificateView view,
                      deps.certificates.Get(*ctx.caller, ctx.params.at("id")));
  CF_ASSIGN_OR_RETURN(auto tx, deps.store.BeginRead());
  CF_ASSIGN_OR_RETURN(auto versions, tx->versions().ListByCertificate(view.certificate.id));
  CF_ASSIGN_OR_RETURN(auto revocations, tx->revocations().ListByCertificate(view.certificate.id));
  std::map<std::string, model::Revocation> revoked;
  for (auto& r : revocations) revoked.emplace(r.version_id, std::move(r));
  const std::string current = view.certificate.current_version_id;
  auto by_version = [](const model::CertificateVersion& v) { return RowKey{v.version, v.id}; };
  auto to_json = [&](const model::CertificateVersion& v) {
    nlohmann::json j = {{"id", v.id},
                        {"version", v.version},
                        {"serial", v.serial_hex},
                        {"not_before", FormatRfc3339(v.not_before)},
                        {"not_after", FormatRfc3339(v.not_after)},
                        {"fingerprint", v.fingerprint_sha256},
                        {"created_at", FormatRfc3339(v.created_at)},
                        {"current", v.id == current},
                        {"revoked", nullptr}};
    if (auto it = revoked.find(v.id); it != revoked.end()) {
      j["revoked"] = {{"reason", x509::RevocationReasonName(
                                     static_cast<x509::RevocationReason>(it->second.reason))},
                      {"revoked_at", FormatRfc3339(it->second.revoked_at)}};
    }
    return j;
  };
  return JsonResponse(200, PageJson(PageInMemory(std::move(versions), page, by_version), page,
                                    to_json, by_version));
}

// format=csv collects the whole filtered inventory server-side, up to this many rows; past it the
// request is refused (413) rather than cut.
constexpr size_t kCsvMaxRows = 50000;

struct CertificateListing {
  store::CertificateFilter filter;
  std::string sort_name;
  bool csv = false;
};

// GET /v1/certificates?limit=&cursor=&status=&tag=k:v&domain=&issuer=&expires_before=
// &expires_after=&account=&sort=created_at|not_after&format=json|csv (docs/api.md).
Result<CertificateListing> ParseCertificateListing(ApiDeps& deps, const RequestContext& ctx) {
  CF_ASSIGN_OR_RETURN(ListQuery q,
                      ListQuery::Parse(ctx.request, {"limit", "cursor", "status", "tag", "domain",
                                                     "issuer", "expires_before", "expires_after",
                                                     "account", "sort", "format"}));
  CertificateListing out;
  store::CertificateFilter& f = out.filter;
  CF_ASSIGN_OR_RETURN(auto format, q.One("format"));
  if (format && *format != "json" && *format != "csv") {
    return InvalidArgument("query parameter \"format\" must be json or csv");
  }
  out.csv = format == "csv";
  if (out.csv && (q.Has("limit") || q.Has("cursor"))) {
    return InvalidArgument(
        "format=csv exports the whole filtered inventory: \"limit\" and \"cursor\" page the JSON "
        "listing only");
  }
  CF_ASSIGN_OR_RETURN(f.limit, q.Limit());
  CF_ASSIGN_OR_RETURN(auto sort, q.One("sort"));
  out.sort_name = sort.value_or("created_at");
  if (out.sort_name == "created_at") {
    f.sort = store::CertificateSort::kCreatedAt;
  } else if (out.sort_name == "not_after") {
    f.sort = store::CertificateSort::kNotAfter;
  } else {
    return InvalidArgument("query parameter \"sort\" must be created_at or not_after");
  }
  CF_ASSIGN_OR_RETURN(auto cursor_text, q.One("cursor"));
  if (cursor_text) {
    CF_ASSIGN_OR_RETURN(PageCursor cursor, DecodeCursor(*cursor_text));
    if (cursor.sort != out.sort_name) {
      // Name the cursor's order only when it is one of ours: the text is the client's.
      const bool known = cursor.sort == "created_at" || cursor.sort == "not_after";
      return InvalidArgument("invalid cursor: it continues a listing sorted by " +
                             (known ? cursor.sort : std::string("something else")) + ", not " +
                             out.sort_name);
    }
    f.after_key = cursor.key;
    f.after_id = std::move(cursor.id);
  }
  CF_ASSIGN_OR_RETURN(auto status, q.One("status"));
  if (status) {
    auto parsed = model::ParseCertificateStatus(*status);
    if (!parsed.ok()) {
      return InvalidArgument(
          "query parameter \"status\" must be pending, issued, failed, revoked or expired");
    }
    f.status = *parsed;
  }
  CF_ASSIGN_OR_RETURN(f.tags, QueryTags(q));
  CF_ASSIGN_OR_RETURN(auto domain, q.One("domain"));
  if (domain) {
    if (domain->empty() || domain->size() > 253 ||
        domain->find_first_of("\"\\,") != std::string::npos) {
      return InvalidArgument("query parameter \"domain\" must be part of a domain name");
    }
    f.domain_contains = *domain;
  }
  CF_ASSIGN_OR_RETURN(f.issuer, q.One("issuer"));
  if (f.issuer && f.issuer->empty()) {
    return InvalidArgument("query parameter \"issuer\" must name an issuer");
  }
  CF_ASSIGN_OR_RETURN(f.expires_before, QueryTime(q, "expires_before"));
  CF_ASSIGN_OR_RETURN(f.expires_after, QueryTime(q, "expires_after"));
  CF_ASSIGN_OR_RETURN(auto account, q.One("account"));
  if (account) {
    // Another account only where the caller may read certificates there (system principals);
    // a foreign account answers 404 like an unknown one.
    CF_ASSIGN_OR_RETURN(model::Account a,
                        TargetAccount(deps, ctx, account, policy::Action::kCertificateRead));
    f.account_id = a.id;
  }
  return out;
}

PageCursor CursorAfter(const lifecycle::CertificateView& v, const CertificateListing& listing) {
  PageCursor c{.sort = listing.sort_name, .key = 0, .id = v.certificate.id};
  if (listing.filter.sort == store::CertificateSort::kNotAfter) {
    c.key = v.version ? ToUnixSeconds(v.version->not_after) : store::kNoVersionNotAfter;
  } else {
    c.key = ToUnixSeconds(v.certificate.created_at);
  }
  return c;
}

std::vector<std::string> CsvRecord(const lifecycle::CertificateView& v) {
  const model::Certificate& c = v.certificate;
  std::string domains;
  for (const std::string& d : c.domains) domains += (domains.empty() ? "" : " ") + d;
  std::string tags;
  for (const auto& [k, val] : c.tags) tags += (tags.empty() ? "" : ";") + k + "=" + val;
  return {c.id,
          c.name,
          c.account_id,
          domains,
          c.issuer,
          std::string(model::CertificateStatusName(c.status)),
          c.key_type,
          c.profile,
          v.version ? v.version->serial_hex : "",
          v.version ? FormatRfc3339(v.version->not_before) : "",
          v.version ? FormatRfc3339(v.version->not_after) : "",
          v.version ? std::to_string(v.version->version) : "",
          tags,
          c.exportable ? "true" : "false",
          FormatRfc3339(c.created_at)};
}

// The filtered inventory as CSV (no PEM, no key material): every page, or 413 past kCsvMaxRows.
Result<net::HttpResponse> CertificatesCsv(ApiDeps& deps, const RequestContext& ctx,
                                          CertificateListing listing) {
  std::string body =
      CsvRow({"id", "name", "account", "domains", "issuer", "status", "key_type", "profile",
              "serial", "not_before", "not_after", "version", "tags", "exportable", "created_at"});
  listing.filter.limit = kMaxPageLimit;
  size_t rows = 0;
  while (true) {
    CF_ASSIGN_OR_RETURN(auto page, deps.certificates.List(*ctx.caller, listing.filter));
    rows += page.items.size();
    if (rows > kCsvMaxRows) {
      return TooLarge("more than " + std::to_string(kCsvMaxRows) +
                      " certificates match: narrow the filter (status, tag, domain, issuer, "
                      "expires_before, expires_after) or page through the JSON listing");
    }
    for (const auto& v : page.items) body += CsvRow(CsvRecord(v));
    if (!page.more) break;
    PageCursor next = CursorAfter(page.items.back(), listing);
    listing.filter.after_key = next.key;
    listing.filter.after_id = std::move(next.id);
  }
  net::HttpResponse r;
  r.status = 200;
  r.headers["Content-Type"] = "text/csv; charset=utf-8; header=present";  // RFC 4180 section 3
  r.headers["Content-Disposition"] = "attachment; filename=\"certificates.csv\"";
  r.body = std::move(body);
  return r;
}

}  // namespace

void AddCertificateRoutes(Router<RouteSpec>& router, ApiDeps& deps) {
  using policy::Action;
  AddRoute(router, "POST", "/v1/certificates", Action::kCertificateRequest, "certificate.request",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(lifecycle::CertificateRequest req, ParseCertificateRequest(body));
             CF_ASSIGN_OR_RETURN(lifecycle::CertificateView view,
                                 deps.certificates.Request(*ctx.caller, req));
             ctx.audit_resource = view.certificate.id;
             net::HttpResponse r = JsonResponse(201, CertificateJson(view));
             r.headers["Location"] = "/v1/certificates/" + view.certificate.id;
             return r;
           });
  AddRoute(router, "GET", "/v1/certificates", Action::kCertificateRead, "certificate.list",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(CertificateListing listing, ParseCertificateListing(deps, ctx));
             if (listing.csv) return CertificatesCsv(deps, ctx, std::move(listing));
             CF_ASSIGN_OR_RETURN(auto page, deps.certificates.List(*ctx.caller, listing.filter));
             nlohmann::json items = nlohmann::json::array();
             for (const auto& v : page.items) items.push_back(CertificateJson(v));
             // next_cursor is null on the last page, and only there: never a silent cut.
             nlohmann::json next = nullptr;
             if (page.more) next = EncodeCursor(CursorAfter(page.items.back(), listing));
             return JsonResponse(200, {{"items", std::move(items)}, {"next_cursor", next}});
           });
  AddRoute(router, "GET", "/v1/certificates/{id}", Action::kCertificateRead, "certificate.read",
           [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(auto view,
                                 deps.certificates.Get(*ctx.caller, ctx.params.at("id")));
             return JsonResponse(200, CertificateJson(view));
           });
  AddRoute(router, "GET", "/v1/certificates/{id}/versions", Action::kCertificateRead,
           "certificate.versions",
           [&deps](const RequestContext& ctx) { return ListVersions(deps, ctx); });
  AddRoute(router, "POST", "/v1/certificates/{id}/export", Action::kCertificateExport,
           "certificate.export", [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(auto passphrase, body.OptSecret("passphrase", 1024));
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(auto result, deps.exports.Export(*ctx.caller, ctx.params.at("id"),
                                                                  std::move(passphrase)));
             return JsonResponse(200, ExportJson(result));
           });
  AddRoute(router, "POST", "/v1/certificates/{id}/renew", Action::kCertificateRenew,
           "certificate.renew", [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(auto reuse_key, body.OptBool("reuse_key"));
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(auto view,
                                 deps.certificates.Renew(*ctx.caller, ctx.params.at("id"),
                                                         {.reuse_key = reuse_key.value_or(false)}));
             return JsonResponse(200, CertificateJson(view));
           });
  AddRoute(router, "POST", "/v1/certificates/{id}/revoke", Action::kCertificateRevoke,
           "certificate.revoke", [&deps](const RequestContext& ctx) -> Result<net::HttpResponse> {
             CF_ASSIGN_OR_RETURN(JsonBody body, JsonBody::Parse(ctx.request.body));
             CF_ASSIGN_OR_RETURN(auto reason_name, body.OptString("reason", 64));
             CF_TRY(body.NoOtherFields());
             CF_ASSIGN_OR_RETURN(x509::RevocationReason reason,
                                 x509::ParseRevocationReason(reason_name.value_or("unspecified")));
             CF_ASSIGN_OR_RETURN(
                 auto revoked, deps.certificates.Revoke(*ctx.caller, ctx.params.at("id"), reason));
             return JsonResponse(200, RevocationJson(revoked));
           });

  // Public: relying parties fetch the CRL without credentials (RFC 5280 4.2.1.13).
  RouteSpec crl;
  crl.authenticated = false;
  crl.handler = [&deps](const RequestContext&) -> Result<net::HttpResponse> {
    CF_ASSIGN_OR_RETURN(std::string der, deps.certificates.CurrentCrl("internal"));
    net::HttpResponse r;
    r.status = 200;
    r.headers["Content-Type"] = "application/pkix-crl";  // RFC 5280 4.2.1.13
    r.headers["Cache-Control"] = "max-age=60";
    r.body = std::move(der);
    return r;
  };
  router.Add("GET", kInternalCrlPath, std::move(crl));
}

}  // namespace certfleet::api
