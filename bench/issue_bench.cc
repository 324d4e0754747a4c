// Issuance and export benchmarks (issue #2). Prints figures; asserts nothing.
//   BM_IssueFullPath/<key>: CertificateService::Request end to end: validation, key generation,
//     serial reservation (synced commit), lint, sign, parse-back check, sealing the key, and the
//     final synced commit of certificate + sealed key + version.
//   BM_SignOnly: the raw lint + sign + parse-back step for a P-256 leaf with a pre-generated key;
//     the ceiling of the CA.
//   BM_Export: ExportService::Export with the default 600,000 PBKDF2 iterations.
//   BM_IssueViaApi: POST /v1/certificates through ApiService::Handle (bearer authentication,
//     authorization, JSON, CertificateService::Request and the request's audit record), P-256,
//     internal CA, SQLite on disk with synced commits.
#include <benchmark/benchmark.h>

#include <atomic>
#include <memory>

#include "api/api_test_env.h"
#include "fakes/pki_env.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/export_service.h"
#include "lifecycle/issuers/internal_issuer.h"
#include "lifecycle/tokens.h"
#include "store/sqlite/sqlite_store.h"
#include "x509/tbs.h"

namespace certfleet {
namespace {

struct Stack {
  Stack() : env(std::chrono::system_clock::now()) {
    issuers.Register(std::make_unique<lifecycle::InternalIssuer>(env.Ca()));
    certs = std::make_unique<lifecycle::CertificateService>(*env.store, *env.secret_store, issuers,
                                                            env.clock, SystemRandomSource());
    auto tx = env.store->Begin();
    CF_CHECK(tx.ok());
    CF_CHECK((*tx)->accounts().Insert({"acc_bench", "bench", env.clock.Now()}).ok());
    CF_CHECK((*tx)->Commit().ok());
    env.ClaimDomain("acc_bench", "example.test");  // issue #13: names need a claim
  }
  testing::PkiEnv env;
  lifecycle::IssuerRegistry issuers;
  std::unique_ptr<lifecycle::CertificateService> certs;
  lifecycle::Caller caller{.principal_id = "prn_bench", .account_id = "acc_bench"};
};

void BM_IssueFullPath(benchmark::State& state) {
  Stack s;
  const std::string key_type = state.range(0) == 0 ? "p256" : "rsa2048";
  int n = 0;
  for (auto _ : state) {
    lifecycle::CertificateRequest r;
    r.name = "bench-" + std::to_string(n++);
    r.domains = {"app" + std::to_string(n) + ".example.test"};
    r.key_type = key_type;
    auto v = s.certs->Request(s.caller, r);
    CF_CHECK(v.ok());
    benchmark::DoNotOptimize(v);
  }
  state.SetLabel(key_type);
  state.counters["certs/s"] =
      benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_IssueFullPath)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_SignOnly(benchmark::State& state) {
  Stack s;
  auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  CF_CHECK(key.ok());
  // Sign through the public Signer with a throwaway issuing key of the same shape as the CA's,
  // so no serial reservation or store write is measured.
  auto ik = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  CF_CHECK(ik.ok());
  auto issuer_key = std::make_shared<const crypto::PrivateKey>(std::move(*ik));
  x509::TbsSpec issuer_spec;
  issuer_spec.serial = std::string(16, '\x11');
  issuer_spec.subject_common_name = "bench issuing CA";
  issuer_spec.not_before = s.env.clock.Now() - std::chrono::hours(1);
  issuer_spec.not_after = s.env.clock.Now() + std::chrono::days(365);
  issuer_spec.subject_public_key_der = issuer_key->public_key().spki_der();
  issuer_spec.is_ca = true;
  issuer_spec.key_usage = {.digital_signature = true, .key_cert_sign = true, .crl_sign = true};
  auto linted_issuer = x509::Lint(issuer_spec, {.require_dns_names = false}, nullptr);
  CF_CHECK(linted_issuer.ok());
  auto self = x509::Signer::Create(std::nullopt, issuer_key);
  CF_CHECK(self.ok());
  auto issuer_cert = self->Sign(std::move(*linted_issuer));
  CF_CHECK(issuer_cert.ok());
  auto signer = x509::Signer::Create(*issuer_cert, issuer_key);
  CF_CHECK(signer.ok());
  uint64_t serial = 1;
  for (auto _ : state) {
    x509::TbsSpec spec;
    spec.serial = std::string(12, '\x22') + std::string(reinterpret_cast<char*>(&serial), 8);
    ++serial;
    spec.subject_common_name = "app.example.test";
    spec.dns_names = {"app.example.test"};
    spec.not_before = s.env.clock.Now();
    spec.not_after = s.env.clock.Now() + std::chrono::days(90) - std::chrono::seconds(1);
    spec.subject_public_key_der = key->public_key().spki_der();
    spec.key_usage.digital_signature = true;
    spec.extended_key_usage = {x509::ExtendedKeyUsage::kServerAuth};
    auto linted =
        x509::Lint(std::move(spec), {.max_validity = std::chrono::days(200)}, &*issuer_cert);
    CF_CHECK(linted.ok());
    auto cert = signer->Sign(std::move(*linted));
    CF_CHECK(cert.ok());
    benchmark::DoNotOptimize(cert);
  }
  state.counters["certs/s"] =
      benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SignOnly)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Export(benchmark::State& state) {
  Stack s;
  lifecycle::ExportService exports(*s.env.store, *s.env.secret_store, s.env.clock,
                                   SystemRandomSource());
  lifecycle::CertificateRequest r;
  r.name = "export-bench";
  r.domains = {"app.example.test"};
  r.exportable = true;
  auto v = s.certs->Request(s.caller, r);
  CF_CHECK(v.ok());
  const bool generated = state.range(0) == 1;
  for (auto _ : state) {
    std::optional<SecretBytes> pass;
    if (!generated) pass = SecretBytes::FromView("a benchmark passphrase");
    auto out = exports.Export(s.caller, v->certificate.id, std::move(pass));
    CF_CHECK(out.ok());
    benchmark::DoNotOptimize(out);
  }
  state.SetLabel(generated ? "generated passphrase (sealed secret)" : "given passphrase");
}
BENCHMARK(BM_Export)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);

// One API stack shared by every thread of a BM_IssueViaApi run (google-benchmark runs the
// function once per thread; thread 0 builds the stack before the others start timing).
struct ApiBench {
  ApiBench() {
    auto tx = s.env.store->Begin();
    CF_CHECK(tx.ok());
    CF_CHECK((*tx)->accounts().Insert({"acc_bench", "bench", s.env.clock.Now()}).ok());
    model::Principal p;
    p.id = "prn_bench";
    p.account_id = "acc_bench";
    p.name = "bench";
    p.role = model::Role::kOperator;
    p.created_at = s.env.clock.Now();
    CF_CHECK((*tx)->principals().Insert(p).ok());
    lifecycle::NewToken t = lifecycle::GenerateApiToken(SystemRandomSource());
    CF_CHECK((*tx)
                 ->tokens()
                 .Insert({.id = "tok_bench",
                          .principal_id = p.id,
                          .hash_hex = t.hash_hex,
                          .created_at = s.env.clock.Now()})
                 .ok());
    CF_CHECK((*tx)->Commit().ok());
    token = std::string(t.token.view());
  }
  api::ApiStack s;
  std::string token;
  std::atomic<int> next{0};
};
std::unique_ptr<ApiBench> g_api;

void BM_IssueViaApi(benchmark::State& state) {
  if (state.thread_index() == 0) g_api = std::make_unique<ApiBench>();
  for (auto _ : state) {
    // Inside the loop: every thread passes google-benchmark's start barrier first, after
    // thread 0 has built the stack.
    ApiBench& b = *g_api;
    net::HttpRequest r;
    r.method = "POST";
    r.target = "/v1/certificates";
    r.remote_address = "127.0.0.1:1";
    r.headers["content-type"] = "application/json";
    r.headers["authorization"] = "Bearer " + b.token;
    const int n = ++b.next;
    r.body = "{\"name\":\"bench-" + std::to_string(n) + "\",\"domains\":[\"app" +
             std::to_string(n) + ".example.test\"]}";
    net::HttpResponse out = b.s.api->Handle(r);
    CF_CHECK(out.status == 201);
    benchmark::DoNotOptimize(out);
  }
  state.counters["certs/s"] =
      benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
  if (state.thread_index() == 0) {
    if (auto stats = store::SqliteStatsOf(*g_api->s.env.store)) {
      state.counters["tx/commit"] =
          stats->batches ? double(stats->transactions) / double(stats->batches) : 0;
    }
  }
}
BENCHMARK(BM_IssueViaApi)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime()
    ->MinTime(3.0)
    ->Threads(1)
    ->Threads(8)
    ->Threads(64);

}  // namespace
}  // namespace certfleet

BENCHMARK_MAIN();
