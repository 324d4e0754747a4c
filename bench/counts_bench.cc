// GET /v1/counts at fleet scale (issue #17): the console dashboard's numbers over N certificates
// in a SQLite store, answered in process by ApiService::Handle (no TLS, no socket), so the
// figure is the handler's: authentication, the GROUP BY queries (StatsRepo::CountDashboard) and
// the JSON.
//
//   counts_bench [--certificates N] [--runs R]
//
// The store is a fresh SQLite file (synchronous=FULL) in a temp dir with three tenant accounts
// and N certificates spread over them, each with one current version whose row carries PEM-sized
// leaf and chain text (1.2 kB and 1.6 kB, as real ones): expiries spread over -10..170 days, 2 %
// revoked, 30 % from an ACME issuer "le". Plus 1,000 agents and 2,000 deployments. Each query is
// run once to warm the page cache, then R times; min, median and max wall time are printed for
// a system admin (every account) and a tenant admin (one account, about N/3 certificates), with
// the median process CPU time per request (user + system), which a loaded machine does not
// inflate the way it does wall time.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "api/api_test_env.h"
#include "base/log.h"
#include "bench_util.h"

namespace certfleet {
namespace {

using WallClock = std::chrono::steady_clock;

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) bench::Die(std::string(what) + ": " + r.error().ToString(), 1);
  return std::move(*r);
}
void Must(Status s, const char* what) {
  if (!s.ok()) bench::Die(std::string(what) + ": " + s.error().ToString(), 1);
}

std::string Id(const char* prefix, int64_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s_%026" PRId64, prefix, n);
  return buf;
}

void Fill(api::ApiStack& stack, const std::vector<std::string>& accounts,
          const std::string& principal_id, int64_t n) {
  store::Store& store = *stack.env.store;
  const TimePoint now = stack.env.clock.Now();
  const std::string leaf(1200, 'L'), chain(1600, 'C');
  constexpr int64_t kBatch = 5000;
  for (int64_t start = 0; start < n; start += kBatch) {
    auto tx = Must(store.Begin(), "begin");
    for (int64_t i = start; i < std::min(n, start + kBatch); ++i) {
      model::Certificate c;
      c.id = Id("crt", i);
      c.account_id = accounts[i % accounts.size()];
      c.name = "cert-" + std::to_string(i);
      c.domains = {"h" + std::to_string(i) + ".fleet.example.test"};
      c.key_type = "ecdsa-p256";
      c.profile = "tls-server";
      c.issuer = i % 10 < 3 ? "le" : "internal";
      c.tags = {{"env", i % 2 ? "prod" : "dev"}};
      c.status =
          i % 50 == 0 ? model::CertificateStatus::kRevoked : model::CertificateStatus::kIssued;
      c.created_by = "prn_bench";
      c.created_at = c.updated_at = now;
      model::CertificateVersion v{.id = Id("crv", i),
                                  .certificate_id = c.id,
                                  .version = 1,
                                  .serial_hex = "0a" + std::to_string(i),
                                  .not_before = now - std::chrono::days(30),
                                  .not_after = now + std::chrono::hours(24 * (i % 180) - 240),
                                  .leaf_pem = leaf,
                                  .chain_pem = chain,
                                  .fingerprint_sha256 = std::string(64, 'f'),
                                  .key_blob_id = Id("blb", i),
                                  .created_at = now};
      c.current_version_id = v.id;
      Must(tx->certificates().Insert(c), "insert certificate");
      Must(tx->versions().Insert(v), "insert version");
    }
    Must(tx->Commit(), "commit");
  }
  auto tx = Must(store.Begin(), "begin");
  for (int i = 0; i < 1000; ++i) {
    model::Agent a;
    a.id = Id("agt", i);
    a.account_id = accounts[i % accounts.size()];
    a.principal_id = principal_id;  // any existing principal (a foreign key)
    a.cert_serial_hex = "b" + std::to_string(i);
    a.cert_not_after = now + std::chrono::days(30);
    a.status = model::AgentStatus::kActive;
    a.last_seen_at = now - std::chrono::seconds(i % 2 ? 10 : 3600);
    a.created_at = a.updated_at = now;
    Must(tx->agents().Insert(a), "insert agent");
  }
  for (int i = 0; i < 2000; ++i) {
    model::Deployment d;
    d.id = Id("dep", i);
    d.account_id = accounts[i % accounts.size()];
    d.certificate_id = Id("crt", i % n);
    d.target_account_id = d.account_id;
    d.profile = "nginx";
    d.state = i % 7 == 0 ? model::DeploymentState::kFailed : model::DeploymentState::kSucceeded;
    d.generation = 1;
    d.created_by = "prn_bench";
    d.created_at = d.updated_at = now;
    Must(tx->deployments().Insert(d), "insert deployment");
  }
  Must(tx->Commit(), "commit");
}

void Measure(api::ApiService& api, const std::string& label, const std::string& token, int runs) {
  net::HttpRequest r{.method = "GET", .target = "/v1/counts"};
  r.headers["authorization"] = "Bearer " + token;
  r.remote_address = "127.0.0.1:1";
  auto first = api.Handle(r);
  if (first.status != 200) bench::Die(label + ": " + first.body, 1);
  std::vector<double> ms, cpu_ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = WallClock::now();
    const double c0 = bench::ProcessCpuSeconds();
    auto resp = api.Handle(r);
    cpu_ms.push_back((bench::ProcessCpuSeconds() - c0) * 1000);
    ms.push_back(std::chrono::duration<double, std::milli>(WallClock::now() - t0).count());
    if (resp.status != 200) bench::Die(label + ": " + resp.body, 1);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  const auto body = nlohmann::json::parse(first.body);
  std::printf("%-28s %10" PRId64 " %9.1f %9.1f %9.1f %11.1f\n", label.c_str(),
              body["certificates"]["total"].get<int64_t>(), ms.front(), bench::Percentile(ms, 0.5),
              ms.back(), bench::Percentile(cpu_ms, 0.5));
}

int Run(int argc, char** argv) {
  bench::SetProgramName("counts_bench");
  int64_t n = 100000;
  int runs = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) bench::Die("usage: counts_bench [--certificates N] [--runs R]");
    if (arg == "--certificates") {
      n = bench::ParseNumber<int64_t>(arg, argv[++i], 1, 10000000);
    } else if (arg == "--runs") {
      runs = bench::ParseNumber<int>(arg, argv[++i], 1, 10000);
    } else {
      bench::Die("usage: counts_bench [--certificates N] [--runs R]");
    }
  }
  log::SetMinLevel(log::Level::kWarn);
  api::ApiStack stack;
  auto sys = Must(stack.governance->CreateAccount("default"), "account");
  std::vector<std::string> accounts;
  for (const char* name : {"red", "green", "blue"}) {
    accounts.push_back(Must(stack.governance->CreateAccount(name), "account").id);
  }
  std::string principal_id;
  auto token = [&](const std::string& account) {
    auto p = Must(stack.governance->CreatePrincipal(
                      {account, "admin", model::PrincipalKind::kUser, model::Role::kAdmin}),
                  "principal");
    principal_id = p.id;
    return std::string(Must(stack.governance->CreateToken(p, std::nullopt), "token").token.view());
  };
  const std::string root = token(sys.id), tenant = token(accounts[0]);
  const auto t0 = WallClock::now();
  Fill(stack, accounts, principal_id, n);
  std::printf("filled %" PRId64 " certificates in %.1f s (SQLite, synchronous=FULL)\n", n,
              std::chrono::duration<double>(WallClock::now() - t0).count());
  std::printf("%-28s %10s %9s %9s %9s %11s\n", "GET /v1/counts as", "certs", "min ms", "p50 ms",
              "max ms", "CPU p50 ms");
  Measure(*stack.api, "system admin (every account)", root, runs);
  Measure(*stack.api, "tenant admin (one account)", tenant, runs);
  return 0;
}

}  // namespace
}  // namespace certfleet

int main(int argc, char** argv) { return certfleet::Run(argc, argv); }
