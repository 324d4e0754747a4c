// dns-01 end to end (issue #6, "Tests against Pebble and BIND9"): a real Pebble whose VA asks a
// real BIND9 (-dnsserver), without PEBBLE_VA_ALWAYS_VALID, so every authorization is decided by
// the TXT records the Rfc2136Solver writes. PEBBLE_AUTHZREUSE=0: no test rides on another's
// authorization. Missing pebble or named binaries fail these tests; they never skip.
#include <gtest/gtest.h>

#include <signal.h>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "acme/client/client.h"
#include "acme/client/dns01_solver.h"
#include "acme/client/order_flow.h"
#include "acme/client/pebble.h"
#include "dns/query.h"
#include "dns/testing_named.h"

namespace certfleet::acme {
namespace {

using std::chrono::milliseconds;

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Internal("cannot write " + path);
  return Ok();
}

// Pebble's VA (Go's resolver) does not chase a CNAME itself: it asks with RD set and expects the
// server to. testing_named runs with `recursion no`, under which named answers the CNAME alone,
// so this turns on recursion for loopback and adds a local root zone (every other name is
// NXDOMAIN, nothing goes out), the way test/e2e/acme_servers.py does, by rewriting the
// launcher's named.conf and reloading named (SIGHUP). Returns once the root zone answers.
Status EnableRecursion(const dns::testing::TestingNamed& named) {
  const std::string dir = named.dir();
  std::ifstream in(dir + "/named.conf");
  std::stringstream conf;
  conf << in.rdbuf();
  std::string text = conf.str();
  const std::string off = "recursion no;";
  size_t at = text.find(off);
  if (at == std::string::npos) return Internal("named.conf has no `recursion no;`");
  text.replace(at, off.size(), "recursion yes;\n  allow-recursion { 127.0.0.1; };");
  text += "zone \".\" {\n  type primary;\n  file \"" + dir + "/root.zone\";\n};\n";
  CF_TRY(WriteFile(dir + "/root.zone",
                   "$TTL 60\n@ IN SOA ns.root. hostmaster.root. 1 3600 600 86400 1\n"
                   "@ IN NS ns.root.\nns.root. IN A 127.0.0.1\n"));
  // named reads both as `bind` when the test runs as root (testing_named.h).
  std::error_code ec;
  std::filesystem::permissions(dir + "/root.zone", std::filesystem::perms(0644), ec);
  CF_TRY(WriteFile(dir + "/named.conf", text));
  std::ifstream pid_in(dir + "/named.pid");
  pid_t pid = 0;
  pid_in >> pid;
  if (pid <= 0) return Internal("no named.pid in " + dir);
  if (kill(pid, SIGHUP) != 0) return Internal("cannot signal named");
  // Before the reload named REFUSEs names outside its zones; after it the root zone answers.
  for (int i = 0; i < 250; ++i) {
    if (dns::QueryTxt(named.server(), "probe.invalid", milliseconds(200)).ok()) return Ok();
    std::this_thread::sleep_for(milliseconds(20));  // bounded: 250 polls
  }
  return Unavailable("named did not reload with recursion\n" + named.LogTail());
}

// Writes a value other than the one asked for (and cleans up that one).
class WrongValueSolver : public Dns01Solver {
 public:
  explicit WrongValueSolver(Dns01Solver& inner) : inner_(inner) {}
  Status Present(std::string_view fqdn, std::string_view) override {
    fqdn_ = std::string(fqdn);
    return inner_.Present(fqdn, kWrong);
  }
  Status CleanUp(std::string_view fqdn, std::string_view) override {
    return inner_.CleanUp(fqdn, kWrong);
  }
  static constexpr std::string_view kWrong = "not-the-key-authorization-digest";
  std::string fqdn_;

 private:
  Dns01Solver& inner_;
};

// Writes nothing at all.
class AbsentSolver : public Dns01Solver {
 public:
  Status Present(std::string_view, std::string_view) override { return Ok(); }
  Status CleanUp(std::string_view, std::string_view) override { return Ok(); }
};

class Dns01Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto named = dns::testing::TestingNamed::Start(
        {{"example.test", "_acme-challenge.app IN CNAME app.delegated.test.\n"},
         {"delegated.test", ""}});
    if (!named.ok()) {
      start_error_ = new std::string("named: " + named.error().ToString());
      return;
    }
    named_ = std::move(named).value().release();
    Status recursion = EnableRecursion(*named_);
    if (!recursion.ok()) {
      start_error_ = new std::string(recursion.error().ToString());
      return;
    }
    auto pebble = testing::Pebble::Start({{"PEBBLE_VA_NOSLEEP", "1"}, {"PEBBLE_AUTHZREUSE", "0"}},
                                         {}, {"-dnsserver", named_->server().ToString()});
    if (!pebble.ok()) {
      start_error_ = new std::string("pebble: " + pebble.error().ToString());
      return;
    }
    pebble_ = std::move(pebble).value().release();
  }
  static void TearDownTestSuite() {
    delete pebble_;
    pebble_ = nullptr;
    delete named_;
    named_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(pebble_, nullptr) << "could not start the servers: "
                                << (start_error_ ? *start_error_ : "");
    client_ = Connect();
    ASSERT_NE(client_, nullptr);
    Rfc2136SolverOptions opts;
    opts.update.server = named_->server();
    opts.propagation.timeout = milliseconds(5000);
    opts.propagation.poll = milliseconds(50);
    auto key = dns::ReadBindKeyFile(named_->key_file_sha256());
    ASSERT_TRUE(key.ok()) << key.error().ToString();
    auto solver = Rfc2136Solver::Create(std::move(opts), std::move(key).value());
    ASSERT_TRUE(solver.ok()) << solver.error().ToString();
    solver_ = std::move(solver).value();
  }

  std::unique_ptr<Client> Connect() {
    ClientOptions opts;
    opts.directory_url = pebble_->directory_url();
    opts.trust_pem = pebble_->listener_ca_pem();
    opts.request_timeout = milliseconds(10000);
    opts.poll_min_interval = milliseconds(20);
    opts.poll_max_interval = milliseconds(250);
    opts.poll_timeout = std::chrono::seconds(20);
    auto key = std::make_shared<const crypto::PrivateKey>(
        std::move(crypto::PrivateKey::Generate(crypto::KeyType::kP256)).value());
    auto client = Client::Create(
        std::move(opts), clock_, [](milliseconds d) { std::this_thread::sleep_for(d); }, key);
    EXPECT_TRUE(client.ok()) << client.error().ToString();
    if (!client.ok()) return nullptr;
    auto account = (*client)->NewAccount({.terms_of_service_agreed = true});
    EXPECT_TRUE(account.ok()) << account.error().ToString();
    return account.ok() ? std::move(client).value() : nullptr;
  }

  static crypto::PrivateKey CertKey() {
    return std::move(crypto::PrivateKey::Generate(crypto::KeyType::kP256)).value();
  }

  static void ExpectVerifies(const CertificateChain& chain, std::vector<std::string> names) {
    ASSERT_GE(chain.certificates.size(), 2u);
    const x509::Certificate& leaf = chain.certificates.front();
    std::vector<std::string> sans = leaf.dns_names();
    std::sort(sans.begin(), sans.end());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(sans, names);
    auto root_pem = pebble_->RootPem(0);
    ASSERT_TRUE(root_pem.ok()) << root_pem.error().ToString();
    auto root = x509::Certificate::FromPem(*root_pem);
    ASSERT_TRUE(root.ok()) << root.error().ToString();
    std::vector<x509::Certificate> intermediates(chain.certificates.begin() + 1,
                                                 chain.certificates.end());
    Status verified = x509::VerifyChain(
        leaf, intermediates, {*root}, std::chrono::system_clock::now(), x509::Purpose::kServerAuth);
    EXPECT_TRUE(verified.ok()) << verified.error().ToString();
  }

  static std::vector<std::string> Txt(const std::string& fqdn) {
    auto values = dns::QueryTxt(named_->server(), fqdn);
    EXPECT_TRUE(values.ok()) << values.error().ToString();
    return values.ok() ? *values : std::vector<std::string>{"<query failed>"};
  }

  static dns::testing::TestingNamed* named_;
  static testing::Pebble* pebble_;
  static std::string* start_error_;
  SystemClock clock_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<Rfc2136Solver> solver_;
};

dns::testing::TestingNamed* Dns01Test::named_ = nullptr;
testing::Pebble* Dns01Test::pebble_ = nullptr;
std::string* Dns01Test::start_error_ = nullptr;

TEST(ChallengeRecordNameTest, ApexWildcardAndInvalid) {
  EXPECT_EQ(ChallengeRecordName("Www.Example.TEST.").value(), "_acme-challenge.www.example.test");
  EXPECT_EQ(ChallengeRecordName("*.example.test").value(), "_acme-challenge.example.test");
  EXPECT_FALSE(ChallengeRecordName("").ok());
  EXPECT_FALSE(ChallengeRecordName("bad name.test").ok());
  EXPECT_FALSE(ChallengeRecordName("*.*.example.test").ok());
}

TEST(Rfc2136SolverTest, CreateAndPresentValidateInput) {
  auto key = dns::ParseBindKeyFile(
      "key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret "
      "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\";\n};\n");
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  Rfc2136SolverOptions bad_zone;
  bad_zone.update.server = {"127.0.0.1", 1};
  bad_zone.zone = "bad zone";
  EXPECT_EQ(Rfc2136Solver::Create(std::move(bad_zone), key->Clone()).error().code(),
            ErrorCode::kInvalidArgument);
  Rfc2136SolverOptions bad_wait;
  bad_wait.update.server = {"127.0.0.1", 1};
  bad_wait.propagation.timeout = std::chrono::hours(2);
  EXPECT_EQ(Rfc2136Solver::Create(std::move(bad_wait), key->Clone()).error().code(),
            ErrorCode::kInvalidArgument);
  Rfc2136SolverOptions good;
  good.update.server = {"127.0.0.1", 1};
  auto solver = Rfc2136Solver::Create(std::move(good), std::move(key).value());
  ASSERT_TRUE(solver.ok()) << solver.error().ToString();
  // Refused before anything is sent (port 1 would otherwise time out or be refused).
  EXPECT_EQ((*solver)->Present("www.example.test", "v").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ((*solver)->Present("_acme-challenge.example.test", "").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ((*solver)->CleanUp("_acme-challenge.example.test", "bad\nvalue").error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(Dns01Test, OneNameIssuedAndTxtRemoved) {
  std::vector<std::string> steps;
  IssueOptions options;
  options.on_step = [&](std::string_view step) { steps.emplace_back(step); };
  crypto::PrivateKey cert_key = CertKey();
  auto issued = IssueWithDns01(*client_, *solver_, {"one.example.test"}, cert_key, options);
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();
  ExpectVerifies(issued->chain, {"one.example.test"});
  auto leaf_key = issued->chain.certificates.front().public_key();
  ASSERT_TRUE(leaf_key.ok());
  EXPECT_EQ(leaf_key->spki_der(), cert_key.public_key().spki_der());
  EXPECT_TRUE(Txt("_acme-challenge.one.example.test").empty());
  EXPECT_NE(std::find(steps.begin(), steps.end(), "presenting dns-01 records"), steps.end());
  EXPECT_EQ(steps.back(), "downloading certificate");
}

TEST_F(Dns01Test, WildcardAndApexInOneOrder) {
  crypto::PrivateKey cert_key = CertKey();
  const std::vector<std::string> names = {"wild.example.test", "*.wild.example.test"};
  auto issued = IssueWithDns01(*client_, *solver_, names, cert_key);
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();
  ExpectVerifies(issued->chain, names);
  EXPECT_TRUE(Txt("_acme-challenge.wild.example.test").empty());
}

TEST_F(Dns01Test, CnameDelegationWritesIntoTheDelegatedZone) {
  // The zone file of example.test holds `_acme-challenge.app CNAME app.delegated.test.`.
  class Recording : public Dns01Solver {
   public:
    explicit Recording(Dns01Solver& inner) : inner_(inner) {}
    Status Present(std::string_view fqdn, std::string_view value) override {
      Status s = inner_.Present(fqdn, value);
      // Seen at the delegated name while the CA validates.
      auto values = dns::QueryTxt(named_->server(), "app.delegated.test");
      if (values.ok()) seen_ = *values;
      return s;
    }
    Status CleanUp(std::string_view fqdn, std::string_view value) override {
      return inner_.CleanUp(fqdn, value);
    }
    std::vector<std::string> seen_;

   private:
    Dns01Solver& inner_;
  } recording(*solver_);
  crypto::PrivateKey cert_key = CertKey();
  auto issued = IssueWithDns01(*client_, recording, {"app.example.test"}, cert_key);
  ASSERT_TRUE(issued.ok()) << issued.error().ToString();
  ExpectVerifies(issued->chain, {"app.example.test"});
  EXPECT_EQ(recording.seen_.size(), 1u);
  EXPECT_TRUE(Txt("app.delegated.test").empty());
}

TEST_F(Dns01Test, WrongValueFailsWithTheCasProblemAndIsCleanedUp) {
  WrongValueSolver wrong(*solver_);
  crypto::PrivateKey cert_key = CertKey();
  const auto start = std::chrono::steady_clock::now();
  auto issued = IssueWithDns01(*client_, wrong, {"wrong.example.test"}, cert_key);
  ASSERT_FALSE(issued.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  const std::string message = issued.error().ToString();
  RecordProperty("error", message);
  EXPECT_NE(message.find("validating dns-01 for wrong.example.test"), std::string::npos) << message;
  EXPECT_NE(message.find("the CA refused: unauthorized"), std::string::npos) << message;
  EXPECT_EQ(wrong.fqdn_, "_acme-challenge.wrong.example.test");
  EXPECT_TRUE(Txt("_acme-challenge.wrong.example.test").empty());
}

TEST_F(Dns01Test, NoTxtRecordFailsClearly) {
  AbsentSolver absent;
  crypto::PrivateKey cert_key = CertKey();
  const auto start = std::chrono::steady_clock::now();
  auto issued = IssueWithDns01(*client_, absent, {"absent.example.test"}, cert_key);
  ASSERT_FALSE(issued.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  const std::string message = issued.error().ToString();
  RecordProperty("error", message);
  EXPECT_NE(message.find("validating dns-01 for absent.example.test: the CA refused: "),
            std::string::npos)
      << message;
}

TEST_F(Dns01Test, PresentFailureIsReturnedAndCleanupErrorsDoNotMaskIt) {
  class Failing : public Dns01Solver {
   public:
    Status Present(std::string_view, std::string_view value) override {
      presented_ = std::string(value);
      return Unavailable("update server down");
    }
    Status CleanUp(std::string_view, std::string_view value) override {
      cleaned_ = std::string(value);
      return Unavailable("still down");
    }
    std::string presented_, cleaned_;
  } failing;
  crypto::PrivateKey cert_key = CertKey();
  auto issued = IssueWithDns01(*client_, failing, {"down.example.test"}, cert_key);
  ASSERT_FALSE(issued.ok());
  EXPECT_EQ(issued.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(issued.error().message(),
            "presenting dns-01 record for down.example.test: update server down");
  EXPECT_FALSE(failing.presented_.empty());
  EXPECT_EQ(failing.cleaned_, failing.presented_);
}

}  // namespace
}  // namespace certfleet::acme
