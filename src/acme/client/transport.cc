#include "acme/client/transport.h"

#include <time.h>

#include <algorithm>
#include <charconv>

#include "acme/protocol/problem.h"
#include "acme/protocol/resources.h"
#include "base/encoding.h"
#include "net/address_policy.h"

namespace certfleet::acme {
namespace {

constexpr size_t kMaxPooledNonces = 16;
constexpr size_t kMaxNonceLength = 256;
constexpr std::chrono::seconds kMaxRetryAfter = std::chrono::hours(24 * 365);

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

ErrorCode CodeForStatus(int status) {
  if (status == 401) return ErrorCode::kUnauthorized;
  if (status == 403) return ErrorCode::kForbidden;
  if (status == 404) return ErrorCode::kNotFound;
  if (status == 409) return ErrorCode::kConflict;
  if (status == 429) return ErrorCode::kRateLimited;
  if (status >= 500) return ErrorCode::kUnavailable;
  return ErrorCode::kFailedPrecondition;
}

}  // namespace

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value, TimePoint now) {
  value = Trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // Absurd values (10^30) overflow from_chars: treat them as the cap, not as garbage.
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec == std::errc::result_out_of_range) return kMaxRetryAfter;
    if (ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
    if (n > static_cast<uint64_t>(kMaxRetryAfter.count())) return kMaxRetryAfter;
    return std::chrono::seconds(static_cast<int64_t>(n));
  }
  // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
  std::string text(value);
  struct tm tm = {};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  time_t t = timegm(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  auto at = std::chrono::system_clock::from_time_t(t);
  if (at <= now) return std::chrono::seconds(0);
  auto delta = std::chrono::duration_cast<std::chrono::seconds>(at - now);
  return std::min(delta, kMaxRetryAfter);
}

std::vector<std::string> Response::Links(std::string_view rel) const {
  // Link: <url>; rel="alternate", <url2>;rel=up   (repeated fields arrive joined with ", ")
  std::vector<std::string> out;
  auto it = headers.find("link");
  if (it == headers.end()) return out;
  std::string_view s = it->second;
  while (true) {
    size_t open = s.find('<');
    if (open == std::string_view::npos) break;
    size_t close = s.find('>', open);
    if (close == std::string_view::npos) break;
    std::string_view url = s.substr(open + 1, close - open - 1);
    s.remove_prefix(close + 1);
    // Parameters run to the next link-value; a '<' cannot appear in them unquoted.
    size_t next = s.find('<');
    std::string_view params = s.substr(0, next);
    std::string want_quoted = "rel=\"" + std::string(rel) + "\"";
    std::string want_bare = "rel=" + std::string(rel);
    std::string p;
    for (char c : params) {
      if (c != ' ' && c != '\t') p.push_back(c);
    }
    bool match = false;
    for (size_t pos = 0; (pos = p.find(';', pos)) != std::string::npos; ++pos) {
      std::string_view param = std::string_view(p).substr(pos + 1);
      param = param.substr(0, std::min(param.find(';'), param.find(',')));
      if (param == want_quoted || param == want_bare) match = true;
    }
    if (match) out.emplace_back(url);
  }
  return out;
}

Result<std::unique_ptr<Transport>> Transport::Create(TransportOptions options, const Clock& clock) {
  if (options.json_cap == 0 || options.certificate_cap == 0) {
    return InvalidArgument("ACME response caps must be positive");
  }
  if (options.bad_nonce_retries < 0 || options.bad_nonce_retries > 10) {
    return InvalidArgument("bad_nonce_retries must be within 0..10");
  }
  net::ClientOptions json_opts;
  json_opts.trust_pem = options.http.trust_pem;
  json_opts.timeout = options.http.timeout;
  json_opts.allow_plain_http = options.http.allow_plain_http;
  json_opts.address_allowed = options.http.address_allowed;
  json_opts.max_response_bytes = options.json_cap;
  net::ClientOptions cert_opts;
  cert_opts.trust_pem = options.http.trust_pem;
  cert_opts.timeout = options.http.timeout;
  cert_opts.allow_plain_http = options.http.allow_plain_http;
  cert_opts.address_allowed = options.http.address_allowed;
  cert_opts.max_response_bytes = options.certificate_cap;
  CF_ASSIGN_OR_RETURN(auto json_client, net::HttpsClient::Create(std::move(json_opts)));
  CF_ASSIGN_OR_RETURN(auto cert_client, net::HttpsClient::Create(std::move(cert_opts)));
  return std::unique_ptr<Transport>(
      new Transport(std::move(json_client), std::move(cert_client), clock, std::move(options)));
}

Transport::Transport(std::unique_ptr<net::HttpsClient> json, std::unique_ptr<net::HttpsClient> cert,
                     const Clock& clock, TransportOptions options)
    : json_client_(std::move(json)),
      cert_client_(std::move(cert)),
      clock_(clock),
      options_(std::move(options)),
      allow_plain_http_(options_.http.allow_plain_http) {}

Result<Response> Transport::Send(const std::string& method, const std::string& url,
                                 std::map<std::string, std::string> headers,
                                 const std::string& body, BodyKind kind, std::string_view what) {
  last_bad_nonce_ = false;
  CF_TRY(CheckServerUrl(url, allow_plain_http_, what));
  headers["User-Agent"] = options_.user_agent;
  net::HttpsClient& client = kind == BodyKind::kJson ? *json_client_ : *cert_client_;
  auto raw = client.Do(method, url, headers, body);
  if (!raw.ok()) {
    const Error& e = raw.error();
    if (e.code() == ErrorCode::kTooLarge) {
      size_t cap = kind == BodyKind::kJson ? options_.json_cap : options_.certificate_cap;
      return TooLarge("the CA's answer to " + std::string(what) + " exceeds " +
                      std::to_string(cap) + " bytes");
    }
    // A destination refused by the account's outbound policy keeps its one generic message
    // (net/address_policy.h): the tenant learns no more than that.
    if (e.code() == ErrorCode::kForbidden &&
        e.message().find(net::kPrivateNetworkRule) != std::string::npos) {
      return e;
    }
    return Error(e.code(), "ACME " + std::string(what) + " request failed").WithCause(e);
  }
  Response r;
  r.status = raw->status;
  r.headers = std::move(raw->headers);
  r.body = std::move(raw->body);
  if (auto n = r.headers.find("replay-nonce"); n != r.headers.end()) {
    std::string_view nonce = Trim(n->second);
    if (!nonce.empty() && nonce.size() <= kMaxNonceLength && IsBase64Url(nonce)) {
      if (nonces_.size() >= kMaxPooledNonces) nonces_.pop_front();
      nonces_.emplace_back(nonce);
    }
  }
  if (auto ra = r.headers.find("retry-after"); ra != r.headers.end()) {
    r.retry_after = ParseRetryAfter(ra->second, clock_.Now());
  }
  if (r.status < 200 || r.status > 299) {
    if (auto problem = ParseProblem(r.body, r.status)) {
      last_bad_nonce_ = problem->Is("badNonce");
      return ProblemError(*problem, what, r.retry_after);
    }
    Error e(CodeForStatus(r.status), "the CA answered HTTP " + std::to_string(r.status) + " to " +
                                         std::string(what) + " without a problem document");
    if (r.status >= 500 || r.status == 429) e.WithRetry(r.retry_after);
    return e;
  }
  if (auto loc = r.headers.find("location"); loc != r.headers.end()) {
    r.location = std::string(Trim(loc->second));
    CF_TRY(CheckServerUrl(r.location, allow_plain_http_, std::string(what) + " Location"));
  }
  return r;
}

Result<Response> Transport::Get(const std::string& url, BodyKind kind, std::string_view what) {
  return Send("GET", url, {}, "", kind, what);
}

Result<std::string> Transport::TakeNonce() {
  if (nonces_.empty()) {
    if (new_nonce_url_.empty()) return FailedPrecondition("no newNonce URL: fetch the directory");
    CF_TRY(Send("HEAD", new_nonce_url_, {}, "", BodyKind::kJson, "newNonce"));
    if (nonces_.empty())
      return Malformed("the CA's newNonce answer carries no usable Replay-Nonce");
  }
  std::string nonce = std::move(nonces_.back());
  nonces_.pop_back();
  return nonce;
}

Result<Response> Transport::PostJws(const std::string& url, const JwsBuilder& build, BodyKind kind,
                                    std::string_view what) {
  std::map<std::string, std::string> headers = {{"Content-Type", "application/jose+json"}};
  if (kind == BodyKind::kCertificate) headers["Accept"] = "application/pem-certificate-chain";
  for (int attempt = 0;; ++attempt) {
    CF_ASSIGN_OR_RETURN(std::string nonce, TakeNonce());
    CF_ASSIGN_OR_RETURN(std::string jws, build(nonce));
    auto r = Send("POST", url, headers, jws, kind, what);
    if (r.ok()) return r;
    // RFC 8555 section 6.5: a badNonce answer carries a fresh nonce (now pooled); retry with it.
    if (!last_bad_nonce_ || attempt >= options_.bad_nonce_retries) return r;
  }
}

Result<Response> Transport::Post(const std::string& url, const crypto::PrivateKey& key,
                                 const KeyId& id, std::string_view payload, BodyKind kind,
                                 std::string_view what) {
  return PostJws(
      url, [&](std::string_view nonce) { return SignJws(key, id, nonce, url, payload); }, kind,
      what);
}

}  // namespace certfleet::acme
