// The validator's network-free parts (validation_internal.h): identifiers, http-01 redirect
// targets, CAA values, record sets and the tree climb (with a fake lookup), and the tls-alpn-01
// certificate check on certificates built by x509's test builder.
#include "acme/server/validation_internal.h"

#include <gtest/gtest.h>

#include <map>

#include "crypto/hash.h"
#include "x509/test_util.h"

namespace certfleet::acme::server::internal {
namespace {

ValidationRequest Request(std::string type, std::string identifier) {
  ValidationRequest r;
  r.identifier_type = std::move(type);
  r.identifier = std::move(identifier);
  r.token = "tok_EN-123";
  r.key_authorization = "tok_EN-123.thumbprint";
  return r;
}

// --- identifiers ------------------------------------------------------------------------------

TEST(ParseTargetTest, NormalizesNamesAndAddresses) {
  Result<Target> t = ParseTarget(Request("dns", "App.Example.TEST"), "http-01");
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_FALSE(t->ip);
  EXPECT_EQ(t->host, "app.example.test");
  t = ParseTarget(Request("dns", "localhost"), "http-01");  // one label: the order layer's call
  ASSERT_TRUE(t.ok());
  t = ParseTarget(Request("ip", "2001:DB8:0::1"), "http-01");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->ip);
  EXPECT_EQ(t->host, "2001:db8::1");
  EXPECT_EQ(HostForUrl(*t), "[2001:db8::1]");
  t = ParseTarget(Request("ip", "192.0.2.1"), "http-01");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(HostForUrl(*t), "192.0.2.1");
}

TEST(ParseTargetTest, RefusesWhatCannotBeValidated) {
  for (const auto& [type, identifier] : std::vector<std::pair<std::string, std::string>>{
           {"dns", ""},
           {"dns", "*.example.test"},
           {"dns", "bad host.example"},
           {"dns", "a/b.example"},
           {"dns", "example.test:80"},
           {"dns", "-a.example"},
           {"dns", "192.0.2.1"},  // an address is not a DNS identifier
           {"dns", std::string(64, 'a') + ".example"},
           {"ip", "example.test"},
           {"ip", "192.0.2.1/24"},
           {"email", "a@example.test"},
       }) {
    Result<Target> t = ParseTarget(Request(type, identifier), "http-01");
    EXPECT_FALSE(t.ok()) << type << " " << identifier;
  }
  ValidationRequest r = Request("dns", "example.test");
  for (const std::string& token :
       std::vector<std::string>{"", "../../etc/passwd", "a b", "tok%2F", std::string(257, 'a')}) {
    r.token = token;
    EXPECT_FALSE(ParseTarget(r, "http-01").ok()) << token;
  }
  r = Request("dns", "example.test");
  r.key_authorization.clear();
  EXPECT_FALSE(ParseTarget(r, "http-01").ok());
}

// --- http-01 redirects ------------------------------------------------------------------------

TEST(ResolveRedirectTest, ResolvesTheFormsServersSend) {
  Result<net::Url> base =
      net::ParseUrl("http://app.example.test:8080/.well-known/acme-challenge/t");
  ASSERT_TRUE(base.ok());
  const std::map<std::string, std::string> cases = {
      {"https://App.Example.test/x", "https://app.example.test/x"},
      {"HTTP://app.example.test:80/y?z=1#frag", "http://app.example.test/y?z=1"},
      {"//other.example/p", "http://other.example/p"},
      {"/elsewhere", "http://app.example.test:8080/elsewhere"},
      {"?q=1", "http://app.example.test:8080/.well-known/acme-challenge/t?q=1"},
      {"other-token", "http://app.example.test:8080/.well-known/acme-challenge/other-token"},
      {"../up", "http://app.example.test:8080/.well-known/acme-challenge/../up"},
      {"http://[::1]:81/v6", "http://[::1]:81/v6"},
  };
  for (const auto& [location, expected] : cases) {
    Result<net::Url> url = ResolveRedirect(*base, location);
    ASSERT_TRUE(url.ok()) << location << ": " << url.error().ToString();
    EXPECT_EQ(UrlText(*url), expected) << location;
  }
  for (const char* bad : {"ftp://app.example.test/", "https://user@app.example.test/", "/a b",
                          "http://app.example.test:99999/", "javascript:alert(1)"}) {
    EXPECT_FALSE(ResolveRedirect(*base, bad).ok()) << bad;
  }
}

// --- CAA ----------------------------------------------------------------------------------------

dns::CaaRecord Caa(std::string tag, std::string value, uint8_t flags = 0) {
  return dns::CaaRecord{flags, std::move(tag), std::move(value)};
}

TEST(CaaTest, IssuerDomainOfIssueValues) {
  EXPECT_EQ(CaaIssuerDomain("certfleet.example"), "certfleet.example");
  EXPECT_EQ(CaaIssuerDomain("  CertFleet.Example\t"), "certfleet.example");
  EXPECT_EQ(CaaIssuerDomain("ca.example; accounturi=https://ca.example/acct/1"), "ca.example");
  EXPECT_EQ(CaaIssuerDomain("ca.example;"), "ca.example");
  EXPECT_EQ(CaaIssuerDomain(";"), "");
  EXPECT_EQ(CaaIssuerDomain(""), "");
  EXPECT_EQ(CaaIssuerDomain("  ; validationmethods=dns-01"), "");
  EXPECT_EQ(CaaIssuerDomain("ca"), "ca");
  for (const char* bad : {"ca example", "ca..example", "-ca.example", "ca.example-", "ca_x.example",
                          "ca.example.", "\"ca.example\""}) {
    EXPECT_EQ(CaaIssuerDomain(bad), std::nullopt) << bad;
  }
}

TEST(CaaTest, RecordSetDecisions) {
  const std::vector<std::string> ours = {"certfleet.example", "ca2.example"};
  using Set = std::vector<dns::CaaRecord>;
  // issue naming us (any of our domains), with parameters, in other case.
  EXPECT_EQ(CaaSetForbids(Set{Caa("issue", "certfleet.example")}, ours, false), std::nullopt);
  EXPECT_EQ(CaaSetForbids(Set{Caa("ISSUE", "Ca2.Example; a=b")}, ours, false), std::nullopt);
  EXPECT_EQ(
      CaaSetForbids(Set{Caa("issue", "other.example"), Caa("issue", "ca2.example")}, ours, false),
      std::nullopt);
  // issue naming others only, or nobody, or garbage.
  EXPECT_NE(CaaSetForbids(Set{Caa("issue", "other.example")}, ours, false), std::nullopt);
  EXPECT_NE(CaaSetForbids(Set{Caa("issue", ";")}, ours, false), std::nullopt);
  EXPECT_NE(CaaSetForbids(Set{Caa("issue", "certfleet example")}, ours, false), std::nullopt);
  // Nothing restricting: iodef, unknown non-critical tags.
  EXPECT_EQ(CaaSetForbids(Set{Caa("iodef", "mailto:a@example.test")}, ours, false), std::nullopt);
  EXPECT_EQ(CaaSetForbids(Set{Caa("tbs", "x")}, ours, false), std::nullopt);
  // Critical unknown tags forbid even beside an issue naming us; critical known ones do not.
  std::optional<std::string> why =
      CaaSetForbids(Set{Caa("issue", "certfleet.example"), Caa("tbs", "x", 128)}, ours, false);
  ASSERT_NE(why, std::nullopt);
  EXPECT_NE(why->find("critical"), std::string::npos) << *why;
  EXPECT_NE(why->find("\"tbs\""), std::string::npos) << *why;
  EXPECT_EQ(CaaSetForbids(Set{Caa("issue", "certfleet.example", 128)}, ours, false), std::nullopt);
  EXPECT_EQ(CaaSetForbids(Set{Caa("issue", "certfleet.example", 1)}, ours, false), std::nullopt);

  // Wildcards: issuewild decides when present, issue otherwise.
  const Set issue_us_wild_other = {Caa("issue", "certfleet.example"),
                                   Caa("issuewild", "other.example")};
  EXPECT_EQ(CaaSetForbids(issue_us_wild_other, ours, false), std::nullopt);
  why = CaaSetForbids(issue_us_wild_other, ours, true);
  ASSERT_NE(why, std::nullopt);
  EXPECT_NE(why->find("issuewild"), std::string::npos) << *why;
  const Set issue_other_wild_us = {Caa("issue", "other.example"),
                                   Caa("issuewild", "certfleet.example")};
  EXPECT_NE(CaaSetForbids(issue_other_wild_us, ours, false), std::nullopt);
  EXPECT_EQ(CaaSetForbids(issue_other_wild_us, ours, true), std::nullopt);
  EXPECT_EQ(CaaSetForbids(Set{Caa("issue", "certfleet.example")}, ours, true), std::nullopt);
  EXPECT_NE(
      CaaSetForbids(Set{Caa("issue", "certfleet.example"), Caa("issuewild", ";")}, ours, true),
      std::nullopt);
}

class FakeCaa {
 public:
  CaaLookupFn Fn() {
    return [this](const std::string& name) -> Result<dns::CaaLookup> {
      asked.push_back(name);
      if (auto e = errors.find(name); e != errors.end()) return e->second;
      dns::CaaLookup out;
      out.name = name;
      if (auto s = sets.find(name); s != sets.end()) out.records = s->second;
      return out;
    };
  }
  std::map<std::string, std::vector<dns::CaaRecord>> sets;
  std::map<std::string, Error> errors;
  std::vector<std::string> asked;
};

TEST(CaaTreeTest, ClimbsToTheFirstNonEmptySet) {
  const std::vector<std::string> ours = {"certfleet.example"};
  FakeCaa fake;
  fake.sets["example.test"] = {Caa("issue", "other.example")};
  fake.sets["ok.example.test"] = {Caa("issue", "certfleet.example")};
  std::optional<ValidationFailure> f = CheckCaaTree("a.b.example.test", false, ours, fake.Fn());
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "caa");
  EXPECT_NE(f->detail.find("CAA records at example.test forbid issuing for a.b.example.test"),
            std::string::npos)
      << f->detail;
  EXPECT_EQ(fake.asked,
            (std::vector<std::string>{"a.b.example.test", "b.example.test", "example.test"}));

  // The closest set wins, even if a parent's would forbid.
  fake.asked.clear();
  EXPECT_EQ(CheckCaaTree("Www.OK.example.test.", false, ours, fake.Fn()), std::nullopt);
  EXPECT_EQ(fake.asked, (std::vector<std::string>{"www.ok.example.test", "ok.example.test"}));

  // No set anywhere: allowed, after asking the TLD but not the root.
  FakeCaa empty;
  EXPECT_EQ(CheckCaaTree("a.example.test", false, ours, empty.Fn()), std::nullopt);
  EXPECT_EQ(empty.asked, (std::vector<std::string>{"a.example.test", "example.test", "test"}));
}

TEST(CaaTreeTest, WildcardsAndLookupFailures) {
  const std::vector<std::string> ours = {"certfleet.example"};
  FakeCaa fake;
  fake.sets["example.test"] = {Caa("issue", "certfleet.example"), Caa("issuewild", ";")};
  EXPECT_EQ(CheckCaaTree("example.test", false, ours, fake.Fn()), std::nullopt);
  std::optional<ValidationFailure> f = CheckCaaTree("example.test", true, ours, fake.Fn());
  ASSERT_NE(f, std::nullopt);
  EXPECT_NE(f->detail.find("wildcard"), std::string::npos) << f->detail;
  // "*." in the domain means a wildcard too.
  EXPECT_NE(CheckCaaTree("*.example.test", false, ours, fake.Fn()), std::nullopt);

  // A lookup error anywhere on the way stops the climb with "dns"; the resolver's address is not
  // in the detail.
  fake.errors.emplace("b.example.test",
                      Error(Unavailable("DNS resolver 10.1.2.3:53 answered SERVFAIL for b")));
  f = CheckCaaTree("a.b.example.test", false, ours, fake.Fn());
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "dns");
  EXPECT_NE(f->detail.find("SERVFAIL"), std::string::npos) << f->detail;
  EXPECT_EQ(f->detail.find("10.1.2.3"), std::string::npos) << f->detail;
  fake.errors.clear();
  fake.errors.emplace("a.example.test", Error(Malformed("bad CAA rdata")));
  f = CheckCaaTree("a.example.test", false, ours, fake.Fn());
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "caa");
}

// --- tls-alpn-01 --------------------------------------------------------------------------------

TEST(TlsAlpnTest, ServerNames) {
  EXPECT_EQ(TlsAlpnServerName({false, "app.example.test"}), "app.example.test");
  EXPECT_EQ(TlsAlpnServerName({true, "192.0.2.1"}), "1.2.0.192.in-addr.arpa");
  EXPECT_EQ(TlsAlpnServerName({true, "2001:db8::567:89ab"}),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
}

class TlsAlpnCertTest : public ::testing::Test {
 protected:
  static std::string Der(const x509::testing::AcmeTlsAlpnCertSpec& spec) {
    static auto key = x509::testing::NewKey(crypto::KeyType::kP256);
    return x509::testing::MakeAcmeTlsAlpnCert(*key, spec).der();
  }
  static x509::testing::AcmeTlsAlpnCertSpec Good() {
    x509::testing::AcmeTlsAlpnCertSpec spec;
    spec.dns_names = {"app.example.test"};
    spec.acme_identifier = crypto::Sha256(kKeyAuthorization);
    return spec;
  }
  static constexpr char kKeyAuthorization[] = "tok_EN-123.thumbprint";
  const Target name_{false, "app.example.test"};
};

TEST_F(TlsAlpnCertTest, AcceptsTheRightCertificate) {
  EXPECT_EQ(CheckTlsAlpnCertificate(Der(Good()), name_, kKeyAuthorization), std::nullopt);
  auto spec = Good();
  spec.dns_names = {"APP.example.test"};  // DNS names compare case-insensitively
  EXPECT_EQ(CheckTlsAlpnCertificate(Der(spec), name_, kKeyAuthorization), std::nullopt);
  spec = Good();
  spec.dns_names.clear();
  spec.ip_addresses = {"2001:db8::1"};
  EXPECT_EQ(CheckTlsAlpnCertificate(Der(spec), {true, "2001:db8::1"}, kKeyAuthorization),
            std::nullopt);
}

TEST_F(TlsAlpnCertTest, RefusesEveryDeviation) {
  struct Case {
    const char* what;
    std::function<void(x509::testing::AcmeTlsAlpnCertSpec&)> change;
    const char* type;
    const char* detail;
  };
  const Case cases[] = {
      {"wrong digest", [](auto& s) { s.acme_identifier = crypto::Sha256("other"); },
       "incorrectResponse", "another key authorization"},
      {"not critical", [](auto& s) { s.acme_identifier_critical = false; }, "tls",
       "not marked critical"},
      {"no extension", [](auto& s) { s.acme_identifier.reset(); }, "tls",
       "no acmeIdentifier extension (1.3.6.1.5.5.7.1.31)"},
      {"short digest", [](auto& s) { s.acme_identifier = std::string(20, 'x'); }, "tls",
       "not an OCTET STRING of 32 octets"},
      {"two SANs", [](auto& s) { s.dns_names.push_back("www.example.test"); }, "tls",
       "it carries: dNSName \"app.example.test\", dNSName \"www.example.test\""},
      {"other name", [](auto& s) { s.dns_names = {"evil.example.test"}; }, "tls",
       "exactly one subjectAltName, the dNSName app.example.test"},
      {"no SAN", [](auto& s) { s.dns_names.clear(); }, "tls", "it carries: none"},
      {"IP beside the name", [](auto& s) { s.ip_addresses = {"192.0.2.1"}; }, "tls",
       "iPAddress 192.0.2.1"},
  };
  for (const Case& c : cases) {
    auto spec = Good();
    c.change(spec);
    std::optional<ValidationFailure> f =
        CheckTlsAlpnCertificate(Der(spec), name_, kKeyAuthorization);
    ASSERT_NE(f, std::nullopt) << c.what;
    EXPECT_EQ(f->type, c.type) << c.what << ": " << f->detail;
    EXPECT_NE(f->detail.find(c.detail), std::string::npos) << c.what << ": " << f->detail;
  }
  // An IP identifier needs the iPAddress, not a dNSName.
  std::optional<ValidationFailure> f =
      CheckTlsAlpnCertificate(Der(Good()), {true, "192.0.2.1"}, kKeyAuthorization);
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "tls");
  // Not a certificate at all.
  f = CheckTlsAlpnCertificate("garbage", name_, kKeyAuthorization);
  ASSERT_NE(f, std::nullopt);
  EXPECT_EQ(f->type, "tls");
}

}  // namespace
}  // namespace certfleet::acme::server::internal
