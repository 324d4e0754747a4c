// Tests of src/dns: key-file parsing and name checks (pure), then RFC 2136 updates, TXT queries,
// CNAME delegation, zone discovery and propagation waits against a real BIND9 named started by
// TestingNamed (one per suite). Without named installed the suite fails, by design.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <string>

#include "base/clock.h"
#include "base/encoding.h"
#include "dns/caa.h"
#include "dns/names.h"
#include "dns/query.h"
#include "dns/resolver.h"
#include "dns/rfc2136_client.h"
#include "dns/server.h"
#include "dns/testing_named.h"
#include "dns/tsig_key.h"

namespace certfleet::dns {
namespace {

using std::chrono::milliseconds;

// 32 bytes of 0x01..0x20, base64: what `tsig-keygen -a hmac-sha256 acme-update` prints, modulo
// the random secret.
constexpr char kSecret[] = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

std::string KeyFile(std::string_view algorithm = "hmac-sha256", std::string_view secret = kSecret,
                    std::string_view name = "acme-update") {
  return "key \"" + std::string(name) + "\" {\n\talgorithm " + std::string(algorithm) +
         ";\n\tsecret \"" + std::string(secret) + "\";\n};\n";
}

// --- key files ---------------------------------------------------------------------------------

TEST(TsigKeyFile, ParsesTsigKeygenOutput) {
  Result<TsigKey> key = ParseBindKeyFile(KeyFile());
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  EXPECT_EQ(key->name, "acme-update");
  EXPECT_EQ(key->algorithm, TsigAlgorithm::kHmacSha256);
  ASSERT_EQ(key->secret.size(), 32u);
  EXPECT_EQ(key->secret.data()[0], 1);
  EXPECT_EQ(key->secret.data()[31], 32);
}

TEST(TsigKeyFile, AcceptsCommentsSha512AndBareName) {
  Result<TsigKey> key = ParseBindKeyFile(
      "# made by tsig-keygen\n// another\n/* block\n comment */ key Update.Example. {\n"
      "  algorithm HMAC-SHA512; secret \"" +
      std::string(kSecret) + "\"; };  # trailing\n");
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  EXPECT_EQ(key->name, "update.example");
  EXPECT_EQ(key->algorithm, TsigAlgorithm::kHmacSha512);
}

TEST(TsigKeyFile, RefusesBadFilesWithoutLeakingTheSecret) {
  const std::string secret = kSecret;
  const std::string cases[] = {
      "",
      KeyFile("hmac-md5"),
      KeyFile("hmac-sha1"),
      KeyFile("hmac-sha384"),
      KeyFile("hmac-sha256", "not base64!"),
      KeyFile("hmac-sha256", "AQID"),  // 3 bytes: too short
      KeyFile("hmac-sha256", kSecret, "bad name"),
      KeyFile() + KeyFile(),  // two keys
      "key \"acme-update\" { algorithm hmac-sha256; };\n",
      "key \"acme-update\" { secret \"" + secret + "\"; };\n",
      "key \"acme-update\" { algorithm hmac-sha256; secret \"" + secret + "\"; secret \"" + secret +
          "\"; };\n",
      "key \"acme-update\" { algorithm hmac-sha256; secret \"" + secret + "\"; }\n",  // no ;
      "key \"acme-update\" { algorithm hmac-sha256; secret \"" + secret + "; };\n",
      "key \"acme-update\" { algorithm hmac-sha256; secret \"" + secret +
          "\"; primaries { 1.2.3.4; }; };\n",
      "options { directory \"/tmp\"; };\n",
      "key \"acme-update\" { algorithm hmac-sha256; secret \"" + secret + "\"; };\n/* open",
      // Key material where it does not belong is never echoed.
      "key \"acme-update\" { algorithm hmac-sha256; " + secret.substr(0, 40) + "; };\n",
      "key \"acme-update\" { algorithm " + secret.substr(0, 40) + "; };\n",
      "key \"acme-update\" { algorithm \"" + secret + "\"; };\n",
  };
  for (const std::string& text : cases) {
    Result<TsigKey> key = ParseBindKeyFile(text);
    ASSERT_FALSE(key.ok()) << text;
    const std::string message = key.error().ToString();
    EXPECT_FALSE(message.empty());
    EXPECT_EQ(message.find(secret), std::string::npos) << message;
    EXPECT_EQ(message.find("AQID"), std::string::npos) << message;
  }
  EXPECT_NE(ParseBindKeyFile(KeyFile("hmac-sha384")).error().message().find("hmac-sha256"),
            std::string::npos);
  Result<TsigKey> big = ParseBindKeyFile(KeyFile() + std::string(kMaxKeyFileBytes, ' '));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), ErrorCode::kTooLarge);
}

// --- names, values, servers --------------------------------------------------------------------

TEST(DnsNames, RecordNamesZonesAndValues) {
  EXPECT_TRUE(ValidateRecordName("_acme-challenge.app.example.test").ok());
  EXPECT_TRUE(ValidateRecordName("_acme-challenge.app.example.test.").ok());
  EXPECT_TRUE(ValidateRecordName("app.delegated.test").ok());
  EXPECT_FALSE(ValidateRecordName("_acme-challenge").ok());
  EXPECT_FALSE(ValidateRecordName("app._acme-challenge.example.test").ok());
  EXPECT_FALSE(ValidateRecordName("*.example.test").ok());
  EXPECT_FALSE(ValidateRecordName("a b.example.test").ok());
  EXPECT_FALSE(ValidateRecordName("x.example.test;rm -rf /").ok());
  EXPECT_FALSE(ValidateRecordName("").ok());
  EXPECT_FALSE(ValidateRecordName(std::string(300, 'a')).ok());
  EXPECT_TRUE(ValidateZoneName("example.test").ok());
  EXPECT_TRUE(ValidateZoneName("test.").ok());
  EXPECT_FALSE(ValidateZoneName("-bad.test").ok());
  EXPECT_FALSE(ValidateZoneName("").ok());

  EXPECT_TRUE(ValidateTxtValue("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0").ok());
  EXPECT_TRUE(ValidateTxtValue(std::string(255, 'a')).ok());
  EXPECT_FALSE(ValidateTxtValue(std::string(256, 'a')).ok());
  EXPECT_FALSE(ValidateTxtValue("").ok());
  EXPECT_FALSE(ValidateTxtValue("a\nb").ok());
  EXPECT_FALSE(ValidateTxtValue(std::string("a\0b", 3)).ok());

  EXPECT_EQ(CanonicalName("App.Example.TEST."), "app.example.test");
  EXPECT_TRUE(IsAtOrBelow("a.example.test", "example.test"));
  EXPECT_TRUE(IsAtOrBelow("example.test", "example.test"));
  EXPECT_FALSE(IsAtOrBelow("badexample.test", "example.test"));
  EXPECT_FALSE(IsAtOrBelow("example.test", "a.example.test"));
}

// Issue #13: with an address filter, nothing is sent to a refused address, and the error is
// the generic one (no address, no connection detail). A listening socket that never sees a
// connection proves nothing was attempted.
TEST(DnsServerAddress, FilterRefusesBeforeConnecting) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto server = ParseDnsServer("127.0.0.1:" + std::to_string(ntohs(addr.sin_port)));
  ASSERT_TRUE(server.ok());
  std::vector<std::string> seen;
  server->address_allowed = [&seen](std::string_view ip) {
    seen.emplace_back(ip);
    return false;
  };
  auto txt = QueryTxt(*server, "_acme-challenge.app.example.test", std::chrono::milliseconds(500));
  ASSERT_FALSE(txt.ok());
  EXPECT_EQ(txt.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(txt.error().message().find("rule network.private_not_allowed"), std::string::npos);
  EXPECT_EQ(seen, std::vector<std::string>{"127.0.0.1"});
  // No connection reached the listener.
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  EXPECT_LT(::accept(fd, nullptr, nullptr), 0);
  ::close(fd);
}

TEST(DnsServerAddress, Parses) {
  Result<DnsServer> s = ParseDnsServer("127.0.0.1:5353");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->host, "127.0.0.1");
  EXPECT_EQ(s->port, 5353);
  s = ParseDnsServer("[::1]:53");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->host, "::1");
  EXPECT_EQ(s->ToString(), "[::1]:53");
  s = ParseDnsServer("ns1.example.test");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->port, 53);
  for (const char* bad : {"", ":53", "host:", "host:0", "host:65536", "host:5x", "::1:53", "[::1",
                          "[::1]x", "a b:53"}) {
    EXPECT_FALSE(ParseDnsServer(bad).ok()) << bad;
  }
}

// --- CAA records and resolv.conf (pure) --------------------------------------------------------

TEST(CaaRdata, ParsesFlagsTagAndValue) {
  Result<CaaRecord> r = ParseCaaRdata(std::string("\x00\x05issue", 7) + "ca.example; a=b");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->flags, 0);
  EXPECT_FALSE(r->critical());
  EXPECT_EQ(r->tag, "issue");
  EXPECT_EQ(r->value, "ca.example; a=b");

  r = ParseCaaRdata(std::string("\x80\x03TbS", 5));  // critical, empty value
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(r->critical());
  EXPECT_EQ(r->tag, "TbS");
  EXPECT_EQ(r->value, "");
  // Other flag bits are reserved and do not make a record critical.
  r = ParseCaaRdata(std::string("\x01\x05issue;", 8));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->critical());
  // The longest tag.
  EXPECT_TRUE(ParseCaaRdata(std::string("\x00\x0f", 2) + std::string(15, 'a')).ok());
}

TEST(CaaRdata, RefusesMalformedData) {
  const std::string cases[] = {
      "",
      std::string("\x00", 1),
      std::string("\x00\x00", 2),                         // empty tag
      std::string("\x00\x10", 2) + std::string(16, 'a'),  // tag too long
      std::string("\x00\x05iss", 5),                      // truncated tag
      std::string("\x00\x05is-ue", 7),                    // '-' in the tag
      std::string("\x00\x05is\x00ue", 7),
  };
  for (const std::string& rdata : cases) {
    Result<CaaRecord> r = ParseCaaRdata(rdata);
    ASSERT_FALSE(r.ok()) << HexEncode(rdata);
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
  }
}

TEST(SystemResolverTest, TakesTheFirstNameserver) {
  char path[] = "/tmp/cf-resolv-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text =
      "# generated\nsearch example.test\n; comment\noptions ndots:1\nnameserver\n"
      "nameserver 192.0.2.53\nnameserver 198.51.100.1\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  Result<DnsServer> server = SystemResolver(path);
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  EXPECT_EQ(server->ToString(), "192.0.2.53:53");

  const std::string v6 = "nameserver   2001:db8::53  \n";
  fd = open(path, O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, v6.data(), v6.size()), static_cast<ssize_t>(v6.size()));
  close(fd);
  server = SystemResolver(path);
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  EXPECT_EQ(server->ToString(), "[2001:db8::53]:53");

  fd = open(path, O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  close(fd);
  EXPECT_EQ(SystemResolver(path).error().code(), ErrorCode::kNotFound);
  unlink(path);
  EXPECT_EQ(SystemResolver(path).error().code(), ErrorCode::kUnavailable);
}

// --- against a real named ----------------------------------------------------------------------

class DnsWithNamed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<std::unique_ptr<testing::TestingNamed>> named = testing::TestingNamed::Start({
        {"example.test",
         "_acme-challenge.app IN CNAME app.delegated.test.\n"
         "_acme-challenge.hop IN CNAME _acme-challenge.app.example.test.\n"
         "loop1 IN CNAME loop2.example.test.\nloop2 IN CNAME loop1.example.test.\n"
         "www IN A 127.0.0.1\n"
         // For the resolver lookups (resolver.h): a TXT record two CNAME hops away, in the other
         // zone, and CAA record sets.
         "_acme-challenge.r1 IN CNAME r2.example.test.\nr2 IN CNAME res.delegated.test.\n"
         "_acme-challenge.direct IN TXT \"one\" \"two\"\n"
         "_acme-challenge.direct IN TXT \"second\"\n"
         "caa IN CAA 0 issue \"ca.example; accounturi=https://ca.example/acct/1\"\n"
         "caa IN CAA 128 tbs \"Unknown\"\ncaa IN CAA 0 iodef \"mailto:sec@example.test\"\n"
         "caacname IN CNAME caa.delegated.test.\nxloop IN CNAME xloop.delegated.test.\n"},
        {"delegated.test",
         "res IN TXT \"resolved\"\ncaa IN CAA 0 issuewild \";\"\n"
         "xloop IN CNAME xloop.example.test.\n"},
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
    ASSERT_NE(named_, nullptr) << "cannot start BIND9 named for the dns tests: "
                               << (start_error_ != nullptr ? *start_error_ : "");
  }

  static std::unique_ptr<Rfc2136Client> Client(const std::string& key_file) {
    Result<TsigKey> key = ReadBindKeyFile(key_file);
    EXPECT_TRUE(key.ok()) << key.error().ToString();
    if (!key.ok()) return nullptr;
    Result<std::unique_ptr<Rfc2136Client>> client =
        Rfc2136Client::Create({named_->server(), milliseconds(3000), 60}, std::move(*key));
    EXPECT_TRUE(client.ok()) << client.error().ToString();
    return client.ok() ? std::move(*client) : nullptr;
  }
  static std::vector<std::string> Txt(const std::string& name) {
    Result<std::vector<std::string>> values = QueryTxt(named_->server(), name);
    EXPECT_TRUE(values.ok()) << values.error().ToString();
    if (!values.ok()) return {};
    std::sort(values->begin(), values->end());
    return *values;
  }

  static testing::TestingNamed* named_;
  static std::string* start_error_;
};
testing::TestingNamed* DnsWithNamed::named_ = nullptr;
std::string* DnsWithNamed::start_error_ = nullptr;

TEST_F(DnsWithNamed, AddsAndRemovesOneValueWithoutTouchingOthers) {
  auto client = Client(named_->key_file_sha256());
  ASSERT_NE(client, nullptr);
  const std::string name = "_acme-challenge.one.example.test";
  EXPECT_TRUE(Txt(name).empty());
  ASSERT_TRUE(client->AddTxt("example.test", name, "first-value").ok());
  Status second = client->AddTxt("example.test.", "_ACME-challenge.One.example.test.", "second");
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(Txt(name), (std::vector<std::string>{"first-value", "second"}));
  // Adding a value again changes nothing.
  ASSERT_TRUE(client->AddTxt("example.test", name, "second").ok());
  EXPECT_EQ(Txt(name).size(), 2u);

  Status removed = client->RemoveTxt("example.test", name, "first-value");
  ASSERT_TRUE(removed.ok()) << removed.error().ToString();
  EXPECT_EQ(Txt(name), (std::vector<std::string>{"second"}));
  // Removing an absent value succeeds and leaves the other.
  ASSERT_TRUE(client->RemoveTxt("example.test", name, "first-value").ok());
  EXPECT_EQ(Txt(name), (std::vector<std::string>{"second"}));
  ASSERT_TRUE(client->RemoveTxt("example.test", name, "second").ok());
  EXPECT_TRUE(Txt(name).empty());
}

TEST_F(DnsWithNamed, ValuesWithQuotesAndSpacesAreOneRecord) {
  auto client = Client(named_->key_file_sha256());
  ASSERT_NE(client, nullptr);
  const std::string name = "_acme-challenge.quote.example.test";
  const std::string tricky = "a \"b\" \\c; d";
  ASSERT_TRUE(client->AddTxt("example.test", name, tricky).ok());
  EXPECT_EQ(Txt(name), (std::vector<std::string>{tricky}));
  ASSERT_TRUE(client->RemoveTxt("example.test", name, tricky).ok());
  EXPECT_TRUE(Txt(name).empty());
}

TEST_F(DnsWithNamed, Sha512KeyWorks) {
  auto client = Client(named_->key_file_sha512());
  ASSERT_NE(client, nullptr);
  const std::string name = "_acme-challenge.sha512.delegated.test";
  Status added = client->AddTxt("delegated.test", name, "v512");
  ASSERT_TRUE(added.ok()) << added.error().ToString();
  EXPECT_EQ(Txt(name), (std::vector<std::string>{"v512"}));
  ASSERT_TRUE(client->RemoveTxt("delegated.test", name, "v512").ok());
}

TEST_F(DnsWithNamed, WrongSecretIsRefusedNamingTheReason) {
  Result<TsigKey> real = ReadBindKeyFile(named_->key_file_sha256());
  ASSERT_TRUE(real.ok());
  // Same name and algorithm, another secret.
  Result<TsigKey> wrong = ParseBindKeyFile(KeyFile());
  ASSERT_TRUE(wrong.ok());
  Result<std::unique_ptr<Rfc2136Client>> client =
      Rfc2136Client::Create({named_->server(), milliseconds(3000), 60}, std::move(*wrong));
  ASSERT_TRUE(client.ok());
  Status s = (*client)->AddTxt("example.test", "_acme-challenge.evil.example.test", "x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kForbidden);
  const std::string message = s.error().ToString();
  EXPECT_NE(message.find("NOTAUTH"), std::string::npos) << message;
  EXPECT_NE(message.find("BADSIG"), std::string::npos) << message;
  EXPECT_EQ(message.find(kSecret), std::string::npos);
  std::cout << "wrong secret: " << message << "\n";
  EXPECT_TRUE(Txt("_acme-challenge.evil.example.test").empty());

  // An unknown key name: BADKEY.
  Result<TsigKey> unknown = ParseBindKeyFile(KeyFile("hmac-sha256", kSecret, "nobody"));
  ASSERT_TRUE(unknown.ok());
  client = Rfc2136Client::Create({named_->server(), milliseconds(3000), 60}, std::move(*unknown));
  ASSERT_TRUE(client.ok());
  s = (*client)->AddTxt("example.test", "_acme-challenge.evil.example.test", "x");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("BADKEY"), std::string::npos) << s.error().message();
}

TEST_F(DnsWithNamed, NamesOutsideTheZoneAreRefused) {
  auto client = Client(named_->key_file_sha256());
  ASSERT_NE(client, nullptr);
  // Checked before sending.
  Status s = client->AddTxt("example.test", "_acme-challenge.app.delegated.test", "x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message().find("not in zone"), std::string::npos);
  // A zone the server does not serve: the server refuses.
  s = client->AddTxt("elsewhere.test", "_acme-challenge.elsewhere.test", "x");
  ASSERT_FALSE(s.ok());
  const std::string message = s.error().ToString();
  EXPECT_TRUE(message.find("NOTAUTH") != std::string::npos ||
              message.find("REFUSED") != std::string::npos)
      << message;
  // The policy allows TXT only: an A name is fine, but bad values never leave the process.
  EXPECT_EQ(client->AddTxt("example.test", "_acme-challenge.example.test", "a\nb").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(client->AddTxt("example.test", "bad name.example.test", "v").error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(DnsWithNamed, FollowsCnameDelegation) {
  Result<std::string> target =
      ResolveCnameTarget(named_->server(), "_acme-challenge.app.example.test");
  ASSERT_TRUE(target.ok()) << target.error().ToString();
  EXPECT_EQ(*target, "app.delegated.test");
  // Two hops.
  target = ResolveCnameTarget(named_->server(), "_acme-challenge.hop.example.test");
  ASSERT_TRUE(target.ok()) << target.error().ToString();
  EXPECT_EQ(*target, "app.delegated.test");
  // No CNAME: the name itself.
  target = ResolveCnameTarget(named_->server(), "_acme-challenge.www.example.test");
  ASSERT_TRUE(target.ok()) << target.error().ToString();
  EXPECT_EQ(*target, "_acme-challenge.www.example.test");
  // A loop.
  target = ResolveCnameTarget(named_->server(), "loop1.example.test");
  ASSERT_FALSE(target.ok());
  EXPECT_NE(target.error().message().find("loop"), std::string::npos);

  // The whole delegation flow: find the target's zone, write there, see it.
  Result<std::string> zone = FindZone(named_->server(), "app.delegated.test");
  ASSERT_TRUE(zone.ok()) << zone.error().ToString();
  EXPECT_EQ(*zone, "delegated.test");
  auto client = Client(named_->key_file_sha256());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->AddTxt(*zone, "app.delegated.test", "delegated-token").ok());
  EXPECT_EQ(Txt("app.delegated.test"), (std::vector<std::string>{"delegated-token"}));
  ASSERT_TRUE(client->RemoveTxt(*zone, "app.delegated.test", "delegated-token").ok());
}

TEST_F(DnsWithNamed, FindsZoneApex) {
  Result<std::string> zone = FindZone(named_->server(), "_acme-challenge.a.b.example.test");
  ASSERT_TRUE(zone.ok()) << zone.error().ToString();
  EXPECT_EQ(*zone, "example.test");
  zone = FindZone(named_->server(), "example.test");
  ASSERT_TRUE(zone.ok()) << zone.error().ToString();
  EXPECT_EQ(*zone, "example.test");
  zone = FindZone(named_->server(), "www.elsewhere.test");
  ASSERT_FALSE(zone.ok());
  EXPECT_EQ(zone.error().code(), ErrorCode::kNotFound);
}

TEST_F(DnsWithNamed, WaitForTxtReturnsWhenPresent) {
  auto client = Client(named_->key_file_sha256());
  ASSERT_NE(client, nullptr);
  const std::string name = "_acme-challenge.wait.example.test";
  ASSERT_TRUE(client->AddTxt("example.test", name, "ready").ok());
  WaitOptions options;
  options.timeout = milliseconds(2000);
  options.poll = milliseconds(50);
  EXPECT_TRUE(WaitForTxt(named_->server(), name, "ready", options).ok());
  ASSERT_TRUE(client->RemoveTxt("example.test", name, "ready").ok());
}

TEST_F(DnsWithNamed, WaitForTxtTimesOutOnAFakeClock) {
  FakeClock clock(TimePoint(std::chrono::hours(24 * 365 * 56)));
  int sleeps = 0;
  WaitOptions options;
  options.timeout = milliseconds(30000);
  options.poll = milliseconds(5000);
  options.clock = &clock;
  options.sleep = [&](milliseconds d) {
    ++sleeps;
    clock.Advance(d);
  };
  Status s = WaitForTxt(named_->server(), "_acme-challenge.never.example.test", "absent", options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kTimeout);
  EXPECT_NE(s.error().message().find("not present"), std::string::npos) << s.error().message();
  EXPECT_EQ(sleeps, 6);

  // A clock that never moves still ends: at most timeout/poll + 1 queries.
  FakeClock frozen(TimePoint(std::chrono::hours(1)));
  int naps = 0;
  options.clock = &frozen;
  options.sleep = [&](milliseconds) { ++naps; };
  s = WaitForTxt(named_->server(), "_acme-challenge.never.example.test", "absent", options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kTimeout);
  EXPECT_EQ(naps, 7);
}

// --- resolver lookups (resolver.h) against named ---------------------------------------------
// TestingNamed runs with `recursion no`: it answers RD queries from its own zones, a CNAME into
// another zone alone (so the lookups ask the target again), and REFUSEs other names.

TEST_F(DnsWithNamed, ResolveTxtJoinsStringsAndKeepsRecordsApart) {
  Result<TxtLookup> txt = ResolveTxt(named_->server(), "_acme-challenge.Direct.example.test.");
  ASSERT_TRUE(txt.ok()) << txt.error().ToString();
  EXPECT_EQ(txt->name, "_acme-challenge.direct.example.test");
  EXPECT_FALSE(txt->nxdomain);
  std::sort(txt->values.begin(), txt->values.end());
  EXPECT_EQ(txt->values, (std::vector<std::string>{"onetwo", "second"}));
}

TEST_F(DnsWithNamed, ResolveTxtFollowsCnamesAcrossZones) {
  Result<TxtLookup> txt = ResolveTxt(named_->server(), "_acme-challenge.r1.example.test");
  ASSERT_TRUE(txt.ok()) << txt.error().ToString();
  EXPECT_EQ(txt->name, "res.delegated.test");
  EXPECT_EQ(txt->values, (std::vector<std::string>{"resolved"}));
}

TEST_F(DnsWithNamed, ResolveTxtNoDataNxdomainLoopsAndRefusals) {
  Result<TxtLookup> nodata = ResolveTxt(named_->server(), "www.example.test");
  ASSERT_TRUE(nodata.ok()) << nodata.error().ToString();
  EXPECT_TRUE(nodata->values.empty());
  EXPECT_FALSE(nodata->nxdomain);

  Result<TxtLookup> missing = ResolveTxt(named_->server(), "_acme-challenge.none.example.test");
  ASSERT_TRUE(missing.ok()) << missing.error().ToString();
  EXPECT_TRUE(missing->values.empty());
  EXPECT_TRUE(missing->nxdomain);

  // A loop inside one zone: named finds it itself and answers SERVFAIL.
  Result<TxtLookup> loop = ResolveTxt(named_->server(), "loop1.example.test");
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(loop.error().message().find("SERVFAIL"), std::string::npos) << loop.error().message();
  // Across two zones named answers one CNAME at a time: the lookup finds the loop.
  loop = ResolveTxt(named_->server(), "xloop.example.test");
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(loop.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(loop.error().message().find(
                "CNAME loop: xloop.example.test -> xloop.delegated.test -> xloop.example.test"),
            std::string::npos)
      << loop.error().message();

  Result<TxtLookup> refused = ResolveTxt(named_->server(), "_acme-challenge.elsewhere.test");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(refused.error().message().find("REFUSED"), std::string::npos);

  EXPECT_EQ(ResolveTxt(named_->server(), "bad name.example.test").error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(DnsWithNamed, ResolveCaaParsesTheRecordSet) {
  Result<CaaLookup> caa = ResolveCaa(named_->server(), "caa.example.test");
  ASSERT_TRUE(caa.ok()) << caa.error().ToString();
  EXPECT_EQ(caa->name, "caa.example.test");
  ASSERT_EQ(caa->records.size(), 3u);
  std::sort(caa->records.begin(), caa->records.end(),
            [](const CaaRecord& a, const CaaRecord& b) { return a.tag < b.tag; });
  EXPECT_EQ(caa->records[0].tag, "iodef");
  EXPECT_EQ(caa->records[0].value, "mailto:sec@example.test");
  EXPECT_EQ(caa->records[1].tag, "issue");
  EXPECT_EQ(caa->records[1].value, "ca.example; accounturi=https://ca.example/acct/1");
  EXPECT_FALSE(caa->records[1].critical());
  EXPECT_EQ(caa->records[2].tag, "tbs");
  EXPECT_EQ(caa->records[2].flags, 128);
  EXPECT_TRUE(caa->records[2].critical());
  EXPECT_EQ(caa->records[2].value, "Unknown");
}

TEST_F(DnsWithNamed, ResolveCaaFollowsCnamesAndReportsEmptySets) {
  Result<CaaLookup> caa = ResolveCaa(named_->server(), "caacname.example.test");
  ASSERT_TRUE(caa.ok()) << caa.error().ToString();
  EXPECT_EQ(caa->name, "caa.delegated.test");
  ASSERT_EQ(caa->records.size(), 1u);
  EXPECT_EQ(caa->records[0].tag, "issuewild");
  EXPECT_EQ(caa->records[0].value, ";");

  Result<CaaLookup> apex = ResolveCaa(named_->server(), "example.test");
  ASSERT_TRUE(apex.ok()) << apex.error().ToString();
  EXPECT_TRUE(apex->records.empty());
  EXPECT_FALSE(apex->nxdomain);
  Result<CaaLookup> missing = ResolveCaa(named_->server(), "nothing.example.test");
  ASSERT_TRUE(missing.ok()) << missing.error().ToString();
  EXPECT_TRUE(missing->records.empty());
  EXPECT_TRUE(missing->nxdomain);
  // A TLD is a valid name to ask; this server is not authoritative for it.
  Result<CaaLookup> tld = ResolveCaa(named_->server(), "test");
  ASSERT_FALSE(tld.ok());
  EXPECT_EQ(tld.error().code(), ErrorCode::kForbidden);
}

TEST(DnsQuery, UnreachableServerIsUnavailable) {
  // A port bound but not listening: connecting is refused at once, and no other test (nor another
  // test process's named) can take it while we hold it.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  DnsServer dead{"127.0.0.1", ntohs(addr.sin_port)};
  Result<std::vector<std::string>> values =
      QueryTxt(dead, "_acme-challenge.example.test", milliseconds(300));
  close(fd);
  ASSERT_FALSE(values.ok());
  EXPECT_EQ(values.error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(values.error().retryable());
  EXPECT_NE(values.error().message().find("no answer"), std::string::npos);
}

}  // namespace
}  // namespace certfleet::dns
