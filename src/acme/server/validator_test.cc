// NewNetValidator (validator.h) against real servers on loopback, each on a free port: a tiny
// in-test HTTP server (and net::HttpsServer for a redirect to https) for http-01, a real BIND9
// started by dns::testing::TestingNamed for dns-01 and CAA, and net::testing::TlsAlpnServer with
// certificates from x509's test builder for tls-alpn-01. Names that must reach the test servers
// are "localhost" (resolved through /etc/hosts to 127.0.0.1) and 127.0.0.1 itself; the validator
// reaches them only because the tests allow 127.0.0.0/8, and one test per method shows that it
// does not without. Missing named fails the DNS tests; they never skip.
#include "acme/server/validator.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/encoding.h"
#include "crypto/hash.h"
#include "dns/testing_named.h"
#include "net/address_policy.h"
#include "net/https_server.h"
#include "net/test_tls.h"
#include "x509/test_util.h"

namespace certfleet::acme::server {
namespace {

using namespace std::chrono_literals;

constexpr char kToken[] = "tok_EN-123";
constexpr char kKeyAuthorization[] = "tok_EN-123.acct-thumbprint";
constexpr char kChallengePath[] = "/.well-known/acme-challenge/tok_EN-123";

ValidationRequest Request(std::string identifier, std::string type = "dns") {
  ValidationRequest r;
  r.identifier_type = std::move(type);
  r.identifier = std::move(identifier);
  r.token = kToken;
  r.key_authorization = kKeyAuthorization;
  return r;
}

std::vector<net::Cidr> Loopback() {
  Result<net::Cidr> v4 = net::Cidr::Parse("127.0.0.0/8");
  Result<net::Cidr> v6 = net::Cidr::Parse("::1/128");
  if (!v4.ok() || !v6.ok()) throw std::runtime_error("cannot parse loopback networks");
  return {*v4, *v6};
}

// --- a tiny HTTP/1.1 server -------------------------------------------------------------------

std::string Http(int status, const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
         extra_headers + "\r\n" + body;
}

// Plain HTTP on 127.0.0.1 and a free port, one connection at a time on its own thread: reads a
// request head, hands its target and Host to `respond` and writes back the raw answer it gives.
class TinyHttpServer {
 public:
  using Respond = std::function<std::string(const std::string& target, const std::string& host)>;

  explicit TinyHttpServer(Respond respond) : respond_(std::move(respond)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 16) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TinyHttpServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }
  std::vector<std::string> hosts() const {
    std::lock_guard lock(mu_);
    return hosts_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;  // bounded wait, so that stop_ is seen
      int conn = accept(fd_, nullptr, nullptr);
      if (conn < 0) continue;
      timeval tv{2, 0};
      setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
        ssize_t n = read(conn, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      const size_t sp1 = head.find(' ');
      const size_t sp2 = head.find(' ', sp1 + 1);
      if (sp1 != std::string::npos && sp2 != std::string::npos) {
        ++requests_;
        const std::string target = head.substr(sp1 + 1, sp2 - sp1 - 1);
        std::string host;
        if (size_t at = head.find("\r\nHost: "); at != std::string::npos) {
          host = head.substr(at + 8, head.find("\r\n", at + 8) - at - 8);
        }
        {
          std::lock_guard lock(mu_);
          hosts_.push_back(host);
        }
        const std::string answer = respond_(target, host);
        (void)!write(conn, answer.data(), answer.size());
      }
      close(conn);
    }
  }

  Respond respond_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  std::vector<std::string> hosts_;  // guarded by mu_
  std::thread thread_;
};

// --- http-01 ------------------------------------------------------------------------------------

class Http01Test : public ::testing::Test {
 protected:
  std::unique_ptr<Validator> For(uint16_t port, std::vector<net::Cidr> allow = Loopback(),
                                 std::chrono::milliseconds timeout = 5000ms, int https_port = 443) {
    ValidatorOptions options;
    options.http01_port = port;
    options.tls_alpn01_port = https_port;
    options.allow_private = std::move(allow);
    options.timeout = timeout;
    return NewNetValidator(std::move(options));
  }
  static std::string Serving(const std::string& target, const std::string& body) {
    return target == kChallengePath ? Http(200, body) : Http(404, "not found");
  }
};

TEST_F(Http01Test, AcceptsTheKeyAuthorization) {
  TinyHttpServer server([](const std::string& target, const std::string&) {
    return Serving(target, std::string(kKeyAuthorization) + "\r\n");  // whitespace is ignored
  });
  auto validator = For(server.port());
  std::optional<ValidationFailure> f = validator->ValidateHttp01(Request("localhost"));
  EXPECT_EQ(f, std::nullopt) << f->type << ": " << f->detail;
  f = validator->ValidateHttp01(Request("127.0.0.1", "ip"));
  EXPECT_EQ(f, std::nullopt) << f->type << ": " << f->detail;
  const std::string port = std::to_string(server.port());
  EXPECT_EQ(server.hosts(), (std::vector<std::string>{"localhost:" + port, "127.0.0.1:" + port}));
}

TEST_F(Http01Test, WrongBodyAndWrongStatusAreIncorrectResponses) {
  TinyHttpServer wrong([](const std::string& target, const std::string&) {
    return Serving(target, "tok_EN-123.someone-elses-thumbprint");
  });
  std::optional<ValidationFailure> f = For(wrong.port())->ValidateHttp01(Request("localhost"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "incorrectResponse");
  EXPECT_NE(f->detail.find("got \"tok_EN-123.someone-elses-thumbprint\""), std::string::npos)
      << f->detail;

  TinyHttpServer missing([](const std::string&, const std::string&) { return Http(404, "no"); });
  f = For(missing.port())->ValidateHttp01(Request("localhost"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "incorrectResponse");
  EXPECT_NE(f->detail.find("answered 404, not 200"), std::string::npos) << f->detail;
  EXPECT_NE(f->detail.find("http://localhost:" + std::to_string(missing.port()) + kChallengePath),
            std::string::npos)
      << f->detail;
}

TEST_F(Http01Test, BodiesAreCappedAt8KiB) {
  TinyHttpServer big([](const std::string&, const std::string&) {
    return Http(200, std::string(kKeyAuthorization) + std::string(20000, ' '));
  });
  std::optional<ValidationFailure> f = For(big.port())->ValidateHttp01(Request("localhost"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "incorrectResponse");
  EXPECT_NE(f->detail.find("larger than 8192 bytes"), std::string::npos) << f->detail;
}

TEST_F(Http01Test, RedirectsOnTheSameHostAreFollowed) {
  uint16_t port = 0;
  TinyHttpServer server([&port](const std::string& target, const std::string&) {
    if (target == kChallengePath) return Http(302, "", "Location: /step-1\r\n");
    if (target == "/step-1") {
      return Http(301, "", "Location: http://LOCALHOST:" + std::to_string(port) + "/step-2\r\n");
    }
    if (target == "/step-2") return Http(307, "", "Location: final?x=1\r\n");
    if (target == "/final?x=1") return Http(200, kKeyAuthorization);
    return Http(404, "");
  });
  port = server.port();
  std::optional<ValidationFailure> f = For(server.port())->ValidateHttp01(Request("localhost"));
  EXPECT_EQ(f, std::nullopt) << f->type << ": " << f->detail;
  EXPECT_EQ(server.requests(), 4);
}

TEST_F(Http01Test, RedirectToHttpsOnTheSameHostIsFollowedWithoutVerification) {
  // An HTTPS server whose certificate nobody trusts, on the port the validator takes for https.
  net::testing::TestCert ca = net::testing::MakeCa("untrusted");
  net::testing::TestCert leaf = net::testing::MakeLeaf(ca, "x", "DNS:elsewhere.test", true);
  net::ServerOptions options;
  options.port = 0;
  options.cert_chain_pem = leaf.cert_pem;
  options.key_pem = SecretBytes::FromView(leaf.key_pem);
  options.worker_threads = 1;
  auto https = net::HttpsServer::Create(std::move(options), [](const net::HttpRequest& r) {
    net::HttpResponse out;
    out.body = r.target == "/secure" ? kKeyAuthorization : "";
    out.status = r.target == "/secure" ? 200 : 404;
    return out;
  });
  ASSERT_TRUE(https.ok()) << https.error().ToString();
  ASSERT_TRUE((*https)->Start().ok());
  const std::string https_port = std::to_string((*https)->port());
  TinyHttpServer server([&https_port](const std::string&, const std::string&) {
    return Http(301, "", "Location: https://localhost:" + https_port + "/secure\r\n");
  });
  std::optional<ValidationFailure> f = For(server.port(), Loopback(), 5000ms, (*https)->port())
                                           ->ValidateHttp01(Request("localhost"));
  EXPECT_EQ(f, std::nullopt) << f->type << ": " << f->detail;

  // On any other port, https is not followed.
  f = For(server.port())->ValidateHttp01(Request("localhost"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "connection");
}

TEST_F(Http01Test, RedirectsToOtherHostsOrPortsAreRefused) {
  TinyHttpServer other(
      [](const std::string&, const std::string&) { return Http(200, kKeyAuthorization); });
  const std::string other_port = std::to_string(other.port());
  std::string location;
  TinyHttpServer server([&location](const std::string& target, const std::string&) {
    if (target == kChallengePath) return Http(302, "", "Location: " + location + "\r\n");
    return Http(200, kKeyAuthorization);
  });
  const std::string port = std::to_string(server.port());
  auto validator = For(server.port());
  for (const std::string& target : std::vector<std::string>{
           "http://127.0.0.1:" + port + "/x",        // the same server under another name
           "http://runsc:" + port + "/x",            // another name for the same address
           "http://localhost:" + other_port + "/x",  // the same name, another port
           "http://localhost/x",                     // port 80
           "https://localhost:" + port + "/x",       // https on the http port
       }) {
    location = target;
    std::optional<ValidationFailure> f = validator->ValidateHttp01(Request("localhost"));
    ASSERT_NE(f, std::nullopt) << target;
    EXPECT_EQ(f->type, "connection") << target;
    EXPECT_NE(f->detail.find("redirects are followed only to http://localhost:" + port +
                             " or https://localhost:443"),
              std::string::npos)
        << f->detail;
  }
  EXPECT_EQ(server.requests(), 5);  // each redirect seen once, none followed
  EXPECT_EQ(other.requests(), 0);

  // An IP identifier: only that address.
  location = "http://localhost:" + port + "/x";
  std::optional<ValidationFailure> f = validator->ValidateHttp01(Request("127.0.0.1", "ip"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "connection");
  location = "http://127.0.0.1:" + port + "/x";
  f = validator->ValidateHttp01(Request("127.0.0.1", "ip"));
  EXPECT_EQ(f, std::nullopt) << f->type << ": " << f->detail;

  // A Location that is no http(s) URL, and none at all.
  location = "ftp://localhost/x";
  f = validator->ValidateHttp01(Request("localhost"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "incorrectResponse");
  TinyHttpServer bare([](const std::string&, const std::string&) { return Http(302, ""); });
  f = For(bare.port())->ValidateHttp01(Request("localhost"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "incorrectResponse");
  EXPECT_NE(f->detail.find("without a Location"), std::string::npos) << f->detail;
}

TEST_F(Http01Test, AtMostTenRedirects) {
  TinyHttpServer loop([](const std::string& target, const std::string&) {
    const int n = target == kChallengePath ? 0 : std::stoi(target.substr(6));
    return Http(302, "", "Location: /loop/" + std::to_string(n + 1) + "\r\n");
  });
  std::optional<ValidationFailure> f = For(loop.port())->ValidateHttp01(Request("localhost"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "incorrectResponse");
  EXPECT_NE(f->detail.find("more than 10 redirects"), std::string::npos) << f->detail;
  EXPECT_EQ(loop.requests(), 11);

  // Ten are fine.
  TinyHttpServer ten([](const std::string& target, const std::string&) {
    const int n = target == kChallengePath ? 0 : std::stoi(target.substr(6));
    if (n == 10) return Http(200, kKeyAuthorization);
    return Http(302, "", "Location: /loop/" + std::to_string(n + 1) + "\r\n");
  });
  f = For(ten.port())->ValidateHttp01(Request("localhost"));
  EXPECT_EQ(f, std::nullopt) << f->type << ": " << f->detail;
}

TEST_F(Http01Test, AddressesOutsideAllowPrivateAreRefusedWithoutNamingThem) {
  TinyHttpServer server([](const std::string& target, const std::string&) {
    return Serving(target, kKeyAuthorization);
  });
  Result<net::Cidr> elsewhere = net::Cidr::Parse("10.0.0.0/8");
  ASSERT_TRUE(elsewhere.ok());
  for (std::vector<net::Cidr> allow :
       {std::vector<net::Cidr>{}, std::vector<net::Cidr>{*elsewhere}}) {
    auto validator = For(server.port(), allow);
    std::optional<ValidationFailure> f = validator->ValidateHttp01(Request("localhost"));
    ASSERT_NE(f, std::nullopt);
    EXPECT_EQ(f->type, "connection");
    EXPECT_NE(f->detail.find("does not connect to localhost"), std::string::npos) << f->detail;
    EXPECT_EQ(f->detail.find("127.0.0.1"), std::string::npos) << f->detail;
    // The identifier itself is the address here: refused all the same.
    f = validator->ValidateHttp01(Request("127.0.0.1", "ip"));
    ASSERT_NE(f, std::nullopt);
    EXPECT_EQ(f->type, "connection");
    EXPECT_NE(f->detail.find("does not connect to 127.0.0.1"), std::string::npos) << f->detail;
  }
  EXPECT_EQ(server.requests(), 0);
}

TEST_F(Http01Test, SilentAndClosedPortsAreConnectionFailures) {
  net::testing::SilentListener silent;
  const auto start = std::chrono::steady_clock::now();
  std::optional<ValidationFailure> f =
      For(silent.port(), Loopback(), 300ms)->ValidateHttp01(Request("localhost"));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "connection");
  EXPECT_NE(f->detail.find("timed out after 300 ms"), std::string::npos) << f->detail;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 3s);

  f = For(net::testing::UnusedPort())->ValidateHttp01(Request("localhost"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "connection");
  EXPECT_EQ(f->detail.find("timed out"), std::string::npos) << f->detail;
}

TEST_F(Http01Test, UnresolvableNamesAreDnsFailures) {
  // RFC 6761 section 6.4: ".invalid" never resolves. This asks the system resolver, bounded by
  // the validator's timeout (a resolver that does not answer in time is a DNS failure as well).
  auto validator = For(80, Loopback(), 2000ms);
  std::optional<ValidationFailure> f = validator->ValidateHttp01(Request("nonexistent.invalid"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "dns") << f->detail;
  EXPECT_NE(f->detail.find("resolving nonexistent.invalid"), std::string::npos) << f->detail;
  f = validator->ValidateTlsAlpn01(Request("nonexistent.invalid"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "dns") << f->detail;
}

TEST_F(Http01Test, MalformedRequestsNeverConnect) {
  TinyHttpServer server([](const std::string&, const std::string&) { return Http(200, ""); });
  auto validator = For(server.port());
  ValidationRequest r = Request("localhost");
  r.token = "../../admin";
  EXPECT_EQ(validator->ValidateHttp01(r)->type, "malformed");
  EXPECT_EQ(validator->ValidateHttp01(Request("local host"))->type, "malformed");
  EXPECT_EQ(validator->ValidateHttp01(Request("*.localhost"))->type, "malformed");
  EXPECT_EQ(validator->ValidateHttp01(Request("localhost", "ip"))->type, "malformed");
  EXPECT_EQ(server.requests(), 0);
}

// --- dns-01 and CAA against BIND9 -------------------------------------------------------------

std::string Digest() { return Base64UrlEncode(crypto::Sha256(kKeyAuthorization)); }

class DnsValidationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string d = "\"" + Digest() + "\"";
    Result<std::unique_ptr<dns::testing::TestingNamed>> named = dns::testing::TestingNamed::Start({
        {"example.test",
         // dns-01
         "_acme-challenge.good IN TXT " + d +
             "\n"
             "_acme-challenge.multi IN TXT \"unrelated\"\n_acme-challenge.multi IN TXT " +
             d +
             "\n"
             "_acme-challenge.wrong IN TXT \"not-the-digest\"\n"
             "_acme-challenge.cname IN CNAME target.delegated.test.\n"
             "_acme-challenge.nodata IN HINFO \"cpu\" \"os\"\n"
             "_acme-challenge.loop IN CNAME loop.delegated.test.\n"
             // CAA
             "caa-ok IN CAA 0 issue \"certfleet.example\"\n"
             "caa-other IN CAA 0 issue \"other-ca.example\"\n"
             "caa-params IN CAA 0 issue \"certfleet.example; accounturi=https://x/acct/1\"\n"
             "caa-case IN CAA 0 ISSUE \"CertFleet.Example\"\n"
             "caa-nobody IN CAA 0 issue \";\"\n"
             "caa-wild IN CAA 0 issue \"certfleet.example\"\n"
             "caa-wild IN CAA 0 issuewild \"other-ca.example\"\n"
             "caa-wildok IN CAA 0 issue \"other-ca.example\"\n"
             "caa-wildok IN CAA 0 issuewild \"certfleet.example\"\n"
             "caa-crit IN CAA 0 issue \"certfleet.example\"\n"
             "caa-crit IN CAA 128 tbs \"unknown\"\n"
             "caa-noncrit IN CAA 0 issue \"certfleet.example\"\n"
             "caa-noncrit IN CAA 0 tbs \"unknown\"\n"
             "caa-iodef IN CAA 0 iodef \"mailto:security@example.test\"\n"
             "caa-cname IN CNAME caa-other.example.test.\n"
             "caa-xcname IN CNAME caa.delegated.test.\n"
             // http-01 through the configured resolver
             "web IN A 127.0.0.1\n"
             "webalias IN CNAME web.example.test.\n"
             "noaddress IN TXT \"no A, no AAAA\"\n"},
        {"delegated.test", "target IN TXT " + d +
                               "\nloop IN CNAME _acme-challenge.loop.example.test.\n"
                               "caa IN CAA 0 issue \"certfleet.example\"\n"},
        {"strict.test", "@ IN CAA 0 issue \"other-ca.example\"\n"},
        // The TLD, so that climbs end with an answer rather than REFUSED.
        {"test", ""},
    });
    if (named.ok()) {
      named_ = std::move(*named).release();
    } else {
      start_error_ = new std::string(named.error().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete named_;
    named_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(named_, nullptr) << "cannot start BIND9 named: "
                               << (start_error_ != nullptr ? *start_error_ : "");
  }
  static std::unique_ptr<Validator> Make(std::string resolver = "",
                                         std::vector<std::string> issuers = {"certfleet.example"}) {
    ValidatorOptions options;
    options.resolver = resolver.empty() ? named_->server().ToString() : resolver;
    options.caa_issuer_domains = std::move(issuers);
    options.timeout = 2000ms;
    return NewNetValidator(std::move(options));
  }

  static dns::testing::TestingNamed* named_;
  static std::string* start_error_;
};
dns::testing::TestingNamed* DnsValidationTest::named_ = nullptr;
std::string* DnsValidationTest::start_error_ = nullptr;

// With a resolver configured (--acme-resolver), http-01 connects where that resolver says the
// name is, not where the system's would: the names below exist only in the test's BIND9.
TEST_F(DnsValidationTest, Http01ResolvesNamesThroughTheConfiguredResolver) {
  TinyHttpServer server([](const std::string& target, const std::string&) {
    return target == kChallengePath ? Http(200, kKeyAuthorization) : Http(404, "not found");
  });
  ValidatorOptions options;
  options.resolver = named_->server().ToString();
  options.http01_port = server.port();
  options.allow_private = Loopback();
  options.timeout = 2000ms;
  auto validator = NewNetValidator(std::move(options));
  for (const char* name : {"web.example.test", "webalias.example.test"}) {
    std::optional<ValidationFailure> f = validator->ValidateHttp01(Request(name));
    EXPECT_EQ(f, std::nullopt) << name << ": " << f->type << ": " << f->detail;
  }
  const std::string port = std::to_string(server.port());
  EXPECT_EQ(server.hosts(), (std::vector<std::string>{"web.example.test:" + port,
                                                      "webalias.example.test:" + port}));
  for (const char* name : {"noaddress.example.test", "nosuch.example.test"}) {
    std::optional<ValidationFailure> f = validator->ValidateHttp01(Request(name));
    ASSERT_TRUE(f.has_value()) << name;
    EXPECT_EQ(f->type, "dns") << f->detail;
    EXPECT_EQ(f->detail.find(named_->server().ToString()), std::string::npos) << f->detail;
  }
  EXPECT_EQ(server.requests(), 2);
  // Without permission for loopback, the resolved address is refused and not named.
  ValidatorOptions closed;
  closed.resolver = named_->server().ToString();
  closed.http01_port = server.port();
  closed.timeout = 2000ms;
  std::optional<ValidationFailure> f =
      NewNetValidator(std::move(closed))->ValidateHttp01(Request("web.example.test"));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->type, "connection");
  EXPECT_EQ(f->detail.find("127.0.0.1"), std::string::npos) << f->detail;
  EXPECT_EQ(server.requests(), 2);
}

TEST_F(DnsValidationTest, Dns01FindsTheDigestDirectlyAmongOthersAndThroughCnames) {
  auto validator = Make();
  for (const char* name : {"good.example.test", "multi.example.test", "CNAME.example.test"}) {
    std::optional<ValidationFailure> f = validator->ValidateDns01(Request(name));
    EXPECT_EQ(f, std::nullopt) << name << ": " << f->type << ": " << f->detail;
  }
}

TEST_F(DnsValidationTest, Dns01Failures) {
  auto validator = Make();
  std::optional<ValidationFailure> f = validator->ValidateDns01(Request("wrong.example.test"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "incorrectResponse");
  EXPECT_NE(f->detail.find("found \"not-the-digest\""), std::string::npos) << f->detail;

  f = validator->ValidateDns01(Request("absent.example.test"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "dns");
  EXPECT_NE(f->detail.find("_acme-challenge.absent.example.test: the name does not exist"),
            std::string::npos)
      << f->detail;

  f = validator->ValidateDns01(Request("nodata.example.test"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "dns");
  EXPECT_NE(f->detail.find("no TXT record at _acme-challenge.nodata.example.test"),
            std::string::npos)
      << f->detail;

  f = validator->ValidateDns01(Request("loop.example.test"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "dns");
  EXPECT_NE(f->detail.find("CNAME loop"), std::string::npos) << f->detail;

  // A name the server is not authoritative for: REFUSED. The resolver is not named.
  f = validator->ValidateDns01(Request("app.elsewhere.invalid"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "dns");
  EXPECT_NE(f->detail.find("refused"), std::string::npos) << f->detail;
  EXPECT_EQ(f->detail.find(named_->server().ToString()), std::string::npos) << f->detail;

  EXPECT_EQ(validator->ValidateDns01(Request("127.0.0.1", "ip"))->type, "malformed");
}

TEST_F(DnsValidationTest, UnreachableOrUnusableResolverIsADnsFailure) {
  auto dead = Make("127.0.0.1:" + std::to_string(net::testing::UnusedPort()));
  std::optional<ValidationFailure> f = dead->ValidateDns01(Request("good.example.test"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "dns");
  f = dead->CheckCaa("caa-ok.example.test", false);
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "dns");
  EXPECT_NE(f->detail.find("forbids issuance without an answer"), std::string::npos) << f->detail;

  auto unusable = Make("not a resolver");
  f = unusable->ValidateDns01(Request("good.example.test"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "dns");
}

TEST_F(DnsValidationTest, CaaAllowsWhatNamesThisCa) {
  auto validator = Make();
  for (const char* name :
       {"caa-ok.example.test", "deep.sub.caa-ok.example.test", "caa-params.example.test",
        "caa-case.example.test", "caa-noncrit.example.test", "caa-iodef.example.test",
        "nocaa.example.test", "caa-xcname.example.test", "example.test"}) {
    std::optional<ValidationFailure> f = validator->CheckCaa(name, false);
    EXPECT_EQ(f, std::nullopt) << name << ": " << f->type << ": " << f->detail;
  }
  // Another of the CA's domains.
  auto second = Make("", {"ca-one.example", "other-ca.example"});
  EXPECT_EQ(second->CheckCaa("caa-other.example.test", false), std::nullopt);
}

TEST_F(DnsValidationTest, CaaForbidsWhatDoesNotNameThisCa) {
  auto validator = Make();
  struct Case {
    const char* name;
    bool wildcard;
    const char* detail;
  };
  const Case cases[] = {
      {"caa-other.example.test", false, "CAA records at caa-other.example.test forbid"},
      {"caa-nobody.example.test", false, "no \"issue\" property names \"certfleet.example\""},
      {"caa-crit.example.test", false, "critical CAA property with the unknown tag \"tbs\""},
      {"caa-cname.example.test", false, "caa-cname.example.test (CNAME to caa-other.example.test)"},
      // The climb: the apex's set decides for names below it.
      {"deep.sub.strict.test", false,
       "CAA records at strict.test forbid issuing for "
       "deep.sub.strict.test"},
      {"caa-wild.example.test", true, "no \"issuewild\" property"},
      {"caa-wildok.example.test", false, "no \"issue\" property"},
  };
  for (const Case& c : cases) {
    std::optional<ValidationFailure> f = validator->CheckCaa(c.name, c.wildcard);
    ASSERT_NE(f, std::nullopt) << c.name;
    EXPECT_EQ(f->type, "caa") << c.name << ": " << f->detail;
    EXPECT_NE(f->detail.find(c.detail), std::string::npos) << c.name << ": " << f->detail;
  }
  // issue and issuewild each decide for their own kind of certificate.
  EXPECT_EQ(validator->CheckCaa("caa-wild.example.test", false), std::nullopt);
  EXPECT_EQ(validator->CheckCaa("caa-wildok.example.test", true), std::nullopt);
  EXPECT_EQ(validator->CheckCaa("*.caa-wildok.example.test", false), std::nullopt);
  EXPECT_NE(validator->CheckCaa("*.caa-wild.example.test", false), std::nullopt);
}

TEST_F(DnsValidationTest, CaaLookupFailuresAndUncheckedCases) {
  auto validator = Make();
  std::optional<ValidationFailure> f = validator->CheckCaa("app.elsewhere.invalid", false);
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "dns");
  // No issuer domains configured: CAA is not checked. IP addresses have no CAA.
  auto unchecked = Make("", {});
  EXPECT_EQ(unchecked->CheckCaa("caa-other.example.test", false), std::nullopt);
  EXPECT_EQ(validator->CheckCaa("127.0.0.1", false), std::nullopt);
}

// --- tls-alpn-01 --------------------------------------------------------------------------------

class TlsAlpn01Test : public ::testing::Test {
 protected:
  // A responder presenting a self-signed certificate built from `spec`, selecting `alpn`.
  static std::unique_ptr<net::testing::TlsAlpnServer> Serve(
      const x509::testing::AcmeTlsAlpnCertSpec& spec, const std::string& alpn = "acme-tls/1") {
    static auto key = x509::testing::NewKey(crypto::KeyType::kP256);
    x509::Certificate cert = x509::testing::MakeAcmeTlsAlpnCert(*key, spec);
    return std::make_unique<net::testing::TlsAlpnServer>(
        cert.ToPem(), std::string(key->ToPkcs8Pem().view()), alpn);
  }
  static x509::testing::AcmeTlsAlpnCertSpec Good(const std::string& name = "localhost") {
    x509::testing::AcmeTlsAlpnCertSpec spec;
    spec.dns_names = {name};
    spec.acme_identifier = crypto::Sha256(kKeyAuthorization);
    return spec;
  }
  static std::unique_ptr<Validator> For(uint16_t port, std::vector<net::Cidr> allow = Loopback(),
                                        std::chrono::milliseconds timeout = 5000ms) {
    ValidatorOptions options;
    options.tls_alpn01_port = port;
    options.allow_private = std::move(allow);
    options.timeout = timeout;
    return NewNetValidator(std::move(options));
  }
};

TEST_F(TlsAlpn01Test, AcceptsTheRightCertificateWithAlpnAndSni) {
  auto server = Serve(Good());
  std::optional<ValidationFailure> f = For(server->port())->ValidateTlsAlpn01(Request("localhost"));
  EXPECT_EQ(f, std::nullopt) << f->type << ": " << f->detail;
  EXPECT_EQ(server->last_server_name(), "localhost");
  EXPECT_EQ(server->last_offered_alpn(), std::vector<std::string>{"acme-tls/1"});

  // An IP identifier: the iPAddress SAN, and the reverse-mapping name as SNI (RFC 8738).
  auto spec = Good();
  spec.dns_names.clear();
  spec.ip_addresses = {"127.0.0.1"};
  auto by_ip = Serve(spec);
  f = For(by_ip->port())->ValidateTlsAlpn01(Request("127.0.0.1", "ip"));
  EXPECT_EQ(f, std::nullopt) << f->type << ": " << f->detail;
  EXPECT_EQ(by_ip->last_server_name(), "1.0.0.127.in-addr.arpa");
}

TEST_F(TlsAlpn01Test, WrongCertificatesFail) {
  struct Case {
    const char* what;
    std::function<void(x509::testing::AcmeTlsAlpnCertSpec&)> change;
    const char* type;
    const char* detail;
  };
  const Case cases[] = {
      {"wrong digest", [](auto& s) { s.acme_identifier = crypto::Sha256("other.key-auth"); },
       "incorrectResponse", "another key authorization"},
      {"not critical", [](auto& s) { s.acme_identifier_critical = false; }, "tls",
       "not marked critical"},
      {"two SANs", [](auto& s) { s.dns_names.push_back("www.localhost"); }, "tls",
       "exactly one subjectAltName"},
      {"no acmeIdentifier", [](auto& s) { s.acme_identifier.reset(); }, "tls",
       "no acmeIdentifier extension"},
      {"another name", [](auto& s) { s.dns_names = {"elsewhere.test"}; }, "tls",
       "exactly one subjectAltName, the dNSName localhost"},
  };
  for (const Case& c : cases) {
    auto spec = Good();
    c.change(spec);
    auto server = Serve(spec);
    std::optional<ValidationFailure> f =
        For(server->port())->ValidateTlsAlpn01(Request("localhost"));
    ASSERT_NE(f, std::nullopt) << c.what;
    EXPECT_EQ(f->type, c.type) << c.what << ": " << f->detail;
    EXPECT_NE(f->detail.find(c.detail), std::string::npos) << c.what << ": " << f->detail;
  }
}

TEST_F(TlsAlpn01Test, ServersWithoutAcmeTlsAlpnFail) {
  auto plain = Serve(Good(), "");  // no ALPN support: nothing selected
  std::optional<ValidationFailure> f = For(plain->port())->ValidateTlsAlpn01(Request("localhost"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "tls");
  EXPECT_NE(f->detail.find("did not negotiate the acme-tls/1 protocol"), std::string::npos)
      << f->detail;

  auto h2 = Serve(Good(), "h2");  // ALPN, but not ours: the handshake fails
  f = For(h2->port())->ValidateTlsAlpn01(Request("localhost"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "tls");
  EXPECT_NE(f->detail.find("TLS handshake with localhost:"), std::string::npos) << f->detail;
}

TEST_F(TlsAlpn01Test, AddressesOutsideAllowPrivateAreRefusedWithoutNamingThem) {
  auto server = Serve(Good());
  std::optional<ValidationFailure> f =
      For(server->port(), {})->ValidateTlsAlpn01(Request("localhost"));
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "connection");
  EXPECT_NE(f->detail.find("does not connect to localhost"), std::string::npos) << f->detail;
  EXPECT_EQ(f->detail.find("127.0.0.1"), std::string::npos) << f->detail;
  EXPECT_EQ(server->connections(), 0);
}

TEST_F(TlsAlpn01Test, SilentListenerTimesOut) {
  net::testing::SilentListener silent;
  const auto start = std::chrono::steady_clock::now();
  std::optional<ValidationFailure> f =
      For(silent.port(), Loopback(), 300ms)->ValidateTlsAlpn01(Request("localhost"));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "connection");
  EXPECT_NE(f->detail.find("timed out after 300 ms"), std::string::npos) << f->detail;
  EXPECT_LT(elapsed, 3s);
}

}  // namespace
}  // namespace certfleet::acme::server
