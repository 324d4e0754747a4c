// GET /metrics (issue #5): the exposition helpers, the HTTP request registry, and the endpoint
// through the in-process API with seeded data and a fake clock.
#include "api/metrics.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "api/api_service.h"
#include "api/api_test_env.h"
#include "base/time_util.h"
#include "crypto/key.h"
#include "x509/csr.h"

namespace certfleet::api {
namespace {

using nlohmann::json;

// --- a small exposition parser for the tests ---------------------------------------------------

// Parses a 0.0.4 text document strictly enough to catch format mistakes: every sample follows
// the HELP and TYPE lines of its family (histogram samples by suffix), no family is declared
// twice, label values use only the \\, \" and \n escapes, values are numbers or +Inf/-Inf.
// Returns the samples keyed by their series exactly as written (`name{a="b"}`).
std::map<std::string, double> ParseExposition(const std::string& text) {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::string family, type;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "the last line must end with \\n";
  while (std::getline(in, line)) {
    ++n;
    const std::string where = "line " + std::to_string(n) + ": " + line;
    if (line.rfind("# HELP ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      type.clear();
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string rest = line.substr(7);
      const std::string name = rest.substr(0, rest.find(' '));
      EXPECT_EQ(name, family) << "TYPE without its HELP, " << where;
      type = rest.substr(rest.find(' ') + 1);
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << where;
      EXPECT_EQ(types.count(name), 0u) << "family declared twice, " << where;
      types[name] = type;
      continue;
    }
    if (line.empty() || line[0] == '#') {
      ADD_FAILURE() << "unexpected " << where;
      continue;
    }
    EXPECT_FALSE(type.empty()) << "sample before its TYPE line, " << where;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    const std::string name = line.substr(0, i);
    if (type == "histogram") {
      EXPECT_TRUE(name == family + "_bucket" || name == family + "_sum" ||
                  name == family + "_count")
          << where;
    } else {
      EXPECT_EQ(name, family) << where;
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        while (i < line.size() && line[i] != '=') ++i;
        EXPECT_EQ(line.substr(i, 2), "=\"") << where;
        i += 2;
        for (; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\') {
            ++i;
            EXPECT_TRUE(i < line.size() && (line[i] == '\\' || line[i] == '"' || line[i] == 'n'))
                << "bad escape, " << where;
          }
        }
        ++i;  // the closing quote
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;  // the closing brace
    }
    if (i >= line.size() || line[i] != ' ') {
      ADD_FAILURE() << "no value, " << where;
      continue;
    }
    const std::string series = line.substr(0, i);
    const std::string value = line.substr(i + 1);
    double v = 0;
    if (value == "+Inf") {
      v = std::numeric_limits<double>::infinity();
    } else if (value == "-Inf") {
      v = -std::numeric_limits<double>::infinity();
    } else {
      size_t used = 0;
      v = std::stod(value, &used);
      EXPECT_EQ(used, value.size()) << where;
    }
    EXPECT_EQ(samples.count(series), 0u) << "duplicate series, " << where;
    samples[series] = v;
  }
  return samples;
}

// --- exposition helpers ------------------------------------------------------------------------

TEST(MetricsFormat, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("plain-name_1.x"), "plain-name_1.x");
  EXPECT_EQ(EscapeLabelValue(R"(a\b"c)"
                             "\n"
                             "d"),
            R"(a\\b\"c\nd)");
  EXPECT_EQ(EscapeLabelValue("caf\xc3\xa9 {x=1}"), "caf\xc3\xa9 {x=1}");  // UTF-8 and braces kept
  EXPECT_EQ(EscapeHelp("one\\two\nthree \"q\""), "one\\\\two\\nthree \"q\"");
}

TEST(MetricsFormat, FormatsValuesAsGoFloats) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-0.0), "0");
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(1.5), "1.5");
  EXPECT_EQ(FormatValue(-2.25), "-2.25");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(1798761600), "1798761600");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  // Shortest form that reads back as the same double.
  const double third = 89.0 / 3.0;
  EXPECT_EQ(std::stod(FormatValue(third)), third);
}

TEST(MetricsFormat, MethodsOutsideTheKnownSetAreOther) {
  EXPECT_EQ(MetricMethod("GET"), "GET");
  EXPECT_EQ(MetricMethod("PATCH"), "PATCH");
  EXPECT_EQ(MetricMethod("BREW"), "other");
  EXPECT_EQ(MetricMethod("get"), "other");
}

TEST(MetricsFormat, WriterEmitsFamiliesAndSamples) {
  ExpositionWriter w;
  w.Family("certfleet_things", ExpositionWriter::Type::kGauge, "Things.\nBy \\ kind.");
  w.Sample("certfleet_things", {{"kind", "a\"b"}, {"zone", "z"}}, 2);
  w.Sample("certfleet_things", 0.5);
  w.Family("certfleet_done_total", ExpositionWriter::Type::kCounter, "Done.");
  EXPECT_EQ(w.text(),
            "# HELP certfleet_things Things.\\nBy \\\\ kind.\n"
            "# TYPE certfleet_things gauge\n"
            "certfleet_things{kind=\"a\\\"b\",zone=\"z\"} 2\n"
            "certfleet_things 0.5\n"
            "# HELP certfleet_done_total Done.\n"
            "# TYPE certfleet_done_total counter\n");
  ParseExposition(w.text());
}

TEST(MetricsFormat, BadNamesAreInvariantViolations) {
  ExpositionWriter w;
  EXPECT_DEATH(w.Family("certfleet-things", ExpositionWriter::Type::kGauge, "x"), "");
  EXPECT_DEATH(w.Sample("ok", {{"bad-label", "v"}}, 1), "");
}

// --- HttpMetrics -------------------------------------------------------------------------------

TEST(HttpMetrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  HttpMetrics m({0.1, 1});
  m.Observe("/v1/x/{id}", "GET", 200, 0.05);
  m.Observe("/v1/x/{id}", "GET", 200, 0.1);  // le is inclusive
  m.Observe("/v1/x/{id}", "GET", 404, 0.5);
  m.Observe("/v1/x/{id}", "GET", 200, 7);
  m.Observe("/v1/x/{id}", "GET", 200, -1);  // a clock step backwards counts as 0
  ExpositionWriter w;
  m.Write(w);
  auto s = ParseExposition(w.text());
  const std::string l = "route=\"/v1/x/{id}\",method=\"GET\"";
  EXPECT_EQ(s.at("certfleet_http_requests_total{" + l + ",code=\"200\"}"), 4);
  EXPECT_EQ(s.at("certfleet_http_requests_total{" + l + ",code=\"404\"}"), 1);
  EXPECT_EQ(s.at("certfleet_http_request_duration_seconds_bucket{" + l + ",le=\"0.1\"}"), 3);
  EXPECT_EQ(s.at("certfleet_http_request_duration_seconds_bucket{" + l + ",le=\"1\"}"), 4);
  EXPECT_EQ(s.at("certfleet_http_request_duration_seconds_bucket{" + l + ",le=\"+Inf\"}"), 5);
  EXPECT_DOUBLE_EQ(s.at("certfleet_http_request_duration_seconds_sum{" + l + "}"), 7.65);
  EXPECT_EQ(s.at("certfleet_http_request_duration_seconds_count{" + l + "}"), 5);
  EXPECT_EQ(s.size(), 7u);
}

TEST(HttpMetrics, DefaultBucketsAndEmptyFamilies) {
  EXPECT_EQ(HttpMetrics::DefaultBuckets(),
            (std::vector<double>{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}));
  HttpMetrics m;
  ExpositionWriter w;
  m.Write(w);
  // Nothing observed: the families are still declared, with no samples.
  EXPECT_TRUE(ParseExposition(w.text()).empty());
  EXPECT_NE(w.text().find("# TYPE certfleet_http_request_duration_seconds histogram\n"),
            std::string::npos);
  EXPECT_NE(w.text().find("# TYPE certfleet_http_requests_total counter\n"), std::string::npos);
}

TEST(HttpMetrics, ConcurrentObservationsAreAllCounted) {
  HttpMetrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < 1000; ++i) {
        m.Observe("/r", "GET", 200 + t % 2, 0.001);
        if (i % 100 == 0) {
          ExpositionWriter w;
          m.Write(w);  // scrapes while requests are recorded
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ExpositionWriter w;
  m.Write(w);
  auto s = ParseExposition(w.text());
  EXPECT_EQ(s.at("certfleet_http_requests_total{route=\"/r\",method=\"GET\",code=\"200\"}"), 2000);
  EXPECT_EQ(s.at("certfleet_http_requests_total{route=\"/r\",method=\"GET\",code=\"201\"}"), 2000);
  EXPECT_EQ(s.at("certfleet_http_request_duration_seconds_count{route=\"/r\",method=\"GET\"}"),
            4000);
}

// --- GET /metrics through the API --------------------------------------------------------------

constexpr char kInsideWindow[] = "certfleet_certificates_expiry_window{window=\"inside\"}";
constexpr char kOutsideWindow[] = "certfleet_certificates_expiry_window{window=\"outside\"}";

class MetricsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sys_ = *stack_.governance->CreateAccount("default");
    alpha_ = *stack_.governance->CreateAccount("alpha");
    admin_ = Token(sys_.id, "root", model::Role::kAdmin);
    auditor_ = Token(sys_.id, "prometheus", model::Role::kAuditor);
  }

  std::string Token(const std::string& account, const std::string& name, model::Role role) {
    auto p =
        stack_.governance->CreatePrincipal({account, name, model::PrincipalKind::kUser, role, {}});
    EXPECT_TRUE(p.ok()) << p.error().ToString();
    auto t = stack_.governance->CreateToken(*p, std::nullopt);
    EXPECT_TRUE(t.ok()) << t.error().ToString();
    return std::string(t->token.view());
  }

  net::HttpResponse Call(const std::string& method, const std::string& target,
                         const std::string& token, const std::string& body = "") {
    net::HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.remote_address = "127.0.0.1:9";
    if (!body.empty()) r.headers["content-type"] = "application/json";
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    return stack_.api->Handle(r);
  }

  json Post(const std::string& target, const std::string& body) {
    auto r = Call("POST", target, admin_, body);
    EXPECT_LT(r.status, 300) << target << ": " << r.body;
    return json::parse(r.body);
  }

  json Cert(const std::string& name, const std::string& env = "dev") {
    return Post("/v1/certificates", json{{"name", name},
                                         {"domains", {name + ".example.test"}},
                                         {"exportable", true},
                                         {"tags", {{"env", env}}}}
                                        .dump());
  }

  std::map<std::string, double> Scrape() {
    auto r = Call("GET", "/metrics", auditor_);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers.at("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    last_ = r.body;
    return ParseExposition(r.body);
  }

  std::string EnrollAgent(const std::string& account, const model::Tags& tags) {
    lifecycle::Caller admin{.principal_id = "prn_a", .account_id = account};
    auto token = stack_.agents->CreateEnrollmentToken(admin, account, tags, {});
    EXPECT_TRUE(token.ok()) << token.error().ToString();
    auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
    auto csr = x509::Csr::Build(*key, "", {"agent.example.test"});
    auto creds = stack_.agents->Enroll({std::string(token->token.view()), csr->ToPem(), "h"});
    EXPECT_TRUE(creds.ok()) << creds.error().ToString();
    return creds->agent.id;
  }

  void Drain() {
    for (int i = 0; i < 20; ++i) {
      auto n = stack_.engine->RunOnce();
      ASSERT_TRUE(n.ok()) << n.error().ToString();
      if (*n == 0) return;
    }
  }

  // The labels of a certificate's series, as the endpoint writes them.
  std::string CertSeries(const std::string& metric, const std::string& id,
                         const std::string& escaped_name) const {
    return metric + "{id=\"" + id + "\",name=\"" + escaped_name + "\",account=\"" + sys_.id +
           "\",account_name=\"default\"}";
  }

  ApiStack stack_;
  model::Account sys_, alpha_;
  std::string admin_, auditor_;
  std::string last_;
};

TEST_F(MetricsApiTest, OnlySystemAccountPrincipalsMayRead) {
  auto none = Call("GET", "/metrics", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers.at("Content-Type"), "application/problem+json");
  EXPECT_EQ(Call("GET", "/metrics", "cft_" + std::string(43, 'x')).status, 401);

  auto foreign_admin = Call("GET", "/metrics", Token(alpha_.id, "boss", model::Role::kAdmin));
  EXPECT_EQ(foreign_admin.status, 403);
  EXPECT_NE(foreign_admin.body.find("account.foreign"), std::string::npos) << foreign_admin.body;
  auto agent = Call("GET", "/metrics", Token(sys_.id, "host", model::Role::kAgent));
  EXPECT_EQ(agent.status, 403);
  EXPECT_NE(agent.body.find("role.insufficient"), std::string::npos) << agent.body;

  for (auto role : {model::Role::kAdmin, model::Role::kOperator, model::Role::kAuditor}) {
    auto r =
        Call("GET", "/metrics", Token(sys_.id, std::string(model::RoleName(role)) + "-x", role));
    EXPECT_EQ(r.status, 200) << model::RoleName(role) << ": " << r.body;
  }
  EXPECT_EQ(Call("POST", "/metrics", admin_, "{}").status, 405);
}

TEST_F(MetricsApiTest, CertificateExpiryAndDaysToExpiryFollowTheClock) {
  json c = Cert("web");
  const std::string id = c["id"];
  auto not_after = ParseRfc3339(c["not_after"].get<std::string>());
  ASSERT_TRUE(not_after.ok());
  const double expiry = double(ToUnixSeconds(*not_after));
  const auto days_at = [&](TimePoint now) {
    return std::chrono::duration<double>(*not_after - now).count() / 86400;
  };

  // Outside the warning window (30 days by default; the certificate has 90): counted, no series
  // (issue #14). One second before the window it is still outside.
  const std::string expiry_key =
      CertSeries("certfleet_certificate_expiry_timestamp_seconds", id, "web");
  const std::string days_key = CertSeries("certfleet_certificate_days_to_expiry", id, "web");
  int n = 0;
  for (TimePoint at :
       {stack_.env.clock.Now(), *not_after - std::chrono::days(30) - std::chrono::seconds(1)}) {
    stack_.env.clock.Set(at);
    auditor_ = Token(sys_.id, "outside-" + std::to_string(++n), model::Role::kAuditor);
    auto s = Scrape();
    EXPECT_EQ(s.count(expiry_key), 0u) << last_;
    EXPECT_EQ(s.count(days_key), 0u) << last_;
    EXPECT_EQ(s.at(kInsideWindow), 0);
    EXPECT_EQ(s.at(kOutsideWindow), 1);
    EXPECT_EQ(s.at("certfleet_certificates{status=\"issued\"}"), 1);
  }

  stack_.env.clock.Set(*not_after - std::chrono::days(30));  // inside from here on
  auditor_ = Token(sys_.id, "inside", model::Role::kAuditor);
  auto s = Scrape();
  ASSERT_EQ(s.count(expiry_key), 1u) << last_;
  EXPECT_EQ(s.at(expiry_key), expiry);
  EXPECT_NEAR(s.at(days_key), days_at(stack_.env.clock.Now()), 1e-9);
  EXPECT_NEAR(s.at(days_key), 30, 1e-9);
  EXPECT_EQ(s.at(kInsideWindow), 1);
  EXPECT_EQ(s.at(kOutsideWindow), 0);
  EXPECT_EQ(s.at("certfleet_certificates{status=\"issued\"}"), 1);
  EXPECT_EQ(s.at("certfleet_certificates{status=\"revoked\"}"), 0);
  const double before = s.at(days_key);

  stack_.env.clock.Advance(std::chrono::hours(24 * 10) + std::chrono::hours(6));
  s = Scrape();
  EXPECT_EQ(s.at(expiry_key), expiry);
  EXPECT_NEAR(s.at(days_key), before - 10.25, 1e-9);

  // Past notAfter the days go negative (the series stays until the certificate's status changes).
  stack_.env.clock.Set(*not_after + std::chrono::hours(12));
  auditor_ = Token(sys_.id, "later", model::Role::kAuditor);  // tokens expire too
  s = Scrape();
  EXPECT_NEAR(s.at(days_key), -0.5, 1e-9);
}

TEST_F(MetricsApiTest, UserTextInLabelsIsEscaped) {
  // Names are validated on the way in today, but the exposition must not depend on it: a row
  // written by an older version or another tool may hold anything.
  json c = Cert("plain");
  const std::string weird = "we\"ird\\name\nnext";
  model::Certificate cert{.id = "crt_0000000000000000000000weird",
                          .account_id = sys_.id,
                          .name = weird,
                          .domains = {"weird.example.test"},
                          .key_type = "p256",
                          .profile = "tls-server",
                          .issuer = "internal",
                          .status = model::CertificateStatus::kIssued,
                          .current_version_id = "ver_0000000000000000000000weird",
                          .created_by = "prn_x",
                          .created_at = stack_.env.clock.Now(),
                          .updated_at = stack_.env.clock.Now()};
  model::CertificateVersion version{.id = cert.current_version_id,
                                    .certificate_id = cert.id,
                                    .serial_hex = "0badc0ffee",
                                    .not_before = stack_.env.clock.Now(),
                                    .not_after = stack_.env.clock.Now() + std::chrono::days(9),
                                    .leaf_pem = "x",
                                    .chain_pem = "x",
                                    .fingerprint_sha256 = std::string(64, '0'),
                                    .key_blob_id = "blb_x",
                                    .created_at = stack_.env.clock.Now()};
  {
    auto tx = stack_.env.store->Begin();
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)->certificates().Insert(cert).ok());
    ASSERT_TRUE((*tx)->versions().Insert(version).ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  auto s = Scrape();
  const std::string key = CertSeries("certfleet_certificate_expiry_timestamp_seconds", cert.id,
                                     "we\\\"ird\\\\name\\nnext");
  ASSERT_EQ(s.count(key), 1u) << last_;
  EXPECT_EQ(s.at(key), double(ToUnixSeconds(version.not_after)));
  // "plain" has 90 days left: outside the window, no series.
  EXPECT_EQ(s.count(CertSeries("certfleet_certificate_expiry_timestamp_seconds",
                               c["id"].get<std::string>(), "plain")),
            0u);
  EXPECT_EQ(s.at("certfleet_certificates{status=\"issued\"}"), 2);
}

// Issue #14: /metrics stays bounded at fleet scale. Of many issued certificates only those
// inside their own account's warning window have per-certificate series (default 30 days, an
// account policy may set another); every other one is only counted.
TEST_F(MetricsApiTest, OnlyCertificatesInsideTheirWarningWindowHaveSeries) {
  const TimePoint now = std::chrono::floor<std::chrono::seconds>(stack_.env.clock.Now());
  std::set<std::string> inside;
  {
    auto tx = stack_.env.store->Begin();
    ASSERT_TRUE(tx.ok());
    // alpha warns 60 days ahead.
    ASSERT_TRUE((*tx)
                    ->policies()
                    .Put({.account_id = alpha_.id,
                          .toml = "[notify]\nexpiry_warning_days = 60\n",
                          .updated_by = "prn_x",
                          .updated_at = now})
                    .ok());
    constexpr int kCertificates = 600;
    for (int i = 0; i < kCertificates; ++i) {
      const bool alpha = i % 2 == 1;
      // Days left: 0.5 .. 120 spread over the certificates.
      const TimePoint not_after = now + std::chrono::hours(12) + std::chrono::hours(4) * i;
      char suffix[32];
      std::snprintf(suffix, sizeof suffix, "%06d", i);
      model::Certificate cert{.id = std::string("crt_0000000000000000000") + suffix,
                              .account_id = alpha ? alpha_.id : sys_.id,
                              .name = std::string("bulk-") + suffix,
                              .domains = {std::string("b") + suffix + ".example.test"},
                              .key_type = "p256",
                              .profile = "tls-server",
                              .issuer = "internal",
                              .status = model::CertificateStatus::kIssued,
                              .current_version_id = std::string("ver_0000000000000000000") + suffix,
                              .created_by = "prn_x",
                              .created_at = now,
                              .updated_at = now};
      model::CertificateVersion version{.id = cert.current_version_id,
                                        .certificate_id = cert.id,
                                        .serial_hex = std::string("b0") + suffix,
                                        .not_before = now - std::chrono::days(1),
                                        .not_after = not_after,
                                        .leaf_pem = "x",
                                        .chain_pem = "x",
                                        .fingerprint_sha256 = std::string(64, '0'),
                                        .key_blob_id = "blb_x",
                                        .created_at = now};
      ASSERT_TRUE((*tx)->certificates().Insert(cert).ok());
      ASSERT_TRUE((*tx)->versions().Insert(version).ok());
      if (not_after - now <= std::chrono::days(alpha ? 60 : 30)) inside.insert(cert.id);
    }
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  ASSERT_GT(inside.size(), 100u);
  ASSERT_LT(inside.size(), 400u);

  auto s = Scrape();
  std::set<std::string> with_expiry, with_days;
  for (const auto& [series, value] : s) {
    const size_t id_at = series.find("{id=\"");
    if (id_at == std::string::npos) continue;
    const std::string id = series.substr(id_at + 5, series.find('"', id_at + 5) - id_at - 5);
    if (series.rfind("certfleet_certificate_expiry_timestamp_seconds{", 0) == 0) {
      with_expiry.insert(id);
    } else if (series.rfind("certfleet_certificate_days_to_expiry{", 0) == 0) {
      with_days.insert(id);
      EXPECT_LE(value, 60) << series;
    }
  }
  EXPECT_EQ(with_expiry, inside);
  EXPECT_EQ(with_days, inside);
  EXPECT_EQ(s.at(kInsideWindow), double(inside.size()));
  EXPECT_EQ(s.at(kOutsideWindow), double(600 - inside.size()));
  EXPECT_EQ(s.at("certfleet_certificates{status=\"issued\"}"), 600);
}

TEST_F(MetricsApiTest, DeploymentsTargetsAgentsAndJobQueue) {
  auto s = Scrape();
  // Every known state is present from the start, at 0.
  for (const char* state : {"running", "succeeded", "failed", "no_targets"}) {
    EXPECT_EQ(s.at(std::string("certfleet_deployments{state=\"") + state + "\"}"), 0) << state;
  }
  for (const char* state : {"pending", "installed", "verified", "failed", "rolled_back"}) {
    EXPECT_EQ(s.at(std::string("certfleet_deployment_targets{state=\"") + state + "\"}"), 0)
        << state;
  }
  for (const char* status : {"pending", "delivered", "failed"}) {
    EXPECT_EQ(s.at(std::string("certfleet_event_deliveries{status=\"") + status + "\"}"), 0);
  }
  EXPECT_EQ(s.at("certfleet_agents"), 0);
  EXPECT_EQ(s.at("certfleet_agents_online"), 0);
  EXPECT_EQ(s.at("certfleet_job_queue_oldest_due_age_seconds"), 0);
  EXPECT_EQ(s.at("certfleet_event_delivery_failures_total"), 0);

  EnrollAgent(sys_.id, {{"env", "dev"}});
  json c = Cert("deployed");
  const std::string deploy =
      json{{"certificate", c["id"]}, {"selector", {{"env", "dev"}}}, {"profile", "nginx"}}.dump();
  Post("/v1/deployments", deploy);
  Post("/v1/deployments",
       json{{"certificate", c["id"]}, {"selector", {{"env", "nowhere"}}}, {"profile", "nginx"}}
           .dump());
  stack_.env.clock.Advance(std::chrono::seconds(90));
  s = Scrape();
  EXPECT_EQ(s.at("certfleet_deployments{state=\"running\"}"), 1);
  EXPECT_EQ(s.at("certfleet_deployments{state=\"no_targets\"}"), 1);
  EXPECT_EQ(s.at("certfleet_deployments{state=\"succeeded\"}"), 0);
  EXPECT_EQ(s.at("certfleet_agents"), 1);
  EXPECT_EQ(s.at("certfleet_agents_online"), 1);
  // The deployment's job was enqueued 90 s ago and no worker ran it.
  EXPECT_GE(s.at("certfleet_job_queue_depth{state=\"due\"}"), 1);
  EXPECT_GE(s.at("certfleet_job_queue_oldest_due_age_seconds"), 90);

  Drain();  // exports and assigns the target; the job then waits for the agent's report
  s = Scrape();
  EXPECT_EQ(s.at("certfleet_deployment_targets{state=\"pending\"}"), 1) << last_;
  EXPECT_EQ(s.at("certfleet_job_queue_depth{state=\"due\"}"), 0);
  EXPECT_EQ(s.at("certfleet_job_queue_oldest_due_age_seconds"), 0);
  EXPECT_EQ(s.at("certfleet_job_queue_depth{state=\"running\"}"), 0);

  // The agent has not been seen for longer than the 300 s window.
  stack_.env.clock.Advance(std::chrono::seconds(211));
  s = Scrape();
  EXPECT_EQ(s.at("certfleet_agents"), 1);
  EXPECT_EQ(s.at("certfleet_agents_online"), 0);
}

TEST_F(MetricsApiTest, RenewalsAndEventsAreCounted) {
  json c = Cert("renewed");
  auto s = Scrape();
  EXPECT_EQ(s.at("certfleet_renewals_total"), 0);
  EXPECT_EQ(s.at("certfleet_renewal_failures_total"), 0);
  EXPECT_EQ(s.at("certfleet_events_total{type=\"certificate.issued\"}"), 1);

  Post("/v1/certificates/" + c["id"].get<std::string>() + "/renew", "{}");
  s = Scrape();
  EXPECT_EQ(s.at("certfleet_renewals_total"), 1);
  EXPECT_EQ(s.at("certfleet_events_total{type=\"certificate.renewed\"}"), 1);
  EXPECT_EQ(s.at("certfleet_renewal_failures_total"), 0);
}

TEST_F(MetricsApiTest, RequestsAreLabelledWithRoutePatterns) {
  json c = Cert("routed");
  const std::string id = c["id"];
  EXPECT_EQ(Call("GET", "/v1/certificates/" + id, admin_).status, 200);
  EXPECT_EQ(Call("GET", "/v1/certificates/" + id, admin_).status, 200);
  EXPECT_EQ(Call("GET", "/v1/certificates/crt_00000000000000000000000000", admin_).status, 404);
  EXPECT_EQ(Call("GET", "/v1/no/such/" + id, admin_).status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/certificates/" + id, admin_).status, 405);
  EXPECT_EQ(Call("BREW", "/v1/certificates", admin_).status, 405);
  EXPECT_EQ(Call("GET", "/v1/certificates", "").status, 401);

  Scrape();
  auto s = Scrape();  // the first scrape is recorded when it returns, so it shows in the second
  auto requests = [&](const std::string& route, const std::string& method,
                      const std::string& code) {
    const std::string key = "certfleet_http_requests_total{route=\"" + route + "\",method=\"" +
                            method + "\",code=\"" + code + "\"}";
    return s.count(key) ? s.at(key) : -1;
  };
  EXPECT_EQ(requests("/v1/certificates", "POST", "201"), 1);
  EXPECT_EQ(requests("/v1/certificates/{id}", "GET", "200"), 2);
  EXPECT_EQ(requests("/v1/certificates/{id}", "GET", "404"), 1);
  EXPECT_EQ(requests("unmatched", "GET", "404"), 1);
  EXPECT_EQ(requests("/v1/certificates/{id}", "DELETE", "405"), 1);
  EXPECT_EQ(requests("/v1/certificates", "other", "405"), 1);
  EXPECT_EQ(requests("/v1/certificates", "GET", "401"), 1);
  EXPECT_EQ(requests("/metrics", "GET", "200"), 1);
  EXPECT_EQ(s.at("certfleet_http_request_duration_seconds_count{route=\"/v1/certificates/{id}\","
                 "method=\"GET\"}"),
            3);
  EXPECT_EQ(s.at("certfleet_http_request_duration_seconds_bucket{route=\"/v1/certificates/{id}\","
                 "method=\"GET\",le=\"+Inf\"}"),
            3);
  EXPECT_GE(s.at("certfleet_http_request_duration_seconds_sum{route=\"/v1/certificates/{id}\","
                 "method=\"GET\"}"),
            0);
  // No raw path, hence no id, in any request series.
  for (const auto& [series, value] : s) {
    if (series.rfind("certfleet_http_", 0) == 0) {
      EXPECT_EQ(series.find(id), std::string::npos) << series;
      EXPECT_EQ(series.find("/v1/no/such"), std::string::npos) << series;
    }
  }
}

}  // namespace
}  // namespace certfleet::api
