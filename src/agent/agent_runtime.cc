#include "agent/agent_runtime.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/files.h"
#include "base/log.h"
#include "base/time_util.h"
#include "base/validate.h"
#include "crypto/key.h"
#include "x509/csr.h"

namespace certfleet::agent {
namespace {

constexpr size_t kMaxTokenBytes = 4096;
constexpr char kCsrCommonName[] = "certfleet-agent";  // the server ignores the CSR subject

// The host name as the server accepts it (display only): letters, digits, '-', '.', '_'.
std::string LocalHostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "unknown";
  std::string h(buf, ::strnlen(buf, 253));
  for (char& c : h) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_';
    if (!ok) c = '-';
  }
  return h;
}

// The token file holds the token and perhaps a trailing newline.
Result<SecretBytes> ReadToken(const std::string& path) {
  if (path.empty()) {
    return FailedPrecondition(
        "the state directory holds no client certificate: enrolling needs --enroll-token-file");
  }
  Result<SecretBytes> raw = ReadSecretFile(path, kMaxTokenBytes);
  if (!raw.ok()) {
    return Error(ErrorCode::kFailedPrecondition, "cannot read the enrollment token file " + path)
        .WithCause(std::move(raw).error());
  }
  std::string_view v = raw->view();
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) {
    v.remove_suffix(1);
  }
  while (!v.empty() && (v.front() == ' ' || v.front() == '\n')) v.remove_prefix(1);
  if (v.empty()) return FailedPrecondition("the enrollment token file " + path + " is empty");
  return SecretBytes::FromView(v);
}

// A third of the certificate's lifetime before it ends (docs/agents.md: "renews when a third of
// its certificate's lifetime remains").
TimePoint RenewPoint(const x509::Certificate& cert) {
  const auto lifetime = cert.not_after() - cert.not_before();
  return cert.not_after() - lifetime / 3;
}

}  // namespace

bool IsRetryable(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kRateLimited:
      return true;
    default:
      return e.retryable();
  }
}

Result<std::unique_ptr<AgentRuntime>> AgentRuntime::Create(RuntimeOptions options,
                                                           const Clock& clock, Random& random) {
  if (options.server_url.empty()) return InvalidArgument("the server URL is required");
  if (options.state_dir.empty()) return InvalidArgument("the state directory is required");
  if (options.poll_wait.count() < 0 || options.poll_wait.count() > 60) {
    return InvalidArgument("the poll wait must be 0..60 seconds");
  }
  Result<std::vector<x509::Certificate>> roots = x509::Certificate::ParsePemChain(options.ca_pem);
  if (!roots.ok() || roots->empty()) {
    return InvalidArgument("the CA file must hold at least one PEM certificate");
  }
  if (!options.bundle_roots_pem.empty()) {
    auto more = x509::Certificate::ParsePemChain(options.bundle_roots_pem);
    if (!more.ok()) {
      return InvalidArgument("the bundle roots are not PEM certificates: " +
                             more.error().message());
    }
    for (auto& c : *more) roots->push_back(std::move(c));
  }
  if (options.hostname.empty()) options.hostname = LocalHostname();
  return std::unique_ptr<AgentRuntime>(
      new AgentRuntime(std::move(options), clock, random, std::move(*roots)));
}

// ------------------------------------------------------------------ stop handling

bool AgentRuntime::BeginCritical() {
  std::lock_guard lock(mu_);
  if (stop_) return false;
  busy_ = true;
  return true;
}

void AgentRuntime::EndCritical() {
  std::lock_guard lock(mu_);
  busy_ = false;
  cv_.notify_all();
}

bool AgentRuntime::SleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [&] { return stop_; });
  return !stop_;
}

void AgentRuntime::RequestStop() {
  std::lock_guard lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

bool AgentRuntime::stop_requested() const {
  std::lock_guard lock(mu_);
  return stop_;
}

bool AgentRuntime::WaitUntilStoppable(std::chrono::milliseconds grace) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return stopped_ || (stop_ && !busy_); });
  // No new disk work can begin now (BeginCritical refuses); a sleeping worker returns at once.
  cv_.wait_for(lock, grace, [&] { return stopped_; });
  return stopped_;
}

// ------------------------------------------------------------------ start-up and identity

Status AgentRuntime::Start() {
  if (!BeginCritical()) return Ok();
  struct Done {
    AgentRuntime* r;
    ~Done() { r->EndCritical(); }
  } done{this};

  // An install cut short by a crash is rolled back before anything else touches the profile.
  // A profile that cannot be recovered now (say its directory does not exist yet) does not stop
  // the agent: InstallBundle recovers again before each install and reports what fails.
  for (const auto& [name, profile] : options_.config.profiles) {
    Result<bool> recovered = RecoverProfile(profile);
    if (!recovered.ok()) {
      log::Warn("profile recovery failed",
                {{"profile", name}, {"error", recovered.error().ToString()}});
    } else if (*recovered) {
      log::Warn("rolled back an interrupted install", {{"profile", name}});
    }
  }
  if (!dir_) {
    CF_ASSIGN_OR_RETURN(dir_, StateDir::Open(options_.state_dir));
  }
  CF_ASSIGN_OR_RETURN(state_, dir_->LoadState());
  if (!dir_->HasCertificate()) CF_TRY(Enroll());
  return ConnectWithIdentity();
}

Status AgentRuntime::Enroll() {
  CF_ASSIGN_OR_RETURN(SecretBytes token, ReadToken(options_.enroll_token_file));
  CF_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::Generate(crypto::KeyType::kP256));
  CF_ASSIGN_OR_RETURN(x509::Csr csr, x509::Csr::Build(key, kCsrCommonName, {}));
  AgentClientOptions co;
  co.server_url = options_.server_url;
  co.trust_pem = options_.ca_pem;
  co.timeout = options_.request_timeout;
  CF_ASSIGN_OR_RETURN(std::unique_ptr<AgentClient> anonymous, AgentClient::Create(std::move(co)));
  log::Info("enrolling", {{"server", options_.server_url}, {"hostname", options_.hostname}});
  CF_ASSIGN_OR_RETURN(Enrollment e, anonymous->Enroll(token, csr.ToPem(), options_.hostname));

  // A new identity starts a new seq space on the server: forget the old agent's seq, keep the
  // installed versions (they describe this host's files, whoever put them there).
  if (state_.agent_id != e.agent_id) {
    state_.agent_id = e.agent_id;
    state_.last_seq = 0;
    state_.last_result.reset();
  }
  CF_TRY(dir_->SaveState(state_));
  CF_TRY(dir_->SaveIdentity(key, e.certificate.certificate, e.certificate.chain));
  log::Info("enrolled",
            {{"agent_id", e.agent_id},
             {"account", e.account},
             {"cert_not_after",
              e.certificate.not_after ? FormatRfc3339(*e.certificate.not_after) : std::string()}});
  return Ok();
}

Status AgentRuntime::ConnectWithIdentity() {
  CF_ASSIGN_OR_RETURN(Identity id, dir_->LoadIdentity());
  if (state_.agent_id.empty()) {
    // state.json was lost: the agent id is only for logs, the server knows us by certificate.
    state_.agent_id = SanitizeText(id.certificate.subject_common_name(), 64);
  }
  AgentClientOptions co;
  co.server_url = options_.server_url;
  co.trust_pem = options_.ca_pem;
  co.client_cert_pem = id.certificate_pem;
  if (!co.client_cert_pem.empty() && co.client_cert_pem.back() != '\n') co.client_cert_pem += '\n';
  co.client_cert_pem += id.chain_pem;
  co.client_key_pem = std::move(id.key_pem);
  co.timeout = options_.request_timeout;
  CF_ASSIGN_OR_RETURN(client_, AgentClient::Create(std::move(co)));
  client_cert_ = id.certificate;
  log::Info("agent identity loaded", {{"agent_id", state_.agent_id},
                                      {"cert_serial", id.certificate.serial_hex()},
                                      {"cert_not_after", FormatRfc3339(id.certificate.not_after())},
                                      {"renew_at", FormatRfc3339(*renew_at())}});
  return Ok();
}

std::optional<TimePoint> AgentRuntime::renew_at() const {
  if (!client_cert_) return std::nullopt;
  TimePoint at = RenewPoint(*client_cert_);
  // The server accepts a renewal only in the last third (issue #13), so its hint can postpone
  // renewal but never bring it forward; every certificate it issued stays valid meanwhile.
  if (server_renew_after_) at = std::max(at, *server_renew_after_);
  return at;
}

Status AgentRuntime::MaybeRenew() {
  const TimePoint now = clock_.Now();
  std::optional<TimePoint> at = renew_at();
  if (!at || now < *at) return Ok();
  if (next_renew_attempt_ && now < *next_renew_attempt_) return Ok();
  Status st = Renew();
  if (st.ok()) {
    renew_failures_ = 0;
    next_renew_attempt_.reset();
    return Ok();
  }
  // The current certificate still works until it expires: keep polling, retry later.
  const auto delay = BackoffDelay(options_.backoff, renew_failures_++, random_);
  next_renew_attempt_ = now + std::max<std::chrono::milliseconds>(delay, std::chrono::seconds(1));
  log::Warn("client certificate renewal failed", {{"agent_id", state_.agent_id},
                                                  {"error", st.error().ToString()},
                                                  {"retry_in_ms", std::to_string(delay.count())}});
  return Ok();
}

Status AgentRuntime::Renew() {
  if (!BeginCritical()) return Ok();
  struct Done {
    AgentRuntime* r;
    ~Done() { r->EndCritical(); }
  } done{this};
  log::Info("renewing the client certificate", {{"agent_id", state_.agent_id}});
  CF_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::Generate(crypto::KeyType::kP256));
  CF_ASSIGN_OR_RETURN(x509::Csr csr, x509::Csr::Build(key, kCsrCommonName, {}));
  CF_ASSIGN_OR_RETURN(IssuedCertificate issued, client_->Renew(csr.ToPem()));
  // The server still accepts the old certificate until it expires, so a crash between its
  // answer and this swap only costs another renewal.
  CF_TRY(dir_->SaveIdentity(key, issued.certificate, issued.chain));
  server_renew_after_.reset();
  CF_TRY(ConnectWithIdentity());
  log::Info("client certificate renewed",
            {{"agent_id", state_.agent_id}, {"cert_serial", client_cert_->serial_hex()}});
  return Ok();
}

// ------------------------------------------------------------------ the loop

Status AgentRuntime::Run() {
  int failures = 0;
  Status started = Ok();
  while (!stop_requested()) {
    started = Start();
    if (started.ok()) break;
    if (!IsRetryable(started.error())) {
      log::Error("agent start-up failed", {{"error", started.error().ToString()}});
      break;
    }
    const auto delay =
        BackoffDelay(options_.backoff, failures++, random_, started.error().retry_after());
    log::Warn("agent start-up failed, retrying", {{"error", started.error().ToString()},
                                                  {"retry_in_ms", std::to_string(delay.count())}});
    if (!SleepFor(delay)) break;
  }
  failures = 0;
  while (started.ok() && client_ && !stop_requested()) {
    const auto t0 = std::chrono::steady_clock::now();
    Result<bool> progress = RunOnce();
    if (!progress.ok()) {
      const auto delay =
          BackoffDelay(options_.backoff, failures++, random_, progress.error().retry_after());
      log::Warn("agent loop error, backing off", {{"agent_id", state_.agent_id},
                                                  {"error", progress.error().ToString()},
                                                  {"retry_in_ms", std::to_string(delay.count())}});
      SleepFor(delay);
      continue;
    }
    failures = 0;
    if (*progress) continue;
    // No new work: keep polls at least min_idle_poll_interval apart.
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);
    if (spent < options_.min_idle_poll_interval) {
      SleepFor(options_.min_idle_poll_interval - spent);
    }
  }
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }
  if (!started.ok()) return started;
  log::Info("agent stopped", {{"agent_id", state_.agent_id}});
  return Ok();
}

Result<bool> AgentRuntime::RunOnce() {
  if (!client_) return FailedPrecondition("the agent has not started");
  CF_TRY(MaybeRenew());
  CF_ASSIGN_OR_RETURN(PollResult poll, client_->Poll(options_.poll_wait));
  if (poll.cert_renew_after) server_renew_after_ = poll.cert_renew_after;
  bool progress = false;
  for (const Http01Task& task : poll.challenges) {
    if (!BeginCritical()) return progress;  // stop requested: the server re-sends the rest
    const bool acked = HandleChallenge(task);
    EndCritical();
    // Only an acknowledged task is progress: one whose ack keeps failing must not make the
    // loop poll without pause.
    if (acked) progress = true;
  }
  bool only_replays = !poll.jobs.empty();
  for (const AgentJob& job : poll.jobs) {
    if (!BeginCritical()) break;  // stop requested: leave the rest for the next run
    Result<JobOutcome> outcome = HandleJob(job);
    EndCritical();
    if (!outcome.ok()) return std::move(outcome).error();
    if (*outcome == JobOutcome::kCompleted) progress = true;
    if (*outcome != JobOutcome::kRefusedReplay) only_replays = false;
  }
  if (only_replays) {
    // The server keeps sending jobs the agent refuses: do not spin on them.
    return Error(ErrorCode::kConflict, "the server sent only replayed jobs").WithRetry();
  }
  return progress;
}

}  // namespace certfleet::agent
