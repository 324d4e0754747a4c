// certfleetd: the control plane. Composition root: config -> objects -> run (docs/architecture.md).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "acme/client/exec_solver.h"
#include "acme/client/http01.h"
#include "acme/server/server.h"
#include "acme/server/validator.h"
#include "api/api_service.h"
#include "api/poll_hub.h"
#include "api/readiness.h"
#include "base/files.h"
#include "base/log.h"
#include "base/time_util.h"
#include "bootstrap.h"
#include "ca/authority.h"
#include "config.h"
#include "events/destination.h"
#include "events/dispatcher.h"
#include "events/webhooks.h"
#include "jobs/engine.h"
#include "lifecycle/acme_config_service.h"
#include "lifecycle/acme_server_issuance.h"
#include "lifecycle/agent_service.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/deployment_service.h"
#include "lifecycle/expiry_watcher.h"
#include "lifecycle/export_service.h"
#include "lifecycle/issuers/acme_issuer.h"
#include "lifecycle/issuers/internal_issuer.h"
#include "lifecycle/redeploy_on_renewal.h"
#include "lifecycle/renewal_scheduler.h"
#include "net/address_policy.h"
#include "net/https_server.h"
#include "secrets/audit_key.h"
#include "secrets/kek.h"
#include "secrets/keyring.h"
#include "secrets/pkcs11_kek.h"
#include "secrets/sealer.h"
#include "secrets/secret_store.h"
#include "store/migrate_store.h"
#include "store/open_store.h"

namespace certfleet::daemon {
namespace {

Result<log::Level> ParseLevel(const std::string& s) {
  if (s == "debug") return log::Level::kDebug;
  if (s == "info") return log::Level::kInfo;
  if (s == "warn") return log::Level::kWarn;
  if (s == "error") return log::Level::kError;
  return InvalidArgument("--log-level must be debug, info, warn or error");
}

int Fail(const Error& e) {
  log::Error("certfleetd failed to start", {{"error", e.ToString()}});
  std::fprintf(stderr, "certfleetd: %s\n", e.ToString().c_str());
  return 1;
}

// A failed migrate-store: it starts no server, so its log line and message say what failed.
int FailMigrate(const Error& e) {
  log::Error("certfleetd migrate-store failed", {{"error", e.ToString()}});
  std::fprintf(stderr, "certfleetd migrate-store: %s\n", e.ToString().c_str());
  return 1;
}

// The active KEK from the configured provider, plus every retired file KEK so that records
// written before a rotation (or before moving to PKCS#11) keep reading.
Result<std::unique_ptr<secrets::KekRing>> OpenKekRing(const Config& cfg, Random& random) {
  std::unique_ptr<secrets::KekProvider> active;
  if (cfg.kek_provider == "file") {
    CF_ASSIGN_OR_RETURN(active, secrets::FileKek::LoadOrCreate(cfg.data_dir + "/kek.key", random));
  } else if (cfg.kek_provider == "pkcs11") {
    secrets::Pkcs11KekOptions o{.module_path = cfg.pkcs11_module,
                                .token_label = cfg.pkcs11_token_label,
                                .key_label = cfg.pkcs11_key_label,
                                .pin_file = cfg.pkcs11_pin_file,
                                .create_key_if_missing = true};
    CF_ASSIGN_OR_RETURN(active, secrets::Pkcs11Kek::Open(o));
  } else {
    return InvalidArgument("kek_provider must be \"file\" or \"pkcs11\"");
  }
  auto ring = std::make_unique<secrets::KekRing>(std::move(active));
  CF_TRY(ring->LoadRetiredFileKeks(cfg.data_dir, random, cfg.kek_provider != "file"));
  log::Info("key-encryption key ready",
            {{"provider", cfg.kek_provider}, {"kek_id", ring->active().id()}});
  return ring;
}

// A store that already holds a CA was sealed under some KEK; with the file provider, a data
// directory without kek.key would get a fresh KEK that opens nothing (a second replica started
// before its kek.key was copied). Refuse before creating one, and say what to do.
Status CheckKekPresent(const Config& cfg, store::Store& store) {
  if (cfg.kek_provider != "file") return Ok();
  const std::string path = cfg.data_dir + "/kek.key";
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return Ok();
  // Retired keys (a crash between retiring kek.key and re-wrapping) still open the records, and
  // a fresh kek.key next to them is what --rotate-kek would have made.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(cfg.data_dir + "/kek.d", ec)) {
    if (entry.path().extension() == ".key") return Ok();
  }
  CF_ASSIGN_OR_RETURN(auto tx, store.BeginRead());
  CF_ASSIGN_OR_RETURN(auto cas, tx->cas().List());
  if (cas.empty()) return Ok();
  return FailedPrecondition(
      "the store already holds a CA sealed under a key-encryption key, and " + path +
      " does not exist: copy kek.key (and kek.d/ if present) from the first replica's data "
      "directory before starting this one (docs/high-availability.md)");
}

// Runs `tick` on one background thread until stopped: again at once after a tick that found
// work (returned > 0) or after Wake(), otherwise after `interval` or at Stop(). A failed tick is
// logged and
// retried after the interval. Every piece of background work in certfleetd is one of these; each
// tick persists its outcome, so stopping between ticks loses nothing.
class Periodic {
 public:
  Periodic(std::string name, std::chrono::milliseconds interval,
           std::function<Result<int64_t>()> tick)
      : name_(std::move(name)),
        interval_(interval),
        tick_(std::move(tick)),
        thread_([this] { Run(); }) {}
  ~Periodic() { Stop(); }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;
  void Stop() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  // Runs the next tick now (or right after the one in progress). Harmless after Stop().
  void Wake() {
    {
      std::lock_guard lk(mu_);
      woken_ = true;
    }
    cv_.notify_all();
  }

 private:
  void Run() {
    std::unique_lock lk(mu_);
    while (!stop_) {
      woken_ = false;
      lk.unlock();
      Result<int64_t> n = tick_();
      if (!n.ok()) log::Warn(name_, {{"error", n.error().ToString()}});
      lk.lock();
      if (n.ok() && *n > 0) continue;
      cv_.wait_for(lk, interval_, [this] { return stop_ || woken_; });
    }
  }

  const std::string name_;
  const std::chrono::milliseconds interval_;
  const std::function<Result<int64_t>()> tick_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool woken_ = false;
  std::thread thread_;  // last: started once the members above exist
};

// The test clock (--test-clock-file): the file holds a signed offset in seconds, e.g. "-5270400"
// for 61 days ago. Anything else is an error.
// [acme_server] open_account/open_principal (eab_required = false): the binding every new ACME
// account gets. The principal must exist in the account and be enabled.
Result<acme::server::Binding> ResolveOpenBinding(store::Store& store, const std::string& account,
                                                 const std::string& principal) {
  CF_ASSIGN_OR_RETURN(auto tx, store.BeginRead());
  auto a = tx->accounts().GetByName(account);
  if (!a.ok()) {
    return InvalidArgument("[acme_server] open_account: no account named " + account);
  }
  auto p = tx->principals().GetByName(a->id, principal);
  if (!p.ok() || p->disabled) {
    return InvalidArgument("[acme_server] open_principal: no enabled principal named " + principal +
                           " in account " + account);
  }
  return acme::server::Binding{.account_id = a->id, .principal_id = p->id};
}

Result<Seconds> ReadClockOffset(const std::string& path) {
  CF_ASSIGN_OR_RETURN(std::string text, ReadFileLimited(path, 64));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty() || text.size() > 20) {
    return InvalidArgument("test clock file " + path + " must hold an offset in seconds");
  }
  size_t i = text[0] == '-' || text[0] == '+' ? 1 : 0;
  if (i == text.size()) return InvalidArgument("test clock file " + path + " holds no number");
  for (size_t j = i; j < text.size(); ++j) {
    if (text[j] < '0' || text[j] > '9') {
      return InvalidArgument("test clock file " + path + " must hold an offset in seconds");
    }
  }
  return Seconds(std::stoll(text));
}

// The store channel on which replicas tell each other that an agent has new work.
constexpr char kAgentWakeChannel[] = "agent_wake";

// Wakes an agent's long poll wherever it is parked: on this replica directly, on the others
// through the store's notifications (PostgreSQL NOTIFY; nothing with SQLite, which has one
// process). The lifecycle layer calls it after the commit of the work it announces.
class ReplicaAgentNotifier final : public lifecycle::AgentNotifier {
 public:
  ReplicaAgentNotifier(api::PollHub& hub, store::Store& store) : hub_(hub), store_(store) {}
  void Notify(const std::string& agent_id) override {
    hub_.Notify(agent_id);
    store_.Publish(kAgentWakeChannel, agent_id);
  }

 private:
  api::PollHub& hub_;
  store::Store& store_;
};

// Hands notifications from the store's thread to the poll hub while the hub exists.
class WakeRelay {
 public:
  explicit WakeRelay(api::PollHub* hub) : hub_(hub) {}
  void Notify(const std::string& agent_id) {
    std::lock_guard lock(mu_);
    if (hub_ != nullptr) hub_->Notify(agent_id);
  }
  // Cuts the relay when it goes out of scope (before the hub it points to).
  class Guard {
   public:
    explicit Guard(std::shared_ptr<WakeRelay> relay) : relay_(std::move(relay)) {}
    ~Guard() {
      std::lock_guard lock(relay_->mu_);
      relay_->hub_ = nullptr;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    std::shared_ptr<WakeRelay> relay_;
  };

 private:
  std::mutex mu_;
  api::PollHub* hub_;  // guarded by mu_
};

// certfleetd migrate-store --from sqlite:PATH --to postgres://...: prints what was copied.
int MigrateStore(const std::string& from, const std::string& to, const std::string& password_file) {
  auto source = store::ParseStoreLocation(from, "", "");
  if (!source.ok()) return FailMigrate(source.error());
  auto dest = store::ParseStoreLocation(to, "", password_file);
  if (!dest.ok()) return FailMigrate(dest.error());
  if (source->kind != store::StoreLocation::Kind::kSqlite ||
      dest->kind != store::StoreLocation::Kind::kPostgres) {
    return FailMigrate(InvalidArgument(
        "migrate-store copies from --from sqlite:PATH to --to postgres://USER@HOST:PORT/DB"));
  }
  auto report = store::MigrateSqliteToPostgres(source->sqlite_path, dest->postgres);
  if (!report.ok()) return FailMigrate(report.error());
  for (const auto& t : report->tables) {
    std::printf("%-24s %lld\n", t.table.c_str(), static_cast<long long>(t.rows));
  }
  std::printf(
      "copied %lld rows from %s to %s\n"
      "Start certfleetd with --store %s (and the same kek.key and ca.pem in its data "
      "directory), then check the audit chain with `certfleet audit verify`.\n",
      static_cast<long long>(report->total_rows), source->display.c_str(), dest->display.c_str(),
      dest->display.c_str());
  return 0;
}

// Waits `period` for another of the blocked `signals`; a second SIGTERM or SIGINT ends a drain at
// once.
void WaitForSecondSignal(const sigset_t& signals, Seconds period) {
  const auto deadline = std::chrono::steady_clock::now() + period;
  for (;;) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    const timespec ts{.tv_sec = static_cast<time_t>(ns / 1000000000),
                      .tv_nsec = static_cast<long>(ns % 1000000000)};
    const int got = sigtimedwait(&signals, nullptr, &ts);
    if (got > 0) {
      log::Info("second stop signal: the drain ends now", {{"signal", std::to_string(got)}});
      return;
    }
    if (errno != EINTR) return;  // EAGAIN: the period is over
  }
}

// Bootstrap admin token flags (issue #13; bootstrap.h).
struct AdminTokenFlags {
  std::string validity;  // --admin-token-validity, default 30d
  bool rotate = false;   // --rotate-admin-token
};

int Run(const Config& cfg, bool rotate_kek, const AdminTokenFlags& admin_token) {
  OffsetClock clock;
  if (!cfg.test_clock_file.empty()) {
    auto offset = ReadClockOffset(cfg.test_clock_file);
    if (!offset.ok()) return Fail(offset.error());
    clock.SetOffset(*offset);
    log::Warn("the test clock is in use: time is moved by the offset in the test clock file",
              {{"file", cfg.test_clock_file}, {"offset_seconds", std::to_string(offset->count())}});
  }
  Random& random = SystemRandomSource();
  auto level = ParseLevel(cfg.log_level);
  if (!level.ok()) return Fail(level.error());
  log::SetMinLevel(*level);
  if (cfg.pkcs8_iterations < 10000 || cfg.pkcs8_iterations > 10000000) {
    return Fail(InvalidArgument("pkcs8_iterations must be between 10000 and 10000000"));
  }

  ::umask(077);  // everything certfleetd creates is private unless it says otherwise
  Status dir = MakeDirs(cfg.data_dir, 0700);
  if (!dir.ok()) return Fail(dir.error());
  if (rotate_kek && cfg.kek_provider == "file") {
    Status rotated = secrets::RotateFileKek(cfg.data_dir, random);
    if (!rotated.ok()) return Fail(rotated.error());
  }
  const std::string data = cfg.data_dir;

  auto where =
      store::ParseStoreLocation(cfg.store, data + "/certfleet.db", cfg.store_password_file);
  if (!where.ok()) return Fail(where.error());
  auto store = store::OpenStore(*where);
  if (!store.ok()) return Fail(store.error());
  log::Info("store open", {{"store", where->display}});
  if (Status st = CheckKekPresent(cfg, **store); !st.ok()) return Fail(st.error());
  auto ring = OpenKekRing(cfg, random);
  if (!ring.ok()) return Fail(ring.error());
  Seconds admin_token_validity = kDefaultAdminTokenValidity;
  if (!admin_token.validity.empty()) {
    auto v = ParseDuration(admin_token.validity);
    if (!v.ok()) return Fail(v.error());
    if (*v < std::chrono::minutes(1) || *v > std::chrono::days(3650)) {
      return Fail(InvalidArgument("--admin-token-validity must be between 1m and 3650d"));
    }
    admin_token_validity = *v;
  }
  if (admin_token.rotate) {
    auto id = RotateAdminToken(**store, clock, random, data + "/admin.token", admin_token_validity);
    if (!id.ok()) return Fail(id.error());
    std::printf("revoked the previous bootstrap admin token(s); new token %s written to %s\n",
                id->c_str(), (data + "/admin.token").c_str());
    return 0;
  }
  secrets::Sealer sealer((*ring)->active(), (*ring)->retired(), clock, random);
  if (rotate_kek) {
    auto n = secrets::RewrapAll(**store, sealer);
    if (!n.ok()) return Fail(n.error());
    log::Info("sealed records re-wrapped",
              {{"count", std::to_string(*n)}, {"kek_id", sealer.active().id()}});
    std::printf("re-wrapped %lld sealed records under %s\n", static_cast<long long>(*n),
                sealer.active().id().c_str());
    return 0;
  }
  secrets::SecretStore secret_store(sealer, clock, random);
  auto scheduler_interval = ParseDuration(cfg.scheduler_interval);
  if (!scheduler_interval.ok()) return Fail(scheduler_interval.error());
  if (scheduler_interval->count() <= 0) {
    return Fail(InvalidArgument("scheduler_interval must be positive"));
  }
  const bool listen_v6 = cfg.listen_address.find(':') != std::string::npos;
  const std::string crl_url =
      !cfg.crl_url.empty()
          ? cfg.crl_url
          : "https://" + (listen_v6 ? "[" + cfg.listen_address + "]" : cfg.listen_address) + ":" +
                std::to_string(cfg.listen_port) + "/crl/intermediate.crl";
  auto ca = ca::CertificateAuthority::LoadOrCreate(**store, secret_store, clock, random,
                                                   {.crl_url = crl_url});
  if (!ca.ok()) return Fail(ca.error());
  Status root_written = WriteFileAtomic(data + "/ca.pem", (*ca)->root().ToPem(), 0644);
  if (!root_written.ok()) return Fail(root_written.error());
  Status admin =
      EnsureDefaultAdmin(**store, clock, random, data + "/admin.token", admin_token_validity);
  if (!admin.ok()) return Fail(admin.error());

  // Issue #13: what certfleetd runs and which private networks it reaches come only from this
  // configuration. Each configured program is checked now (exists, executable, not writable by
  // everyone), so a broken entry stops start-up instead of a first issuance.
  for (const auto& [name, program] : cfg.exec_solvers) {
    auto checked = acme::ExecSolver::Create(program.ToOptions());
    if (!checked.ok()) {
      return Fail(InvalidArgument("[exec_solvers." + name + "]: " + checked.error().message()));
    }
  }
  const net::OutboundPolicy outbound(cfg.outbound_allow);
  for (const auto& rule : cfg.outbound_allow) {
    std::string networks;
    for (const auto& n : rule.networks) networks += (networks.empty() ? "" : ",") + n.ToString();
    std::string accounts;
    for (const auto& a : rule.accounts) accounts += (accounts.empty() ? "" : ",") + a;
    log::Info("outbound private networks allowed",
              {{"accounts", accounts}, {"networks", networks}});
  }

  // ACME (issue #6): issuers and solvers are configured per account through the API; the
  // http-01 listener is the built-in "http01" solver.
  // In the store, so that every replica's listener answers a token any replica presented.
  acme::StoreHttp01Tokens http01_tokens(**store, clock);
  std::unique_ptr<acme::Http01Responder> http01;
  if (!cfg.http01_listen.empty()) {
    Config http01_cfg;
    Status parsed = ParseListen(cfg.http01_listen, http01_cfg);
    if (!parsed.ok()) return Fail(InvalidArgument("http01_listen: " + parsed.error().message()));
    auto responder = acme::Http01Responder::Create(
        {.address = http01_cfg.listen_address, .port = http01_cfg.listen_port},
        [&tokens = http01_tokens](std::string_view host, std::string_view t) {
          return tokens.Find(host, t);
        });
    if (!responder.ok()) return Fail(responder.error());
    http01 = std::move(*responder);
  }
  // Wakes agents' long polls: for deployments, and for http-01 challenges they serve; on every
  // replica (the notifier), whichever one the agent's poll is parked on.
  api::PollHub poll_hub;
  ReplicaAgentNotifier agent_notifier(poll_hub, **store);
  // The store's listener thread outlives this function's locals: it reaches the hub through a
  // relay that the guard below cuts before the hub is destroyed.
  auto relay = std::make_shared<WakeRelay>(&poll_hub);
  WakeRelay::Guard relay_guard(relay);
  if (Status st = (*store)->Subscribe(kAgentWakeChannel,
                                      [relay](const std::string& id) { relay->Notify(id); });
      !st.ok()) {
    return Fail(st.error());
  }
  lifecycle::AcmeConfigService acme_config(
      **store, secret_store, clock, random,
      lifecycle::AcmeConfigOptions{.outbound = &outbound, .exec_programs = &cfg.exec_solvers});
  lifecycle::IssuerRegistry issuers;
  issuers.Register(std::make_unique<lifecycle::InternalIssuer>(**ca));
  issuers.Register(std::make_unique<lifecycle::AcmeIssuer>(
      **store, secret_store, clock,
      lifecycle::AcmeIssuerOptions{.client = acme_config.options(),
                                   .http01 = http01 ? &http01_tokens : nullptr,
                                   .agent_notifier = &agent_notifier}));
  lifecycle::CertificateService certificates(**store, secret_store, issuers, clock, random);
  lifecycle::ExportService exports(**store, secret_store, clock, random,
                                   {.pkcs8 = {.pbkdf2_iterations = cfg.pkcs8_iterations}});
  lifecycle::GovernanceService governance(**store, clock, random);
  lifecycle::SecretService secret_service(**store, secret_store);
  // The audit trail's key, sealed by the KEK, and the marker of where keying began: created
  // together, in one transaction, at the first start (audit/audit_log.h, secrets/audit_key.h).
  auto audit_tx = (*store)->Begin();
  if (!audit_tx.ok()) return Fail(audit_tx.error());
  auto audit_key = secrets::LoadOrCreateAuditKey(**audit_tx, secret_store, random);
  if (!audit_key.ok()) return Fail(audit_key.error());
  audit::AuditLog audit_log(**store, clock, random, std::move(audit_key->key));
  if (Status st = audit_log.Start(**audit_tx); !st.ok()) return Fail(st.error());
  if (Status st = (*audit_tx)->Commit(); !st.ok()) return Fail(st.error());
  // Webhooks (docs/events.md): the system trust store; public addresses only (checked on
  // connect), except for subscriptions that allow private ones, which may also use http:// and
  // reach the networks [[outbound.allow]] gives their account (issue #13), checked on connect.
  events::WebhookService webhooks(**store, secret_store, clock, random, &outbound);
  auto webhook_client =
      net::HttpsClient::Create({.timeout = std::chrono::milliseconds(10000),
                                .address_allowed = events::PublicAddressesOnly()});
  if (!webhook_client.ok()) return Fail(webhook_client.error());
  // Only used without an outbound policy, which certfleetd always has: refuses everything.
  auto private_webhook_client =
      net::HttpsClient::Create({.timeout = std::chrono::milliseconds(10000),
                                .address_allowed = [](std::string_view) { return false; }});
  if (!private_webhook_client.ok()) return Fail(private_webhook_client.error());
  events::DispatcherOptions dispatch_options;
  dispatch_options.outbound = &outbound;
  dispatch_options.make_private_client = [](net::AddressFilter filter) {
    return net::HttpsClient::Create({.timeout = std::chrono::milliseconds(10000),
                                     .allow_plain_http = true,
                                     .address_allowed = std::move(filter)});
  };
  auto dispatcher =
      events::Dispatcher::Create(**store, secret_store, **webhook_client, **private_webhook_client,
                                 clock, random, std::move(dispatch_options));
  if (!dispatcher.ok()) return Fail(dispatcher.error());
  auto agent_validity = ParseDuration(cfg.agent_cert_validity);
  if (!agent_validity.ok()) return Fail(agent_validity.error());
  if (*agent_validity < std::chrono::minutes(5) || *agent_validity > std::chrono::days(398)) {
    return Fail(InvalidArgument(
        "agent_cert_validity must be between 5m and 398d (the tls-client profile's limits)"));
  }

  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  jobs::JobEngine engine(**store, clock, random,
                         {.owner = std::string(host) + ":" + std::to_string(::getpid())});
  lifecycle::DeploymentService deployments(**store, secret_store, engine, &agent_notifier, clock,
                                           random,
                                           {.pkcs8 = {.pbkdf2_iterations = cfg.pkcs8_iterations}});
  deployments.RegisterJobs();
  const std::string owner = std::string(host) + ":" + std::to_string(::getpid());
  const lifecycle::RenewalSchedulerOptions scheduling{.owner = owner};
  lifecycle::RenewalScheduler scheduler(**store, engine, certificates, clock, random, scheduling);
  certificates.PlanRenewalsAtCommit(
      {.max_jitter = scheduling.max_jitter, .min_age_fraction = scheduling.min_age_fraction});
  scheduler.RegisterJobs();
  certificates.EnableAsyncIssuance(engine);
  lifecycle::RedeployOnRenewal redeployer(**store, engine, deployments);
  redeployer.RegisterJobs();
  auto offline_after = ParseDuration(cfg.agent_offline_after);
  if (!offline_after.ok()) return Fail(offline_after.error());
  if (*offline_after < std::chrono::seconds(30)) {
    return Fail(
        InvalidArgument("agent_offline_after must be at least 30s (agents poll every 25s)"));
  }
  Seconds drain_period{0};
  if (!cfg.drain_period.empty()) {
    auto d = ParseDuration(cfg.drain_period);
    if (!d.ok()) return Fail(InvalidArgument("drain_period: " + d.error().message()));
    if (*d > std::chrono::minutes(10)) {
      return Fail(InvalidArgument("drain_period must be at most 10m"));
    }
    drain_period = *d;
  }
  lifecycle::ExpiryWatcher watcher(
      **store, clock, random,
      {.owner = owner,
       .agent_offline_after = *offline_after,
       .certificate_sweep_interval = std::min<Seconds>(
           Seconds(300), std::chrono::duration_cast<Seconds>(*scheduler_interval))});
  // The ACME server (issue #16): the validator reaches public addresses and the networks of
  // [network] allow_private; validations run as durable jobs on any replica.
  std::unique_ptr<acme::server::Validator> acme_validator;
  std::unique_ptr<lifecycle::AcmeServerIssuance> acme_issuance;
  std::unique_ptr<acme::server::AcmeServer> acme_server;
  if (cfg.acme_server.enabled) {
    acme_validator =
        acme::server::NewNetValidator({.http01_port = cfg.acme_http01_port,
                                       .tls_alpn01_port = cfg.acme_tls_alpn01_port,
                                       .resolver = cfg.acme_resolver,
                                       .allow_private = cfg.network_allow_private,
                                       .caa_issuer_domains = cfg.acme_server.caa_identities});
    acme_issuance = std::make_unique<lifecycle::AcmeServerIssuance>(
        **store, clock, random, **ca, certificates, engine, audit_log,
        lifecycle::AcmeServerIssuanceOptions{.authorize_claimed_without_challenge =
                                                 cfg.acme_server.authorize_claimed_domains});
    acme::server::ServerOptions acme_options;
    acme_options.base_url = cfg.acme_server.base_url;
    acme_options.eab_required = cfg.acme_server.eab_required;
    acme_options.default_profile = cfg.acme_server.default_profile;
    acme_options.caa_identities = cfg.acme_server.caa_identities;
    acme_options.limits = {
        .orders_per_hour = cfg.acme_server.orders_per_hour,
        .pending_authorizations = cfg.acme_server.pending_authorizations,
        .failed_validations_per_hour = cfg.acme_server.failed_validations_per_hour};
    if (!cfg.acme_server.eab_required) {
      auto binding =
          ResolveOpenBinding(**store, cfg.acme_server.open_account, cfg.acme_server.open_principal);
      if (!binding.ok()) return Fail(binding.error());
      acme_options.open_binding = std::move(*binding);
    }
    acme_server = std::make_unique<acme::server::AcmeServer>(**store, secret_store, clock, random,
                                                             *acme_validator, *acme_issuance,
                                                             std::move(acme_options));
    lifecycle::RegisterAcmeValidationJob(engine, *acme_server);
  }
  // The web console (issue #17): its assets' directory and how long its sessions last.
  api::ConsoleOptions console{.ui_dir = cfg.ui.dir};
  for (auto [name, text, field] :
       {std::tuple{"ui.session_idle", &cfg.ui.session_idle, &console.sessions.idle},
        std::tuple{"ui.session_max", &cfg.ui.session_max, &console.sessions.max}}) {
    auto d = ParseDuration(*text);
    if (!d.ok()) return Fail(InvalidArgument(std::string(name) + ": " + d.error().message()));
    if (*d < std::chrono::minutes(1) || *d > std::chrono::hours(24 * 7)) {
      return Fail(InvalidArgument(std::string(name) + " must be from 1m to 7d"));
    }
    *field = std::chrono::duration_cast<Seconds>(*d);
  }
  if (!console.ui_dir.empty()) {
    log::Info("web console served at /ui/", {{"dir", console.ui_dir}});
  }
  net::ConnectionCounters connection_counters;  // read by GET /metrics
  // GET /readyz: starting until everything below has started, draining from the stop signal on.
  api::Readiness readiness;
  lifecycle::AgentService agents(**store, **ca, &deployments, &agent_notifier, clock, random,
                                 {.client_cert_validity = *agent_validity});
  api::ApiService api({**store,
                       clock,
                       random,
                       certificates,
                       exports,
                       governance,
                       secret_service,
                       audit_log,
                       deployments,
                       agents,
                       &poll_hub,
                       &webhooks,
                       {.agent_online_window = *offline_after, .connections = &connection_counters},
                       &acme_config,
                       &readiness,
                       acme_server.get(),
                       std::move(console)});

  auto tls = IssueListenerCertificate(**ca, cfg.listen_address, cfg.server_names);
  if (!tls.ok()) return Fail(tls.error());
  net::ServerOptions opts;
  opts.address = cfg.listen_address;
  opts.port = cfg.listen_port;
  opts.cert_chain_pem = tls->chain_pem;
  opts.key_pem = std::move(tls->key_pem);
  opts.worker_threads = cfg.worker_threads;
  opts.max_connections = cfg.max_connections;
  opts.max_connections_per_address = cfg.max_connections_per_address;
  opts.counters = &connection_counters;
  // Behind a load balancer (issue #15): the balancer's PROXY header names each client.
  opts.trusted_proxies = cfg.trusted_proxies;
  if (!cfg.trusted_proxies.empty()) {
    std::string networks;
    for (const net::Cidr& n : cfg.trusted_proxies) {
      networks += (networks.empty() ? "" : ",") + n.ToString();
    }
    log::Info("PROXY protocol expected from trusted proxies", {{"networks", networks}});
  }
  // Agents authenticate with client certificates from the internal CA (mutual TLS); people and
  // services with bearer tokens on the same listener.
  opts.client_ca_pem = (*ca)->root().ToPem() + (*ca)->intermediate().ToPem();
  auto server = net::HttpsServer::Create(
      std::move(opts), [&api](const net::HttpRequest& r) { return api.Handle(r); });
  if (!server.ok()) return Fail(server.error());

  // Block the stop signals in every thread, then wait for them synchronously on this one.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  Status started = (*server)->Start();
  if (!started.ok()) return Fail(started.error());
  poll_hub.Start();
  if (http01) {
    Status http01_started = http01->Start();
    if (!http01_started.ok()) return Fail(http01_started.error());
    log::Info("http-01 challenge listener started",
              {{"address", cfg.http01_listen}, {"port", std::to_string(http01->port())}});
  }
  using std::chrono::milliseconds;
  std::unique_ptr<Periodic> test_clock;
  if (!cfg.test_clock_file.empty()) {
    test_clock = std::make_unique<Periodic>(
        "test clock", milliseconds(50), [&clock, &cfg]() -> Result<int64_t> {
          CF_ASSIGN_OR_RETURN(Seconds offset, ReadClockOffset(cfg.test_clock_file));
          if (offset != clock.offset()) {
            clock.SetOffset(offset);
            log::Info("test clock moved", {{"offset_seconds", std::to_string(offset.count())}});
          }
          return 0;
        });
  }
  // Steps that wait ask to run again in 1 s; an idle engine looks again every 250 ms.
  Periodic worker("job engine", milliseconds(250), [&engine]() -> Result<int64_t> {
    CF_ASSIGN_OR_RETURN(int n, engine.RunOnce());
    return n;
  });
  // A job enqueued by a request (an ACME challenge's validation) runs at once.
  engine.SetWaker([&worker] { worker.Wake(); });
  // Webhook deliveries: each pass waits at most the HTTP client's timeout per delivery. With
  // several replicas (PostgreSQL), only the one holding the dispatcher's lock delivers.
  std::unique_ptr<store::Leadership> dispatch_leader = (*store)->NewLeadership("event-dispatcher");
  Periodic dispatcher_loop("event dispatcher", milliseconds(250),
                           [&dispatcher, &dispatch_leader]() -> Result<int64_t> {
                             if (dispatch_leader) {
                               CF_ASSIGN_OR_RETURN(bool lead, dispatch_leader->Hold());
                               if (!lead) return 0;
                             }
                             CF_ASSIGN_OR_RETURN(events::RunStats stats, (*dispatcher)->RunOnce());
                             return stats.idle() ? 0 : 1;
                           });
  Periodic redeploy_loop("redeploy on renewal", milliseconds(250),
                         [&redeployer]() -> Result<int64_t> {
                           CF_ASSIGN_OR_RETURN(size_t n, redeployer.RunOnce());
                           return static_cast<int64_t>(n);
                         });
  // The scheduler and the expiry watcher: each tick pages through everything due, so the next
  // tick waits for the interval.
  Periodic scheduler_loop("renewal scheduler",
                          std::chrono::duration_cast<milliseconds>(*scheduler_interval),
                          [&scheduler, &watcher]() -> Result<int64_t> {
                            auto n = scheduler.RunOnce();
                            if (n.ok() && *n > 0)
                              log::Info("renewals enqueued", {{"count", std::to_string(*n)}});
                            auto w = watcher.RunOnce();
                            if (!w.ok())
                              log::Warn("expiry watcher", {{"error", w.error().ToString()}});
                            if (!n.ok()) return std::move(n).error();
                            return 0;
                          });

  readiness.Set(api::Readiness::Phase::kServing);
  const bool v6 = cfg.listen_address.find(':') != std::string::npos;
  const std::string url = "https://" + (v6 ? "[" + cfg.listen_address + "]" : cfg.listen_address) +
                          ":" + std::to_string((*server)->port());
  log::Info("certfleetd listening", {{"url", url}, {"data_dir", data}});
  std::printf(
      "certfleetd is running at %s (data in %s)\n"
      "Point the CLI at it with:\n"
      "  export CERTFLEET_SERVER=%s CERTFLEET_CA=%s/ca.pem CERTFLEET_TOKEN_FILE=%s/admin.token\n"
      "  certfleet cert request --name web --domain app.example.test --exportable\n",
      url.c_str(), data.c_str(), url.c_str(), data.c_str(), data.c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop, &sig);
  // Draining (issue #15): /readyz answers 503 from now on and every response closes its
  // connection, so a load balancer takes this replica out of rotation and keep-alive clients
  // (agents' long polls) reconnect to another; requests are still served meanwhile.
  readiness.Set(api::Readiness::Phase::kDraining);
  (*server)->Drain();
  if (drain_period.count() > 0) {
    log::Info("certfleetd draining", {{"signal", std::to_string(sig)},
                                      {"drain_period_s", std::to_string(drain_period.count())}});
    WaitForSecondSignal(stop, drain_period);
  }
  log::Info("certfleetd stopping", {{"signal", std::to_string(sig)}});
  scheduler_loop.Stop();
  scheduler.Stop();
  watcher.Stop();
  redeploy_loop.Stop();
  dispatcher_loop.Stop();
  if (dispatch_leader) dispatch_leader->Release();
  engine.SetWaker(nullptr);
  worker.Stop();
  if (test_clock) test_clock->Stop();
  poll_hub.Stop();
  (*server)->Stop();
  log::Info("certfleetd stopped");
  return 0;
}

}  // namespace
}  // namespace certfleet::daemon

int main(int argc, char** argv) {
  using certfleet::daemon::Config;
  CLI::App app{"certfleetd: the certfleet control plane"};
  Config cfg;
  std::string config_file, listen, data_dir, log_level;
  int iterations = 0, workers = 0;
  bool rotate_kek = false;
  std::string kek_provider, p11_module, p11_token, p11_key, p11_pin;
  app.add_option("--config", config_file,
                 "TOML configuration file (owned by root or certfleetd's user, not writable by "
                 "group or others); exec_solvers and outbound.allow are set only there")
      ->check(CLI::ExistingFile);
  app.add_option("--data-dir", data_dir, "data directory (default ./var)");
  std::string store_url, store_password_file;
  app.add_option("--store", store_url,
                 "the store: sqlite:PATH, or postgres://USER@HOST:PORT/DB for replicas (default: "
                 "SQLite in the data directory); no password in it");
  app.add_option("--store-password-file", store_password_file,
                 "file holding the PostgreSQL password (mode 0600); or use PGPASSFILE");
  auto* migrate = app.add_subcommand(
      "migrate-store", "copy every row of an SQLite store into an empty PostgreSQL store");
  std::string migrate_from, migrate_to;
  migrate->add_option("--from", migrate_from, "sqlite:PATH (e.g. sqlite:var/certfleet.db)")
      ->required();
  migrate->add_option("--to", migrate_to, "postgres://USER@HOST:PORT/DB")->required();
  app.add_option("--listen", listen, "listen address ADDR:PORT (default 127.0.0.1:8443)");
  app.add_option("--log-level", log_level, "debug, info, warn or error (default info)");
  app.add_option("--pkcs8-iterations", iterations,
                 "PBKDF2 iterations for exported keys (default 600000)");
  app.add_option("--worker-threads", workers, "request worker threads (default 32)")
      ->check(CLI::Range(1, certfleet::daemon::kMaxWorkerThreads));
  app.add_option("--kek-provider", kek_provider, "key-encryption key provider: file or pkcs11");
  app.add_option("--pkcs11-module", p11_module, "PKCS#11 module path");
  app.add_option("--pkcs11-token-label", p11_token, "PKCS#11 token label");
  app.add_option("--pkcs11-key-label", p11_key, "label of the AES key on the token");
  app.add_option("--pkcs11-pin-file", p11_pin, "file holding the token user PIN (mode 0600)");
  std::string agent_validity;
  app.add_option("--agent-cert-validity", agent_validity,
                 "lifetime of agents' client certificates (default 30d)");
  std::string scheduler_interval, crl_url;
  app.add_option("--scheduler-interval", scheduler_interval,
                 "how often the renewal scheduler runs, e.g. 1s (default 1m)");
  app.add_option("--crl-url", crl_url,
                 "CRL URL written into issued certificates (default: from --listen)");
  std::string offline_after, test_clock_file, http01_listen;
  size_t max_connections = 0, max_connections_per_address = 0;
  app.add_option("--max-connections", max_connections,
                 "connections served at once; more are closed at accept (default 4096)")
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  app.add_option("--max-connections-per-address", max_connections_per_address,
                 "connections from one client address; more are closed at accept (default 256)")
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  app.add_option("--http01-listen", http01_listen,
                 "ADDR:PORT for the ACME http-01 challenge listener (plain HTTP; default off)");
  std::vector<std::string> trusted_proxies, server_names;
  app.add_option("--trusted-proxy", trusted_proxies,
                 "CIDR of a load balancer that sends the PROXY protocol (HAProxy send-proxy-v2); "
                 "its connections must start with a PROXY header naming the client; repeatable, "
                 "replaces the config file's trusted_proxies (default: none)");
  app.add_option("--server-name", server_names,
                 "DNS name or IP address clients dial, e.g. the load balancer's, added to the "
                 "listener certificate; repeatable, replaces the config file's server_names");
  std::string ui_dir;
  app.add_option("--ui-dir", ui_dir,
                 "directory of the web console's built assets, served at /ui/ (default: none, "
                 "/ui answers 404)");
  std::string drain_period;
  app.add_option("--drain-period", drain_period,
                 "after SIGTERM, keep serving this long with /readyz answering 503, so a load "
                 "balancer drains this replica first, e.g. 5s (default: stop at once)");
  int acme_http01_port = 0, acme_tls_alpn01_port = 0;
  std::string acme_resolver;
  app.add_option("--acme-http01-port", acme_http01_port,
                 "port the ACME server's validator connects to for http-01 (default 80)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--acme-tls-alpn01-port", acme_tls_alpn01_port,
                 "port the ACME server's validator connects to for tls-alpn-01 (default 443)")
      ->check(CLI::Range(1, 65535));
  app.add_option("--acme-resolver", acme_resolver,
                 "HOST:PORT of the DNS server for the ACME server's dns-01 and CAA checks "
                 "(default: the system's)");
  app.add_option("--agent-offline-after", offline_after,
                 "an agent not seen for this long is offline (default 5m)");
  app.add_option("--test-clock-file", test_clock_file,
                 "TESTS AND DEMOS ONLY: a file holding seconds to add to the clock, re-read "
                 "while running");
  app.add_flag("--rotate-kek", rotate_kek,
               "rotate the file KEK (or move to the configured provider), re-wrap every sealed "
               "record, and exit");
  certfleet::daemon::AdminTokenFlags admin_token;
  app.add_option("--admin-token-validity", admin_token.validity,
                 "lifetime of the bootstrap admin token written to admin.token (default 30d)");
  app.add_flag("--rotate-admin-token", admin_token.rotate,
               "revoke the bootstrap admin token(s), write a fresh admin.token (0600), and exit");
  CLI11_PARSE(app, argc, argv);
  if (migrate->parsed()) {
    return certfleet::daemon::MigrateStore(migrate_from, migrate_to, store_password_file);
  }

  if (!config_file.empty()) {
    auto st = certfleet::daemon::LoadConfigFile(config_file, cfg);
    if (!st.ok()) return certfleet::daemon::Fail(st.error());
  }
  if (!data_dir.empty()) cfg.data_dir = data_dir;
  if (!store_url.empty()) cfg.store = store_url;
  if (!store_password_file.empty()) cfg.store_password_file = store_password_file;
  if (!listen.empty()) {
    auto st = certfleet::daemon::ParseListen(listen, cfg);
    if (!st.ok()) return certfleet::daemon::Fail(st.error());
  }
  if (!log_level.empty()) cfg.log_level = log_level;
  if (iterations != 0) cfg.pkcs8_iterations = iterations;
  if (workers > 0) cfg.worker_threads = workers;
  if (!kek_provider.empty()) cfg.kek_provider = kek_provider;
  if (!p11_module.empty()) cfg.pkcs11_module = p11_module;
  if (!p11_token.empty()) cfg.pkcs11_token_label = p11_token;
  if (!p11_key.empty()) cfg.pkcs11_key_label = p11_key;
  if (!p11_pin.empty()) cfg.pkcs11_pin_file = p11_pin;
  if (!agent_validity.empty()) cfg.agent_cert_validity = agent_validity;
  if (!scheduler_interval.empty()) cfg.scheduler_interval = scheduler_interval;
  if (!crl_url.empty()) cfg.crl_url = crl_url;
  if (!offline_after.empty()) cfg.agent_offline_after = offline_after;
  if (!test_clock_file.empty()) cfg.test_clock_file = test_clock_file;
  if (!http01_listen.empty()) cfg.http01_listen = http01_listen;
  if (!drain_period.empty()) cfg.drain_period = drain_period;
  if (!ui_dir.empty()) cfg.ui.dir = ui_dir;
  if (!trusted_proxies.empty()) {
    cfg.trusted_proxies.clear();
    for (const std::string& p : trusted_proxies) {
      auto st = certfleet::daemon::AddTrustedProxy(p, cfg);
      if (!st.ok()) return certfleet::daemon::Fail(st.error());
    }
  }
  if (!server_names.empty()) {
    cfg.server_names.clear();
    for (const std::string& n : server_names) {
      auto st = certfleet::daemon::AddServerName(n, cfg);
      if (!st.ok()) return certfleet::daemon::Fail(st.error());
    }
  }
  if (acme_http01_port != 0) cfg.acme_http01_port = static_cast<uint16_t>(acme_http01_port);
  if (acme_tls_alpn01_port != 0) {
    cfg.acme_tls_alpn01_port = static_cast<uint16_t>(acme_tls_alpn01_port);
  }
  if (!acme_resolver.empty()) cfg.acme_resolver = acme_resolver;
  if (max_connections != 0) cfg.max_connections = max_connections;
  if (max_connections_per_address != 0) {
    cfg.max_connections_per_address = max_connections_per_address;
  }
  return certfleet::daemon::Run(cfg, rotate_kek, admin_token);
}
