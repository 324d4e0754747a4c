// The ACME server's front end: routing under /acme/, request authentication (JWS, nonce, URL,
// account), and HTTP framing of replies and problem documents (RFC 8555 sections 6 and 7.1).
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "acme/protocol/server_problem.h"
#include "acme/server/internal.h"
#include "acme/server/server.h"
#include "base/log.h"
#include "base/time_util.h"

namespace certfleet::acme::server {
namespace {

// Resource ids are ours ("acct_...", "ord_..."): short, URL-safe.
bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '_' || c == '-' || c == '.';
  });
}

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 1;  // after the leading '/'
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

// A Host header we are willing to echo into URLs: printable, no path, bounded.
bool IsPlausibleHost(std::string_view host) {
  if (host.empty() || host.size() > 261) return false;
  return std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
  });
}

std::string MediaType(const net::HttpRequest& request) {
  std::string v = request.header("content-type").value_or("");
  v = v.substr(0, v.find(';'));
  while (!v.empty() && v.back() == ' ') v.pop_back();
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v;
}

Error MethodNotAllowed(std::string_view allowed) {
  return AcmeError("malformed", "method not allowed here; use " + std::string(allowed));
}

// A rendered problem sent with HTTP status `status` instead of its type's; the document's
// "status" member says the same (RFC 7807 section 3.1).
net::HttpResponse WithStatus(net::HttpResponse r, int status) {
  r.status = status;
  nlohmann::json doc = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object()) {
    doc["status"] = status;
    r.body = doc.dump();
  }
  return r;
}

}  // namespace

AcmeServer::AcmeServer(store::Store& store, secrets::SecretStore& secrets, const Clock& clock,
                       Random& random, Validator& validator, Issuance& issuance,
                       ServerOptions options)
    : store_(store),
      secrets_(secrets),
      clock_(clock),
      random_(random),
      validator_(validator),
      issuance_(issuance),
      options_(std::move(options)),
      nonces_(random, options_.nonce_capacity),
      account_keys_(options_.account_key_cache) {}

std::string AcmeServer::BaseUrl(const net::HttpRequest& request) const {
  if (!options_.base_url.empty()) return options_.base_url;
  std::string host = request.header("host").value_or("");
  if (!IsPlausibleHost(host)) return {};
  return "https://" + host;
}

net::HttpResponse AcmeServer::Directory(const std::string& base) const {
  nlohmann::json meta = {{"externalAccountRequired", options_.eab_required}};
  if (!options_.website.empty()) meta["website"] = options_.website;
  if (!options_.caa_identities.empty()) meta["caaIdentities"] = options_.caa_identities;
  nlohmann::json profiles = nlohmann::json::object();
  for (const std::string& p : options_.profiles) {
    profiles[p] = "certfleet profile " + p;
  }
  meta["profiles"] = profiles;
  nlohmann::json d = {
      {"newNonce", base + "/acme/new-nonce"},
      {"newAccount", base + "/acme/new-account"},
      {"newOrder", base + "/acme/new-order"},
      {"revokeCert", base + "/acme/revoke-cert"},
      {"keyChange", base + "/acme/key-change"},
      {"renewalInfo", base + "/acme/renewal-info"},
      {"meta", meta},
  };
  net::HttpResponse r;
  r.status = 200;
  r.headers["Content-Type"] = "application/json";
  r.body = d.dump();
  return r;
}

Result<AcmeServer::Authenticated> AcmeServer::Authenticate(const net::HttpRequest& request,
                                                           const std::string& base,
                                                           bool jwk_allowed, bool kid_allowed) {
  Authenticated a;
  CF_ASSIGN_OR_RETURN(a.jws, ParseJws(request.body));
  a.url = base + request.target;
  if (a.jws.url != a.url) {
    return AcmeError("unauthorized", "the JWS \"url\" header is not the URL of this request");
  }
  if (!nonces_.Consume(a.jws.nonce)) {
    return AcmeError("badNonce", "the nonce is unknown, used or expired; use the fresh one");
  }
  if (a.jws.jwk.has_value()) {
    if (!jwk_allowed) {
      return AcmeError("malformed", "this resource takes requests signed with an account \"kid\"");
    }
    CF_TRY(VerifyJws(a.jws, *a.jws.jwk));
    return a;
  }
  if (!kid_allowed) {
    return AcmeError("malformed", "this resource takes requests with a \"jwk\" header");
  }
  const std::string prefix = base + "/acme/acct/";
  if (a.jws.kid.rfind(prefix, 0) != 0 || !IsValidId(a.jws.kid.substr(prefix.size()))) {
    return AcmeError("accountDoesNotExist", "the \"kid\" is not an account URL of this server");
  }
  const std::string id = a.jws.kid.substr(prefix.size());
  CF_ASSIGN_OR_RETURN(auto tx, store_.BeginRead());
  CF_ASSIGN_OR_RETURN(auto account, tx->acme_server().GetAccount(id));
  if (!account.has_value()) {
    return AcmeError("accountDoesNotExist", "no account has this \"kid\"");
  }
  if (account->status != "valid") {
    return AcmeError("unauthorized", "the account is " + account->status);
  }
  CF_ASSIGN_OR_RETURN(crypto::PublicKey key, account_keys_.Get(account->jwk));
  CF_TRY(VerifyJws(a.jws, key));
  a.account = std::move(*account);
  return a;
}

net::HttpResponse AcmeServer::Render(const Result<Reply>& reply, const std::string& base) {
  net::HttpResponse r;
  std::string links = "<" + base + "/acme/directory>;rel=\"index\"";
  if (!reply.ok()) {
    const Error& e = reply.error();
    r.status = AcmeStatusOf(e);
    r.headers["Content-Type"] = "application/problem+json";
    r.body = ToProblemJson(e);
    if (e.retry_after().has_value()) {
      r.headers["Retry-After"] = std::to_string(e.retry_after()->count());
    }
    if (r.status >= 500) {
      log::Warn("acme server error", {{"error", e.ToString()}});
    }
  } else {
    const Reply& ok = *reply;
    r.status = ok.status;
    r.body = ok.body;
    r.headers["Content-Type"] = ok.content_type;
    if (!ok.location.empty()) r.headers["Location"] = ok.location;
    for (const auto& [url, rel] : ok.links) {
      links += ", <" + url + ">;rel=\"" + rel + "\"";
    }
    if (ok.retry_after.has_value()) {
      r.headers["Retry-After"] = std::to_string(ok.retry_after->count());
    }
  }
  r.headers["Link"] = links;
  r.headers["Replay-Nonce"] = nonces_.Issue();
  return r;
}

net::HttpResponse AcmeServer::Handle(const net::HttpRequest& request) {
  const std::string base = BaseUrl(request);
  if (base.empty()) {
    net::HttpResponse r;
    r.status = 400;
    r.headers["Content-Type"] = "application/problem+json";
    r.body = ToProblemJson(AcmeError("malformed", "the request has no usable Host header"));
    return r;
  }
  const std::vector<std::string_view> seg = Segments(request.path());
  const std::string& method = request.method;
  const bool post = method == "POST";
  auto bad_method = [&](std::string_view allowed) {
    net::HttpResponse r = WithStatus(Render(MethodNotAllowed(allowed), base), 405);
    r.headers["Allow"] = std::string(allowed);
    return r;
  };
  auto not_found = [&] {
    return Render(Error(ErrorCode::kNotFound, "no such ACME resource"), base);
  };
  if (seg.size() < 2 || seg[0] != "acme") return not_found();
  const std::string_view what = seg[1];

  // Unsigned resources.
  if (seg.size() == 2 && what == "directory") {
    if (method != "GET" && method != "HEAD") return bad_method("GET");
    return Directory(base);
  }
  if (seg.size() == 2 && what == "new-nonce") {
    if (method != "GET" && method != "HEAD") return bad_method("HEAD, GET");
    net::HttpResponse r;
    r.status = method == "HEAD" ? 200 : 204;
    r.headers["Replay-Nonce"] = nonces_.Issue();
    r.headers["Link"] = "<" + base + "/acme/directory>;rel=\"index\"";
    return r;
  }
  if (seg.size() == 3 && what == "renewal-info") {
    if (method != "GET") return bad_method("GET");
    return Render(RenewalInfo(std::string(seg[2])), base);
  }

  // Signed resources: every one is a POST.
  const bool known = (seg.size() == 2 && (what == "new-account" || what == "new-order" ||
                                          what == "revoke-cert" || what == "key-change")) ||
                     (seg.size() == 3 && (what == "acct" || what == "order" || what == "authz" ||
                                          what == "chall" || what == "cert")) ||
                     (seg.size() == 4 && what == "acct" && seg[3] == "orders") ||
                     (seg.size() == 4 && what == "order" && seg[3] == "finalize");
  if (!known) return not_found();
  if (seg.size() >= 3 && !IsValidId(seg[2])) return not_found();
  if (!post) return bad_method("POST");
  if (request.body.size() > kMaxJwsBytes) {
    Error e = AcmeError(
        "malformed", "the request body is larger than " + std::to_string(kMaxJwsBytes) + " bytes");
    return WithStatus(Render(e, base), 413);
  }
  // RFC 8555 section 6.2: a request that is not application/jose+json: "the server MUST return
  // a response with status code 415 (Unsupported Media Type)".
  if (MediaType(request) != "application/jose+json") {
    return WithStatus(
        Render(AcmeError("malformed", "Content-Type must be application/jose+json"), base), 415);
  }

  const bool jwk_ok = seg.size() == 2 && (what == "new-account" || what == "revoke-cert");
  const bool kid_ok = !(seg.size() == 2 && what == "new-account");
  Result<Authenticated> auth = Authenticate(request, base, jwk_ok, kid_ok);
  if (!auth.ok()) return Render(auth.error(), base);
  const Authenticated& a = *auth;
  const std::string id = seg.size() >= 3 ? std::string(seg[2]) : std::string();

  if (seg.size() == 2) {
    if (what == "new-account") return Render(NewAccount(a, base), base);
    if (what == "new-order") return Render(NewOrder(a, base), base);
    if (what == "revoke-cert") return Render(Revoke(a), base);
    return Render(KeyChange(a, base), base);
  }
  if (seg.size() == 4) {
    if (what == "acct") return Render(ListOrders(a, id, request, base), base);
    return Render(Finalize(a, id, base), base);
  }
  if (what == "acct") return Render(UpdateAccount(a, id, base), base);
  if (what == "order") return Render(GetOrder(a, id, base), base);
  if (what == "authz") return Render(GetAuthz(a, id, base), base);
  if (what == "chall") return Render(Challenge(a, id, base), base);
  return Render(Certificate(a, id), base);
}

nlohmann::json AccountJson(const store::AcmeServerAccount& a, const std::string& base) {
  nlohmann::json j = {
      {"status", a.status}, {"contact", a.contact}, {"orders", AccountUrl(base, a.id) + "/orders"}};
  return j;
}

}  // namespace certfleet::acme::server
