#include "agent/agent_client.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "net/http.h"
#include "net/problem.h"

namespace certfleet::agent {
namespace {

using nlohmann::json;

// Large enough for a PEM chain of a few RSA-4096 certificates, small enough to refuse garbage.
constexpr size_t kMaxPemBytes = 64 << 10;
constexpr size_t kMaxJobsPerPoll = 1000;
constexpr size_t kMaxReasonChars = 1024;  // docs/agents.md: reason up to 1024 characters
constexpr int kMaxPollWaitSeconds = 60;
// Issue #6: http-01 tasks per poll, token and key authorization lengths (RFC 8555 section 8.1:
// keyAuthorization = token || '.' || base64url(thumbprint)).
constexpr size_t kMaxChallengesPerPoll = 100;
constexpr size_t kMaxChallengeTokenChars = 256;
constexpr size_t kMaxKeyAuthorizationBytes = 512;

// Overwrites a string member in place, so a secret parsed into a json value does not linger.
void WipeStringMember(json& object, const char* key) {
  auto it = object.find(key);
  if (it != object.end() && it->is_string()) {
    std::string& s = it->get_ref<std::string&>();
    SecureWipe(s.data(), s.size());
  }
}

void WipeString(std::string& s) { SecureWipe(s.data(), s.size()); }

Result<json> ParseObject(const std::string& body, std::string_view what) {
  // allow_exceptions=false: a parse error yields a discarded value instead of throwing. dump()
  // and get<>() below are only used on values whose type was checked, so nothing throws past
  // this module (CONVENTIONS.md #1).
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Malformed(std::string(what) + " response is not a JSON object");
  }
  return j;
}

Error BadField(std::string_view what, std::string_view key, std::string_view problem) {
  return Malformed(std::string(what) + " response: \"" + std::string(key) + "\" " +
                   std::string(problem));
}

const json* Find(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

// A string field. Absent or null: "" when optional, Malformed when required.
Result<std::string> GetString(const json& o, std::string_view what, const char* key,
                              bool required) {
  const json* v = Find(o, key);
  if (!v) {
    if (required) return BadField(what, key, "is missing");
    return std::string();
  }
  if (!v->is_string()) return BadField(what, key, "must be a string");
  return v->get<std::string>();
}

// An integer field (not a float, not a string), within int64.
Result<std::optional<int64_t>> GetInt(const json& o, std::string_view what, const char* key,
                                      bool required) {
  const json* v = Find(o, key);
  if (!v) {
    if (required) return BadField(what, key, "is missing");
    return std::optional<int64_t>();
  }
  if (v->is_number_unsigned()) {
    if (v->get<uint64_t>() > uint64_t(INT64_MAX)) return BadField(what, key, "is out of range");
    return std::optional<int64_t>(int64_t(v->get<uint64_t>()));
  }
  if (!v->is_number_integer()) return BadField(what, key, "must be an integer");
  return std::optional<int64_t>(v->get<int64_t>());
}

// A positive integer (seq, version, generation).
Result<int64_t> GetPositive(const json& o, std::string_view what, const char* key, bool required) {
  CF_ASSIGN_OR_RETURN(std::optional<int64_t> v, GetInt(o, what, key, required));
  if (!v) return int64_t{0};
  if (*v <= 0) return BadField(what, key, "must be greater than 0");
  return *v;
}

// An id or name: [A-Za-z0-9._-], 1..64, as base/validate.h ValidateName. These end up in URL
// paths and log lines, so nothing else is accepted.
Result<std::string> GetName(const json& o, std::string_view what, const char* key, bool required) {
  CF_ASSIGN_OR_RETURN(std::string s, GetString(o, what, key, required));
  if (s.empty()) {
    if (required) return BadField(what, key, "must not be empty");
    return s;
  }
  if (!ValidateName(key, s).ok()) return BadField(what, key, "is not a valid id or name");
  return s;
}

Result<std::optional<TimePoint>> GetTime(const json& o, std::string_view what, const char* key) {
  CF_ASSIGN_OR_RETURN(std::string s, GetString(o, what, key, /*required=*/false));
  if (s.empty()) return std::optional<TimePoint>();
  Result<TimePoint> t = ParseRfc3339(s);
  if (!t.ok()) return BadField(what, key, "is not an RFC 3339 timestamp");
  return std::optional<TimePoint>(*t);
}

bool IsPemText(std::string_view s) {
  for (char c : s) {
    if (c != '\n' && c != '\r' && c != '\t' && (c < 0x20 || c > 0x7e)) return false;
  }
  return true;
}

// A PEM field: printable text holding at least one PEM block. Empty is allowed only when
// `may_be_empty` (a chain for a leaf issued directly by the root).
Result<std::string> GetPem(const json& o, std::string_view what, const char* key,
                           bool may_be_empty) {
  CF_ASSIGN_OR_RETURN(std::string s, GetString(o, what, key, !may_be_empty));
  if (s.empty()) {
    if (may_be_empty) return s;
    return BadField(what, key, "must not be empty");
  }
  if (s.size() > kMaxPemBytes) return BadField(what, key, "is too large");
  if (!IsPemText(s) || s.find("-----BEGIN ") == std::string::npos) {
    return BadField(what, key, "is not PEM");
  }
  return s;
}

Result<std::string> GetSerial(const json& o, std::string_view what, const char* key) {
  CF_ASSIGN_OR_RETURN(std::string s, GetString(o, what, key, /*required=*/false));
  if (s.size() > 64) return BadField(what, key, "is too long");
  for (char& c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return BadField(what, key, "is not hex");
    c = char(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

Result<std::map<std::string, std::string>> GetTags(const json& o, std::string_view what,
                                                   const char* key) {
  std::map<std::string, std::string> tags;
  const json* v = Find(o, key);
  if (!v) return tags;
  if (!v->is_object()) return BadField(what, key, "must be an object");
  for (const auto& [k, val] : v->items()) {
    if (!val.is_string()) return BadField(what, key, "values must be strings");
    tags.emplace(k, val.get<std::string>());
  }
  return tags;
}

Result<IssuedCertificate> ParseIssued(const json& o, std::string_view what) {
  IssuedCertificate c;
  CF_ASSIGN_OR_RETURN(c.certificate, GetPem(o, what, "certificate", /*may_be_empty=*/false));
  CF_ASSIGN_OR_RETURN(c.chain, GetPem(o, what, "chain", /*may_be_empty=*/true));
  CF_ASSIGN_OR_RETURN(c.not_after, GetTime(o, what, "not_after"));
  return c;
}

Result<AgentJob> ParseJob(const json& j) {
  constexpr std::string_view kWhat = "job";
  if (!j.is_object()) return Malformed("jobs response: a job is not an object");
  AgentJob job;
  // What the agent acts on is required; the rest is informational but checked when present.
  CF_ASSIGN_OR_RETURN(job.id, GetName(j, kWhat, "id", true));
  CF_ASSIGN_OR_RETURN(job.deployment_id, GetName(j, kWhat, "deployment_id", true));
  CF_ASSIGN_OR_RETURN(job.seq, GetPositive(j, kWhat, "seq", true));
  CF_ASSIGN_OR_RETURN(job.version, GetPositive(j, kWhat, "version", true));
  CF_ASSIGN_OR_RETURN(job.profile, GetName(j, kWhat, "profile", true));
  CF_ASSIGN_OR_RETURN(job.secret_id, GetName(j, kWhat, "secret_id", true));
  CF_ASSIGN_OR_RETURN(job.secret_version, GetPositive(j, kWhat, "secret_version", true));
  CF_ASSIGN_OR_RETURN(job.generation, GetPositive(j, kWhat, "generation", false));
  CF_ASSIGN_OR_RETURN(job.certificate_id, GetName(j, kWhat, "certificate_id", false));
  CF_ASSIGN_OR_RETURN(job.certificate_name, GetName(j, kWhat, "certificate_name", false));
  CF_ASSIGN_OR_RETURN(job.version_id, GetName(j, kWhat, "version_id", false));
  CF_ASSIGN_OR_RETURN(job.serial, GetSerial(j, kWhat, "serial"));
  CF_ASSIGN_OR_RETURN(job.not_after, GetTime(j, kWhat, "not_after"));
  return job;
}

bool IsChallengeToken(std::string_view token) {
  return !token.empty() && token.size() <= kMaxChallengeTokenChars && IsBase64Url(token);
}

// One entry of "challenges". The key authorization is never quoted in an error.
Result<Http01Task> ParseChallenge(const json& j) {
  constexpr std::string_view kWhat = "challenge";
  if (!j.is_object()) return Malformed("jobs response: a challenge is not an object");
  Http01Task task;
  CF_ASSIGN_OR_RETURN(task.token, GetString(j, kWhat, "token", true));
  if (!IsChallengeToken(task.token)) {
    return BadField(kWhat, "token", "is not 1 to 256 base64url characters");
  }
  CF_ASSIGN_OR_RETURN(task.identifier, GetString(j, kWhat, "identifier", false));
  for (char& c : task.identifier) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (!task.identifier.empty() && !ValidateDnsName(task.identifier, false).ok()) {
    return BadField(kWhat, "identifier", "is not a DNS name");
  }
  CF_ASSIGN_OR_RETURN(std::string action, GetString(j, kWhat, "action", true));
  if (action == "present") {
    task.action = Http01Action::kPresent;
  } else if (action == "remove") {
    task.action = Http01Action::kRemove;
  } else {
    return BadField(kWhat, "action", "must be \"present\" or \"remove\"");
  }
  // Required to present; a remove needs only the token, but what it carries is checked alike.
  CF_ASSIGN_OR_RETURN(task.key_authorization, GetString(j, kWhat, "key_authorization",
                                                        task.action == Http01Action::kPresent));
  if (task.action == Http01Action::kPresent || !task.key_authorization.empty()) {
    const std::string& ka = task.key_authorization;
    const size_t n = task.token.size();
    if (ka.size() > kMaxKeyAuthorizationBytes || ka.size() <= n + 1 ||
        ka.compare(0, n, task.token) != 0 || ka[n] != '.' ||
        !IsBase64Url(std::string_view(ka).substr(n + 1))) {
      return BadField(kWhat, "key_authorization", "is not \"<token>.<thumbprint>\"");
    }
  }
  return task;
}

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '-';
}

// json::dump throws for strings that are not UTF-8; the inputs here are our own CSR PEM and
// host name, but keep the exception inside the module anyway.
Result<std::string> DumpString(std::string_view field, const std::string& s) {
  try {
    return json(s).dump();
  } catch (const json::exception&) {
    return InvalidArgument(std::string(field) + " is not valid UTF-8");
  }
}

}  // namespace

std::string_view Http01ActionName(Http01Action action) {
  switch (action) {
    case Http01Action::kPresent:
      return "present";
    case Http01Action::kRemove:
      return "remove";
  }
  return "?";
}

std::string SanitizeText(std::string_view s, size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max));
  for (char c : s) {
    if (out.size() >= max) break;
    out += (c >= 0x20 && c <= 0x7e) ? c : '?';
  }
  return out;
}

Error ErrorFromStatus(const net::HttpResponse& response) {
  const net::DecodedProblem problem = net::DecodeProblem(response);
  std::string message = "server answered HTTP " + std::to_string(problem.status);
  if (problem.typed) message += " " + std::string(ErrorCodeName(problem.code));
  const std::string& detail = !problem.detail.empty() ? problem.detail : problem.title;
  if (!detail.empty()) message += ": " + SanitizeText(detail, 300);
  Error e = problem.ToError(std::move(message));
  // Any server-side failure is retried after backing off, an internal error too: the agent keeps
  // its job for the next attempt rather than reporting it failed for the server's fault.
  if (problem.status >= 500 && !e.retryable()) e.WithRetry(problem.retry_after);
  return e;
}

Result<std::unique_ptr<AgentClient>> AgentClient::Create(AgentClientOptions options) {
  CF_ASSIGN_OR_RETURN(net::Url url, net::ParseUrl(options.server_url));
  if (url.scheme != "https") return InvalidArgument("the server URL must start with https://");
  if (url.target != "/") return InvalidArgument("the server URL must not have a path");
  std::string base = options.server_url;
  while (!base.empty() && base.back() == '/') base.pop_back();

  auto make = [&](std::chrono::milliseconds timeout) {
    net::ClientOptions co;
    co.trust_pem = options.trust_pem;
    co.client_cert_pem = options.client_cert_pem;
    co.client_key_pem = options.client_key_pem.Clone();
    co.timeout = timeout;
    co.max_response_bytes = options.max_response_bytes;
    return net::HttpsClient::Create(std::move(co));
  };
  CF_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> http, make(options.timeout));
  // The long poll's timeout must exceed the longest wait the protocol allows.
  CF_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpsClient> poll,
                      make(std::chrono::seconds(kMaxPollWaitSeconds) +
                           std::max(options.poll_grace, options.timeout)));
  options.client_key_pem = SecretBytes();
  return std::make_unique<AgentClient>(std::move(base), std::move(http), std::move(poll));
}

Result<net::HttpResponse> AgentClient::Call(net::HttpsClient& client, const std::string& method,
                                            const std::string& target, const std::string& body,
                                            std::initializer_list<int> ok_statuses) {
  std::map<std::string, std::string> headers{{"Accept", "application/json"}};
  if (method == "POST") headers["Content-Type"] = "application/json";
  CF_ASSIGN_OR_RETURN(net::HttpResponse r, client.Do(method, base_ + target, headers, body));
  for (int s : ok_statuses) {
    if (r.status == s) return r;
  }
  if (r.status >= 200 && r.status < 300) {
    WipeString(r.body);
    return Malformed("server answered HTTP " + std::to_string(r.status) + " to " + method + " " +
                     target);
  }
  return ErrorFromStatus(r);
}

namespace wire {

Result<std::string> EnrollRequestBody(const SecretBytes& token, const std::string& csr_pem,
                                      const std::string& hostname) {
  if (token.empty() || token.size() > 512 ||
      !std::all_of(token.view().begin(), token.view().end(), IsTokenChar)) {
    return InvalidArgument("the enrollment token is empty or holds characters a token cannot have");
  }
  CF_ASSIGN_OR_RETURN(std::string csr_json, DumpString("CSR", csr_pem));
  CF_ASSIGN_OR_RETURN(std::string host_json, DumpString("hostname", hostname));
  // The body is assembled by hand into one buffer reserved up front, so the token is copied
  // exactly once here (no reallocation leaves a stray copy) and that copy is wiped after use.
  std::string body;
  body.reserve(64 + token.size() + csr_json.size() + host_json.size());
  body += "{\"token\":\"";
  body.append(token.view());
  body += "\",\"csr\":";
  body += csr_json;
  body += ",\"hostname\":";
  body += host_json;
  body += "}";
  return body;
}

Result<Enrollment> ParseEnrollResponse(const std::string& body) {
  constexpr std::string_view kWhat = "enroll";
  CF_ASSIGN_OR_RETURN(json j, ParseObject(body, kWhat));
  Enrollment e;
  CF_ASSIGN_OR_RETURN(e.agent_id, GetName(j, kWhat, "agent_id", true));
  // Only agent_id and the certificate matter to the agent; the rest is checked for type but
  // not for content, so that a cosmetic difference cannot waste a one-time token.
  CF_ASSIGN_OR_RETURN(std::string account, GetString(j, kWhat, "account", false));
  e.account = SanitizeText(account, 128);
  CF_ASSIGN_OR_RETURN(e.tags, GetTags(j, kWhat, "tags"));
  CF_ASSIGN_OR_RETURN(e.certificate, ParseIssued(j, kWhat));
  return e;
}

Result<PollResult> ParsePollResponse(const std::string& body) {
  constexpr std::string_view kWhat = "jobs";
  CF_ASSIGN_OR_RETURN(json j, ParseObject(body, kWhat));
  const json* jobs = Find(j, "jobs");
  if (!jobs || !jobs->is_array()) return BadField(kWhat, "jobs", "must be an array");
  if (jobs->size() > kMaxJobsPerPoll) return BadField(kWhat, "jobs", "holds too many jobs");
  PollResult out;
  for (const json& item : *jobs) {
    CF_ASSIGN_OR_RETURN(AgentJob job, ParseJob(item));
    out.jobs.push_back(std::move(job));
  }
  std::sort(out.jobs.begin(), out.jobs.end(),
            [](const AgentJob& a, const AgentJob& b) { return a.seq < b.seq; });
  for (size_t i = 1; i < out.jobs.size(); ++i) {
    if (out.jobs[i].seq == out.jobs[i - 1].seq) {
      return BadField(kWhat, "jobs", "holds two jobs with the same seq");
    }
  }
  CF_ASSIGN_OR_RETURN(out.cert_renew_after, GetTime(j, kWhat, "cert_renew_after"));
  // Optional (issue #6): absent or null means no http-01 work.
  if (const json* challenges = Find(j, "challenges")) {
    if (!challenges->is_array()) return BadField(kWhat, "challenges", "must be an array");
    if (challenges->size() > kMaxChallengesPerPoll) {
      return BadField(kWhat, "challenges", "holds too many challenges");
    }
    for (const json& item : *challenges) {
      CF_ASSIGN_OR_RETURN(Http01Task task, ParseChallenge(item));
      out.challenges.push_back(std::move(task));
    }
  }
  return out;
}

Result<JobBundle> ParseBundleResponse(std::string& body, int64_t expected_seq) {
  constexpr std::string_view kWhat = "bundle";
  Result<json> parsed = ParseObject(body, kWhat);
  WipeString(body);  // it held the (encrypted) private key
  if (!parsed.ok()) return std::move(parsed).error();
  json& j = *parsed;
  auto wipe = [&] { WipeStringMember(j, "private_key"); };
  JobBundle b;
  Result<int64_t> seq = GetPositive(j, kWhat, "seq", true);
  Result<std::string> cert = GetPem(j, kWhat, "certificate", false);
  Result<std::string> chain = GetPem(j, kWhat, "chain", true);
  Result<std::string> key = GetPem(j, kWhat, "private_key", false);
  wipe();
  if (!seq.ok()) return std::move(seq).error();
  if (!cert.ok()) return std::move(cert).error();
  if (!chain.ok()) return std::move(chain).error();
  if (!key.ok()) return std::move(key).error();
  if (*seq != expected_seq) {
    return Malformed("bundle response: seq " + std::to_string(*seq) + " is not the job's seq " +
                     std::to_string(expected_seq));
  }
  b.seq = *seq;
  b.certificate = std::move(*cert);
  b.chain = std::move(*chain);
  b.private_key = SecretBytes::FromString(std::move(*key));
  return b;
}

Result<SecretBytes> ParseSecretResponse(std::string& body) {
  Result<json> parsed = ParseObject(body, "secret");
  WipeString(body);
  if (!parsed.ok()) return std::move(parsed).error();
  Result<std::string> value = GetString(*parsed, "secret", "value", true);
  WipeStringMember(*parsed, "value");
  if (!value.ok()) return std::move(value).error();
  if (value->empty()) return BadField("secret", "value", "must not be empty");
  return SecretBytes::FromString(std::move(*value));
}

Result<std::string> ReportRequestBody(const JobReport& report) {
  if (report.seq <= 0) return InvalidArgument("report seq must be greater than 0");
  if (report.state != "installed" && report.state != "verified" && report.state != "failed" &&
      report.state != "rolled_back") {
    return InvalidArgument("report state must be installed, verified, failed or rolled_back");
  }
  json body = {{"seq", report.seq},
               {"state", report.state},
               {"reason", SanitizeText(report.reason, kMaxReasonChars)},
               {"paths", json::array()},
               {"serial", SanitizeText(report.serial, 64)}};
  for (const std::string& p : report.paths) body["paths"].push_back(SanitizeText(p, 4096));
  // Every string above is printable ASCII, so dump() cannot throw.
  return body.dump();
}

}  // namespace wire

Result<Enrollment> AgentClient::Enroll(const SecretBytes& token, const std::string& csr_pem,
                                       const std::string& hostname) {
  CF_ASSIGN_OR_RETURN(std::string body, wire::EnrollRequestBody(token, csr_pem, hostname));
  Result<net::HttpResponse> r = Call(*http_, "POST", "/v1/agent/enroll", body, {200, 201});
  WipeString(body);
  if (!r.ok()) return std::move(r).error();
  return wire::ParseEnrollResponse(r->body);
}

Result<PollResult> AgentClient::Poll(std::chrono::seconds wait) {
  if (wait.count() < 0 || wait.count() > kMaxPollWaitSeconds) {
    return InvalidArgument("poll wait must be 0..60 seconds");
  }
  CF_ASSIGN_OR_RETURN(
      net::HttpResponse r,
      Call(*poll_http_, "GET", "/v1/agent/jobs?wait=" + std::to_string(wait.count()), "", {200}));
  return wire::ParsePollResponse(r.body);
}

Result<JobBundle> AgentClient::FetchBundle(const AgentJob& job) {
  CF_TRY(ValidateName("job id", job.id));
  Result<net::HttpResponse> r =
      Call(*http_, "GET", "/v1/agent/jobs/" + net::UrlEncode(job.id) + "/bundle", "", {200});
  if (!r.ok()) return std::move(r).error();
  return wire::ParseBundleResponse(r->body, job.seq);
}

Result<SecretBytes> AgentClient::FetchSecret(const std::string& secret_id, int64_t version) {
  CF_TRY(ValidateName("secret id", secret_id));
  if (version <= 0) return InvalidArgument("secret version must be greater than 0");
  Result<net::HttpResponse> r =
      Call(*http_, "GET",
           "/v1/agent/secrets/" + net::UrlEncode(secret_id) + "?version=" + std::to_string(version),
           "", {200});
  if (!r.ok()) return std::move(r).error();
  return wire::ParseSecretResponse(r->body);
}

Status AgentClient::Report(const std::string& job_id, const JobReport& report) {
  CF_TRY(ValidateName("job id", job_id));
  CF_ASSIGN_OR_RETURN(std::string body, wire::ReportRequestBody(report));
  CF_ASSIGN_OR_RETURN(net::HttpResponse r,
                      Call(*http_, "POST", "/v1/agent/jobs/" + net::UrlEncode(job_id) + "/report",
                           body, {200, 201, 202, 204}));
  (void)r;
  return Ok();
}

Status AgentClient::AckChallenge(const std::string& token, const std::string& state,
                                 const std::string& reason) {
  if (!IsChallengeToken(token)) {
    return InvalidArgument("challenge token is not 1 to 256 base64url characters");
  }
  if (state != "presented" && state != "removed" && state != "failed") {
    return InvalidArgument("challenge state must be presented, removed or failed");
  }
  json body = {{"state", state}};
  if (!reason.empty()) body["reason"] = SanitizeText(reason, kMaxReasonChars);
  // Base64url needs no escaping in a path; every string above is printable ASCII, so dump()
  // cannot throw.
  CF_ASSIGN_OR_RETURN(net::HttpResponse r, Call(*http_, "POST", "/v1/agent/challenges/" + token,
                                                body.dump(), {200, 204}));
  (void)r;
  return Ok();
}

Result<IssuedCertificate> AgentClient::Renew(const std::string& csr_pem) {
  CF_ASSIGN_OR_RETURN(std::string csr_json, DumpString("CSR", csr_pem));
  CF_ASSIGN_OR_RETURN(net::HttpResponse r, Call(*http_, "POST", "/v1/agent/renew",
                                                "{\"csr\":" + csr_json + "}", {200, 201}));
  CF_ASSIGN_OR_RETURN(json j, ParseObject(r.body, "renew"));
  return ParseIssued(j, "renew");
}

}  // namespace certfleet::agent
