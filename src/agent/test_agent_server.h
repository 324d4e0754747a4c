// An in-process fake of the server side of the agent protocol (docs/agents.md "Agent protocol")
// on a real net::HttpsServer with mutual TLS, for the runtime tests. It enrolls with one token,
// issues client certificates from the test PKI's intermediate, serves queued jobs until a report
// with their seq arrives, and records what the agent sent. The real certfleetd replaces it in
// test/e2e. Test-only.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/test_bundles.h"
#include "base/time_util.h"
#include "net/https_server.h"
#include "net/problem.h"
#include "net/test_tls.h"
#include "x509/csr.h"

namespace certfleet::agent::testing {

class FakeAgentServer {
 public:
  using json = nlohmann::json;

  std::string token = "cfe_test-token-0123456789";
  std::string agent_id = "agt_01TESTAGENT";
  std::chrono::hours client_validity{24 * 30};
  // The agent's (fake) clock: client certificates end client_validity after its now, so a test
  // that moves the agent's clock forward gets certificates that are fresh from its view. They
  // always start an hour before the real now, for the real TLS handshakes.
  const Clock* agent_clock = nullptr;

  explicit FakeAgentServer(const Pki& pki)
      : pki_(pki),
        tls_ca_(net::testing::MakeCa("fake certfleetd CA")),
        tls_leaf_(net::testing::MakeLeaf(tls_ca_, "127.0.0.1", "IP:127.0.0.1", true)) {
    net::ServerOptions o;
    o.port = 0;
    o.cert_chain_pem = tls_leaf_.cert_pem;
    o.key_pem = SecretBytes::FromView(tls_leaf_.key_pem);
    o.client_ca_pem = pki_.root.cert.ToPem();
    auto s = net::HttpsServer::Create(std::move(o),
                                      [this](const net::HttpRequest& r) { return Handle(r); });
    CF_CHECK(s.ok());
    server_ = std::move(s).value();
    CF_CHECK(server_->Start().ok());
  }
  ~FakeAgentServer() { server_->Stop(); }

  std::string url() const { return "https://127.0.0.1:" + std::to_string(server_->port()); }
  // The agent's --ca file: verifies this server and is the root deployed bundles chain to.
  std::string ca_pem() const { return tls_ca_.cert_pem + pki_.root.cert.ToPem(); }

  // Queues a job; it is served on every poll until a report with its seq arrives.
  void AddJob(const json& job, const json& bundle) {
    std::lock_guard lock(mu_);
    jobs_.push_back(job);
    bundles_[job["id"].get<std::string>()] = bundle;
  }
  void SetSecret(const std::string& id, int status, const std::string& value) {
    std::lock_guard lock(mu_);
    secrets_[id] = {status, value};
  }
  // Queues an http-01 task ({"token", "key_authorization", "action"}); it is served on every
  // poll until an ack for its token arrives (issue #6).
  void AddChallenge(const json& task) {
    std::lock_guard lock(mu_);
    challenges_.push_back(task);
  }
  // When set, challenge acks are answered 503 and the task stays pending.
  void SetLoseAcks(bool lose) {
    std::lock_guard lock(mu_);
    lose_acks_ = lose;
  }
  // Every ack received, as {"token": ..., plus the body}.
  std::vector<json> acks() const {
    std::lock_guard lock(mu_);
    return acks_;
  }
  size_t pending_challenges() const {
    std::lock_guard lock(mu_);
    return challenges_.size();
  }
  // When set, reports are answered 503 and the job stays pending (a lost report).
  void SetLoseReports(bool lose) {
    std::lock_guard lock(mu_);
    lose_reports_ = lose;
  }
  // When set, reports are answered with this problem (both 409s: conflict is what certfleetd
  // says to a stale report) and the job stays pending.
  void SetReportRefusal(std::optional<ErrorCode> code) {
    std::lock_guard lock(mu_);
    report_refusal_ = code;
  }
  std::vector<json> reports() const {
    std::lock_guard lock(mu_);
    return reports_;
  }
  std::map<std::string, int> counts() const {
    std::lock_guard lock(mu_);
    return counts_;
  }
  size_t pending() const {
    std::lock_guard lock(mu_);
    return jobs_.size();
  }
  // The calls counted above, in the order they arrived.
  std::vector<std::string> order() const {
    std::lock_guard lock(mu_);
    return order_;
  }
  std::string last_client_serial() const {
    std::lock_guard lock(mu_);
    return last_client_serial_;
  }

 private:
  static net::HttpResponse Json(int status, const json& body) {
    net::HttpResponse r;
    r.status = status;
    r.headers["Content-Type"] = "application/json";
    r.body = body.dump();
    return r;
  }
  // The problem documents certfleetd sends (net/problem.h), so the client decodes the real form.
  static net::HttpResponse Problem(ErrorCode code, const std::string& detail, int status = 0) {
    return net::EncodeProblem(code, detail, status);
  }

  x509::Certificate IssueClientCert(const crypto::PublicKey& key) {
    x509::TbsSpec spec;
    spec.serial = x509::testing::Serial(1000 + next_serial_++);
    spec.subject_common_name = "agent.certfleet.test";
    spec.dns_names = {"agent.certfleet.test"};
    const TimePoint now =
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    spec.not_before = now - std::chrono::hours(1);
    const TimePoint issued = agent_clock ? std::max<TimePoint>(agent_clock->Now(), now) : now;
    spec.not_after = std::chrono::time_point_cast<std::chrono::seconds>(issued) + client_validity;
    spec.subject_public_key_der = key.spki_der();
    spec.key_usage.digital_signature = true;
    spec.extended_key_usage = {x509::ExtendedKeyUsage::kClientAuth};
    x509::Certificate c = x509::testing::Issue(pki_.inter, std::move(spec));
    known_serials_.insert(c.serial_hex());
    return c;
  }

  net::HttpResponse IssueFromCsr(const json& body, int status) {
    if (!body.contains("csr") || !body["csr"].is_string())
      return Problem(ErrorCode::kInvalidArgument, "csr missing");
    auto csr = x509::Csr::FromPem(body["csr"].get<std::string>());
    if (!csr.ok() || !csr->VerifySignature().ok())
      return Problem(ErrorCode::kInvalidArgument, "bad csr");
    x509::Certificate c = IssueClientCert(csr->public_key());
    return Json(status, {{"agent_id", agent_id},
                         {"account", "acc_01TESTACCOUNT"},
                         {"tags", {{"env", "dev"}}},
                         {"certificate", c.ToPem()},
                         {"chain", pki_.inter.cert.ToPem()},
                         {"not_after", FormatRfc3339(c.not_after())}});
  }

  void Count(const std::string& what) {  // mu_ held
    ++counts_[what];
    order_.push_back(what);
  }

  net::HttpResponse Handle(const net::HttpRequest& req) {
    std::lock_guard lock(mu_);
    const std::string path(req.path());
    json body;
    if (!req.body.empty()) {
      body = json::parse(req.body, nullptr, false);
      if (body.is_discarded()) return Problem(ErrorCode::kMalformed, "bad json");
    }
    if (req.method == "POST" && path == "/v1/agent/enroll") {
      Count("enroll");
      if (!body.contains("token") || body["token"] != token)
        return Problem(ErrorCode::kUnauthorized, "bad token");
      if (token_used_) return Problem(ErrorCode::kConflict, "enrollment token already used");
      token_used_ = true;
      return IssueFromCsr(body, 201);
    }
    // Everything else: mutual TLS, the agent known by its certificate's serial.
    if (!req.client_cert_der)
      return Problem(ErrorCode::kUnauthorized, "client certificate required");
    auto cert = x509::Certificate::FromDer(*req.client_cert_der);
    if (!cert.ok() || !known_serials_.count(cert->serial_hex())) {
      return Problem(ErrorCode::kUnauthorized, "unknown agent");
    }
    last_client_serial_ = cert->serial_hex();
    if (req.method == "GET" && path == "/v1/agent/jobs") {
      Count("poll");
      json answer = {{"jobs", jobs_}};
      if (!challenges_.empty()) answer["challenges"] = challenges_;
      return Json(200, answer);
    }
    if (req.method == "POST" && path == "/v1/agent/renew") {
      Count("renew");
      return IssueFromCsr(body, 200);
    }
    const std::string jobs_prefix = "/v1/agent/jobs/";
    if (path.rfind(jobs_prefix, 0) == 0) {
      std::string rest = path.substr(jobs_prefix.size());
      const size_t slash = rest.find('/');
      if (slash == std::string::npos) return Problem(ErrorCode::kNotFound, "no route");
      const std::string id = rest.substr(0, slash);
      const std::string action = rest.substr(slash + 1);
      if (req.method == "GET" && action == "bundle") {
        Count("bundle");
        auto it = bundles_.find(id);
        if (it == bundles_.end()) return Problem(ErrorCode::kNotFound, "no such target");
        return Json(200, it->second);
      }
      if (req.method == "POST" && action == "report") {
        Count("report");
        json rec = body;
        rec["job_id"] = id;
        reports_.push_back(rec);
        if (lose_reports_) return Problem(ErrorCode::kUnavailable, "try again");
        if (report_refusal_) return Problem(*report_refusal_, "report refused");
        for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
          if ((*it)["id"] == id && (*it)["seq"] == body["seq"]) {
            jobs_.erase(it);
            return Json(200, json::object());
          }
        }
        return Problem(ErrorCode::kConflict, "stale report");
      }
    }
    const std::string challenges_prefix = "/v1/agent/challenges/";
    if (req.method == "POST" && path.rfind(challenges_prefix, 0) == 0) {
      Count("ack");
      const std::string tok = path.substr(challenges_prefix.size());
      json rec = body;
      rec["token"] = tok;
      acks_.push_back(rec);
      if (lose_acks_) return Problem(ErrorCode::kUnavailable, "try again");
      for (auto it = challenges_.begin(); it != challenges_.end(); ++it) {
        if ((*it)["token"] == tok) {
          challenges_.erase(it);
          return Json(200, json::object());
        }
      }
      return Problem(ErrorCode::kNotFound, "no such challenge");
    }
    const std::string secrets_prefix = "/v1/agent/secrets/";
    if (req.method == "GET" && path.rfind(secrets_prefix, 0) == 0) {
      Count("secret");
      auto it = secrets_.find(path.substr(secrets_prefix.size()));
      if (it == secrets_.end()) return Problem(ErrorCode::kNotFound, "no such secret");
      if (it->second.first != 200)
        return Problem(net::CodeForHttpStatus(it->second.first), "refused", it->second.first);
      return Json(200, {{"value", it->second.second}});
    }
    return Problem(ErrorCode::kNotFound, "no route");
  }

  const Pki& pki_;
  net::testing::TestCert tls_ca_;
  net::testing::TestCert tls_leaf_;
  std::unique_ptr<net::HttpsServer> server_;

  mutable std::mutex mu_;
  bool token_used_ = false;
  bool lose_reports_ = false;
  std::optional<ErrorCode> report_refusal_;
  bool lose_acks_ = false;
  std::vector<json> challenges_;
  std::vector<json> acks_;
  uint64_t next_serial_ = 0;
  std::set<std::string> known_serials_;
  std::vector<json> jobs_;
  std::map<std::string, json> bundles_;
  std::map<std::string, std::pair<int, std::string>> secrets_;
  std::vector<json> reports_;
  std::map<std::string, int> counts_;
  std::vector<std::string> order_;
  std::string last_client_serial_;
};

}  // namespace certfleet::agent::testing
