// Renewal sweep benchmark (issue #5): how long RenewalScheduler::RunOnce() takes to find and
// enqueue the due renewals among N issued certificates in a SQLite store, and how much memory
// the process needs for it. Prints a table; exits non-zero only if the scheduler's result is
// wrong (the number enqueued outside the bounds the data allows).
//
//   renewal_sweep_bench [--certificates N] [--due-fraction F] [--advance-days D]
//                       [--batch B] [--fill-batch K] [--plan-at-fill 0|1] [--keep-db PATH]
//
// The store is a fresh SQLite file (synchronous=FULL, as in production) in a temp dir, with one
// account and N certificates, each issued with one current version of 90 days. The rows have
// production shapes and sizes: every version carries the leaf and chain PEM, fingerprint and
// issuer of one certificate really issued by the internal CA at start-up (serials and ids are
// unique, the PEM bytes are shared), and a sealed-key row of the real sizes filled with random
// bytes. Nothing reads the PEMs back, so no other certificate is signed. Not written: the audit
// trail, outbox events and serial reservations real issuance adds.
//
// --plan-at-fill 0 (the default) leaves every certificate to the scheduler's planning, as
// today's issuance does (it stores the version; the first tick after it plans it), so "first"
// plans all N. --plan-at-fill 1 plans each version in its fill transaction with
// lifecycle::PlanRenewal, as a commit site calling it would (renewal_plan.h), so the first tick
// only enqueues.
//
// Expiries are spread so that the renewal windows (lifecycle::RenewalWindowStart: notAfter - L/3
// = 30 days before notAfter) open evenly over 30 days, a fraction F of them before the bench's
// clock (FakeClock, 2026-11-27). The phases:
//   first    RunOnce(): plan all N unless planned at fill (window start + jitter per
//            certificate), enqueue the due ones;
//   steady   RunOnce() again at the same time: the idle tick; nothing to plan, the due ones are
//            in flight;
//   +D days  the clock advanced D days: more windows have opened, and the renewals enqueued by
//            "first" are past their in-flight time (1 hour), so RunOnce() looks at them again
//            and the engine hands back the same (never run) job for their idempotency key;
//            "enqueued" counts them, "new jobs" does not.
// No job runs: the engine is only the queue, so the CertificateService the scheduler needs has
// an empty issuer registry.
//
// --due-fraction 0 makes "first" the planning alone (nothing is due at t0).
//
// Expected counts: a certificate is certainly due at T if its window start plus the largest
// jitter (lifecycle::MaxRenewalJitter) is <= T, possibly due if its window start is <= T.
// Memory: VmHWM is reset before each phase (/proc/self/clear_refs), so it is that phase's peak;
// VmRSS is read at the phase's end. --keep-db copies the database at the end, to look at query
// plans (sqlite3 PATH 'EXPLAIN QUERY PLAN ...').
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/ids.h"
#include "base/log.h"
#include "base/time_util.h"
#include "fakes/pki_env.h"
#include "jobs/engine.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/issuers/internal_issuer.h"
#include "lifecycle/renewal_plan.h"
#include "lifecycle/renewal_scheduler.h"
#include "store/open_store.h"

namespace certfleet {
namespace {

using std::chrono::days;
using WallClock = std::chrono::steady_clock;

struct Flags {
  int64_t certificates = 100000;
  double due_fraction = 0.1;
  int64_t advance_days = 7;
  int64_t batch = 500;        // RenewalSchedulerOptions::batch
  int64_t fill_batch = 5000;  // certificates per fill transaction
  bool plan_at_fill = false;  // PlanRenewal in the fill transaction (a commit site's call)
  std::string keep_db;        // where to copy the database at the end (inspection); empty: no
  // postgres://... to run on PostgreSQL (issue #15), in a fresh schema of that database; empty:
  // SQLite in a temp dir.
  std::string store;
};

constexpr char kUsage[] =
    "usage: renewal_sweep_bench [--certificates N] [--due-fraction F] [--advance-days D]\n"
    "                           [--batch B] [--fill-batch K] [--plan-at-fill 0|1]\n"
    "                           [--keep-db PATH] [--store postgres://USER@HOST:PORT/DB]\n";

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "renewal_sweep_bench: %s\n", message.c_str());
  std::exit(1);
}

[[noreturn]] void Usage(const std::string& message) {
  std::fprintf(stderr, "renewal_sweep_bench: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

template <typename T>
T Must(Result<T> r, std::string_view what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.error().ToString());
  return std::move(*r);
}

void Must(Status s, std::string_view what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.error().ToString());
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    std::string value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      Usage(arg + " needs a value");
    }
    if (arg == "--keep-db") {
      f.keep_db = value;
      continue;
    }
    if (arg == "--store") {
      f.store = value;
      continue;
    }
    char* end = nullptr;
    errno = 0;
    if (arg == "--due-fraction") {
      f.due_fraction = std::strtod(value.c_str(), &end);
      if (errno != 0 || *end != '\0' || !(f.due_fraction >= 0 && f.due_fraction <= 1)) {
        Usage("--due-fraction must be a number in [0, 1]");
      }
      continue;
    }
    const long long n = std::strtoll(value.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || value.empty()) Usage(arg + " needs an integer");
    if (arg == "--certificates" && n >= 1) {
      f.certificates = n;
    } else if (arg == "--advance-days" && n >= 0) {
      f.advance_days = n;
    } else if (arg == "--batch" && n >= 1) {
      f.batch = n;
    } else if (arg == "--fill-batch" && n >= 1) {
      f.fill_batch = n;
    } else if (arg == "--plan-at-fill" && (n == 0 || n == 1)) {
      f.plan_at_fill = n == 1;
    } else {
      Usage("bad flag or value: " + arg + " " + value);
    }
  }
  return f;
}

// The process's peak and current resident set (VmHWM, VmRSS), in KiB.
struct Memory {
  int64_t peak_kib = -1;
  int64_t rss_kib = -1;
};

Memory ReadMemory() {
  Memory m;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    int64_t* field = line.rfind("VmHWM:", 0) == 0   ? &m.peak_kib
                     : line.rfind("VmRSS:", 0) == 0 ? &m.rss_kib
                                                    : nullptr;
    if (field != nullptr) *field = std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return m;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so that each phase reports its own peak and
// not the bench's bookkeeping between phases. False if the kernel refused.
bool ResetPeakMemory() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  clear_refs.flush();
  return clear_refs.good();
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
}

double MiB(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// The shapes of one really issued certificate: what every fake version copies.
struct Shapes {
  std::string leaf_pem;
  std::string chain_pem;
  std::string fingerprint_sha256;
  std::string issuer_ca_id;
  std::string kek_id;
  std::string blob_purpose;
  size_t wrapped_dek_size = 0;
  size_t ciphertext_size = 0;
};

Shapes IssueOneRealCertificate() {
  testing::PkiEnv env;
  lifecycle::IssuerRegistry issuers;
  issuers.Register(std::make_unique<lifecycle::InternalIssuer>(env.Ca()));
  lifecycle::CertificateService certs(*env.store, *env.secret_store, issuers, env.clock,
                                      SystemRandomSource());
  {
    auto tx = Must(env.store->Begin(), "begin");
    Must(tx->accounts().Insert({"acc_shape", "shape", env.clock.Now()}), "insert account");
    Must(tx->Commit(), "commit");
  }
  env.ClaimDomain("acc_shape", "example.test");  // issue #13: names need a claim
  lifecycle::CertificateRequest r;
  r.name = "shape";
  r.domains = {"h000000.sweep.example.test"};
  auto view = Must(certs.Request({.principal_id = "prn_bench", .account_id = "acc_shape"}, r),
                   "issue the template certificate");
  const model::CertificateVersion& v = *view.version;
  auto tx = Must(env.store->Begin(), "begin");
  model::SealedBlob blob = Must(tx->blobs().Get(v.key_blob_id), "read the sealed key");
  return Shapes{.leaf_pem = v.leaf_pem,
                .chain_pem = v.chain_pem,
                .fingerprint_sha256 = v.fingerprint_sha256,
                .issuer_ca_id = v.issuer_ca_id,
                .kek_id = blob.kek_id,
                .blob_purpose = blob.purpose,
                .wrapped_dek_size = blob.wrapped_dek.size(),
                .ciphertext_size = blob.ciphertext.size()};
}

// How many certificates are certainly / possibly due at one time (see the top of the file).
struct DueBounds {
  TimePoint at;
  int64_t certain = 0;
  int64_t possible = 0;
  void Count(TimePoint start, Seconds max_jitter) {
    certain += start + max_jitter <= at;
    possible += start <= at;
  }
};

struct Row {
  std::string phase;
  double seconds = 0;
  std::string enqueued;
  std::string expected;
  std::string new_jobs;
  Memory memory;
  int64_t db_bytes = 0;
  int64_t wal_bytes = 0;
};

void PrintRows(const std::vector<Row>& rows) {
  std::printf("%-22s %9s %9s %15s %9s %10s %10s %8s %8s\n", "phase", "wall s", "enqueued",
              "expected", "new jobs", "VmHWM MiB", "VmRSS MiB", "db MiB", "wal MiB");
  for (const Row& r : rows) {
    std::printf("%-22s %9.3f %9s %15s %9s %10.1f %10.1f %8.1f %8.1f\n", r.phase.c_str(), r.seconds,
                r.enqueued.c_str(), r.expected.c_str(), r.new_jobs.c_str(),
                static_cast<double>(r.memory.peak_kib) / 1024.0,
                static_cast<double>(r.memory.rss_kib) / 1024.0, MiB(r.db_bytes), MiB(r.wal_bytes));
  }
}

int64_t CountRenewalJobs(store::Store& store, int64_t at_most) {
  auto tx = Must(store.Begin(), "begin");
  auto jobs = Must(tx->jobs().List({.type = std::string(lifecycle::kRenewJobType),
                                    .limit = static_cast<size_t>(at_most) + 1}),
                   "list renewal jobs");
  return static_cast<int64_t>(jobs.size());
}

int Run(const Flags& flags) {
  log::SetMinLevel(log::Level::kWarn);  // the template CA's and issuance's info lines
  const TimePoint t0 = UtcDate(2026, 11, 27);
  std::printf("renewal sweep: %" PRId64
              " certificates (90-day, windows spread over 30 days), due "
              "fraction %.3f, scheduler batch %" PRId64
              ", planned %s, SQLite synchronous=FULL, clock %s\n",
              flags.certificates, flags.due_fraction, flags.batch,
              flags.plan_at_fill ? "at fill (PlanRenewal per version)" : "by the first tick",
              FormatRfc3339(t0).c_str());
  std::fflush(stdout);
  const Shapes shapes = IssueOneRealCertificate();

  testing::PkiEnv env(t0);
  const std::string db_path = env.dir.file("certfleet.db");
  if (!flags.store.empty()) {
    // The same bench on PostgreSQL: the environment's store is swapped before anything is
    // written (the CA is created lazily, in whichever store is there). File sizes stay 0.
    auto where = Must(store::ParseStoreLocation(flags.store, "", ""), "--store");
    if (where.kind != store::StoreLocation::Kind::kPostgres) Usage("--store must be postgres://");
    where.postgres.schema = "sweep_" + std::to_string(::getpid());
    env.store = Must(store::OpenStore(where), "open the PostgreSQL store");
    std::printf("store: PostgreSQL, schema %s\n", where.postgres.schema.c_str());
  }
  Random& random = SystemRandomSource();
  const lifecycle::RenewalSchedulerOptions options{.owner = "bench-sweep",
                                                   .batch = static_cast<size_t>(flags.batch)};
  {
    auto tx = Must(env.store->Begin(), "begin");
    Must(tx->accounts().Insert({"acc_bench", "bench", t0}), "insert account");
    Must(tx->Commit(), "commit");
  }
  env.ClaimDomain("acc_bench", "example.test");  // issue #13: renewals need the claim too

  // Windows open evenly over `spread`, the first due_fraction of them at or before t0. With a
  // 90-day lifetime the window is the last 30 days, so nothing has expired and every notBefore
  // is at least 30 days in the past.
  const Seconds lifetime = days(90);
  const Seconds spread = days(30);
  const Seconds due_span(static_cast<int64_t>(flags.due_fraction * double(spread.count())));
  const TimePoint t1 = t0 + days(flags.advance_days);
  DueBounds at_t0{.at = t0};
  DueBounds at_t1{.at = t1};

  std::vector<Row> rows;
  const bool peak_per_phase = ResetPeakMemory();
  const auto fill_started = WallClock::now();
  for (int64_t first = 0; first < flags.certificates; first += flags.fill_batch) {
    auto tx = Must(env.store->Begin(), "begin");
    const int64_t last = std::min(flags.certificates, first + flags.fill_batch);
    for (int64_t i = first; i < last; ++i) {
      const TimePoint start = t0 - due_span + Seconds(i * spread.count() / flags.certificates);
      model::CertificateVersion v;
      v.id = NewId(model::kVersionPrefix, env.clock, random);
      v.not_after = start + lifetime / 3;
      v.not_before = v.not_after - lifetime + Seconds(1);  // RFC 5280: notAfter is inclusive
      char serial[40];
      std::snprintf(serial, sizeof serial, "5eed%028" PRIx64, static_cast<uint64_t>(i));
      v.serial_hex = serial;
      v.leaf_pem = shapes.leaf_pem;
      v.chain_pem = shapes.chain_pem;
      v.fingerprint_sha256 = shapes.fingerprint_sha256;
      v.key_blob_id = NewId(model::kBlobPrefix, env.clock, random);
      v.issuer_ca_id = shapes.issuer_ca_id;
      v.created_at = v.not_before;

      char name[32];
      std::snprintf(name, sizeof name, "h%06" PRId64, i);
      model::Certificate c;
      c.id = NewId(model::kCertificatePrefix, env.clock, random);
      c.account_id = "acc_bench";
      c.name = name;
      c.domains = {std::string(name) + ".sweep.example.test"};
      c.key_type = "p256";
      c.profile = "tls-server";
      c.issuer = "internal";
      c.status = model::CertificateStatus::kIssued;
      c.validity_seconds = lifetime.count();
      c.current_version_id = v.id;
      c.created_by = "prn_bench";
      c.created_at = v.not_before;
      c.updated_at = v.not_before;
      v.certificate_id = c.id;

      // The scheduler's own formula must agree with the spread built here.
      if (lifecycle::RenewalWindowStart(c, v) != start) Die("window start differs from the plan");
      const Seconds max_jitter =
          lifecycle::MaxRenewalJitter(start, v.not_after, options.max_jitter);
      at_t0.Count(start, max_jitter);
      at_t1.Count(start, max_jitter);

      Must(tx->blobs().Insert({.id = v.key_blob_id,
                               .kek_id = shapes.kek_id,
                               .wrapped_dek = random.Bytes(shapes.wrapped_dek_size),
                               .ciphertext = random.Bytes(shapes.ciphertext_size),
                               .purpose = shapes.blob_purpose,
                               .created_at = v.not_before}),
           "insert blob");
      Must(tx->certificates().Insert(c), "insert certificate");
      Must(tx->versions().Insert(v), "insert version");
      if (flags.plan_at_fill) {
        Must(lifecycle::PlanRenewal(
                 *tx, c, v, env.clock, random,
                 {.max_jitter = options.max_jitter, .min_age_fraction = options.min_age_fraction}),
             "plan the renewal");
      }
    }
    Must(tx->Commit(), "commit fill batch");
  }
  rows.push_back({.phase = "fill (" + std::to_string(flags.fill_batch) + "/tx)",
                  .seconds = std::chrono::duration<double>(WallClock::now() - fill_started).count(),
                  .enqueued = "-",
                  .expected = "-",
                  .new_jobs = "-",
                  .memory = ReadMemory(),
                  .db_bytes = FileSize(db_path),
                  .wal_bytes = FileSize(db_path + "-wal")});

  jobs::JobEngine engine(*env.store, env.clock, random, {.owner = "bench-sweep"});
  lifecycle::IssuerRegistry no_issuers;  // no job runs, so nothing is ever issued
  lifecycle::CertificateService certificates(*env.store, *env.secret_store, no_issuers, env.clock,
                                             random);
  auto scheduler = std::make_unique<lifecycle::RenewalScheduler>(*env.store, engine, certificates,
                                                                 env.clock, random, options);
  scheduler->RegisterJobs();

  int64_t jobs_before = 0;
  auto tick = [&](const std::string& phase, int64_t min_expected, int64_t max_expected) {
    ResetPeakMemory();
    const auto started = WallClock::now();
    const int enqueued = Must(scheduler->RunOnce(), phase + ": RunOnce");
    const double seconds = std::chrono::duration<double>(WallClock::now() - started).count();
    Row row{.phase = phase,
            .seconds = seconds,
            .enqueued = std::to_string(enqueued),
            .expected = min_expected == max_expected
                            ? std::to_string(min_expected)
                            : std::to_string(min_expected) + ".." + std::to_string(max_expected),
            .memory = ReadMemory(),
            .db_bytes = FileSize(db_path),
            .wal_bytes = FileSize(db_path + "-wal")};
    // Counted after the memory was read: listing the jobs allocates.
    const int64_t jobs_after = CountRenewalJobs(*env.store, flags.certificates);
    ::malloc_trim(0);  // give that list back, so the next phase starts from the scheduler's RSS
    row.new_jobs = std::to_string(jobs_after - jobs_before);
    jobs_before = jobs_after;
    rows.push_back(row);
    if (enqueued < min_expected || enqueued > max_expected) {
      PrintRows(rows);
      Die(phase + ": enqueued " + std::to_string(enqueued) + " renewals, expected " + row.expected);
    }
  };

  tick(flags.plan_at_fill ? "first (enqueue)" : "first (plan+enqueue)", at_t0.certain,
       at_t0.possible);
  const int64_t jobs_first = jobs_before;
  tick("idle (same time)", 0, 0);
  if (jobs_before != jobs_first) Die("steady: new renewal jobs appeared");
  env.clock.Set(t1);
  tick("+" + std::to_string(flags.advance_days) + " days", at_t1.certain, at_t1.possible);

  PrintRows(rows);
  std::printf("%s\n", peak_per_phase ? "VmHWM: the phase's peak (reset before each phase)"
                                     : "VmHWM: the process's peak so far (could not reset it)");
  // Every certificate due at t1 has exactly one renewal job: the ones enqueued at t0 kept theirs.
  if (jobs_before < at_t1.certain || jobs_before > at_t1.possible) {
    Die("renewal jobs in the store: " + std::to_string(jobs_before) + ", expected " +
        std::to_string(at_t1.certain) + ".." + std::to_string(at_t1.possible));
  }
  std::printf(
      "ok: every count within expected (certainly due: window start + max jitter <= now .. "
      "possibly due: window start <= now); one renewal job per due certificate (%" PRId64 ")\n",
      jobs_before);
  scheduler->Stop();
  if (!flags.keep_db.empty()) {
    // Closing the store checkpoints the WAL into the database file, which is then complete.
    scheduler.reset();
    env.store.reset();
    std::error_code ec;
    std::filesystem::copy_file(db_path, flags.keep_db,
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) Die("copy the database to " + flags.keep_db + ": " + ec.message());
    std::printf("database kept in %s\n", flags.keep_db.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace certfleet

int main(int argc, char** argv) { return certfleet::Run(certfleet::ParseFlags(argc, argv)); }
