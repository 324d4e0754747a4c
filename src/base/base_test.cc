#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/error.h"
#include "base/ids.h"
#include "base/ip.h"
#include "base/log.h"
#include "base/secret_bytes.h"
#include "base/time_util.h"
#include "base/validate.h"

namespace certfleet {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  CF_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(ResultTest, PropagatesErrors) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "odd");
}

TEST(ErrorTest, CauseChainIsRendered) {
  Error e = Unavailable("store").WithCause(Internal("disk full"));
  EXPECT_EQ(e.ToString(), "store: disk full");
  EXPECT_FALSE(e.retryable());
  e.WithRetry(std::chrono::seconds(5));
  EXPECT_TRUE(e.retryable());
  EXPECT_EQ(e.retry_after(), std::chrono::seconds(5));
}

TEST(SecretBytesTest, MoveAndCompare) {
  std::string s = "hunter22";
  SecretBytes a = SecretBytes::FromString(std::move(s));
  EXPECT_EQ(a.view(), "hunter22");
  SecretBytes b = a.Clone();
  EXPECT_TRUE(a.Equals(b));
  SecretBytes c = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_TRUE(c.Equals(b));
  c.Append("!");
  EXPECT_FALSE(c.Equals(b));
  EXPECT_EQ(c.view(), "hunter22!");
}

TEST(EncodingTest, RoundTrips) {
  EXPECT_EQ(HexEncode("\x01\xab"), "01ab");
  EXPECT_EQ(*HexDecode("01AB"), "\x01\xab");
  EXPECT_FALSE(HexDecode("0g").ok());
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(*Base64Decode("Zm9vYg=="), "foob");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(*Base64UrlDecode("-_8"), "\xfb\xff");
  EXPECT_FALSE(Base64UrlDecode("a/b").ok());
  EXPECT_TRUE(IsBase64Url("abc-_Z9"));
  EXPECT_FALSE(IsBase64Url("../x"));
}

TEST(TimeTest, Rfc3339AndDurations) {
  TimePoint t = UtcDate(2026, 3, 15);
  EXPECT_EQ(FormatRfc3339(t), "2026-03-15T00:00:00Z");
  EXPECT_EQ(*ParseRfc3339("2026-03-15T00:00:00Z"), t);
  EXPECT_EQ(*ParseRfc3339("2026-03-15"), t);
  EXPECT_EQ(*ParseRfc3339("2026-03-15T02:00:00.5+02:00"), t);
  EXPECT_FALSE(ParseRfc3339("2026-02-30").ok());
  EXPECT_FALSE(ParseRfc3339("2026-03-15T00:00:00").ok());
  EXPECT_EQ(*ParseDuration("90d"), std::chrono::hours(24 * 90));
  EXPECT_EQ(*ParseDuration("10m"), std::chrono::minutes(10));
  EXPECT_FALSE(ParseDuration("-1d").ok());
  EXPECT_FALSE(ParseDuration("1y").ok());
  EXPECT_FALSE(ParseDuration("0s").ok());
  EXPECT_EQ(FormatDuration(std::chrono::hours(48)), "2d");
}

TEST(TimeUtilTest, CompoundDurations) {
  using std::chrono::hours, std::chrono::minutes, std::chrono::seconds;
  EXPECT_EQ(*ParseDuration("1h30m"), minutes(90));
  EXPECT_EQ(*ParseDuration("59m30s"), seconds(59 * 60 + 30));
  EXPECT_EQ(*ParseDuration("1d12h"), hours(36));
  EXPECT_EQ(*ParseDuration("2d3h4m5s"), hours(51) + minutes(4) + seconds(5));
  EXPECT_EQ(*ParseDuration("1h0m"), hours(1));
  // Units go from largest to smallest, each once; every part has a number and a unit.
  for (const char* bad : {"30m1h", "1h1h", "1h30", "h30m", "1h 30m", "1h-30m", "0h0m", "", "m",
                          "1.5h", "+1h", "99999999999999999999d", "1d99999999999999999s"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
  EXPECT_NE(ParseDuration("30m1h").error().message().find("largest to smallest"),
            std::string::npos);
}

TEST(ClockTest, OffsetClockMovesTheSystemClock) {
  OffsetClock clock;
  const TimePoint before = std::chrono::system_clock::now();
  EXPECT_GE(clock.Now(), before);
  clock.SetOffset(std::chrono::hours(-24 * 61));
  EXPECT_EQ(clock.offset(), std::chrono::hours(-24 * 61));
  EXPECT_LT(clock.Now(), before - std::chrono::hours(24 * 60));
  clock.SetOffset(Seconds(3600));
  EXPECT_GE(clock.Now(), before + Seconds(3600));
}

TEST(IdsTest, PrefixedSortableUnique) {
  FakeClock clock(UtcDate(2026, 1, 1));
  auto& rnd = SystemRandomSource();
  std::string a = NewId("crt", clock, rnd);
  clock.Advance(std::chrono::milliseconds(1));
  std::string b = NewId("crt", clock, rnd);
  EXPECT_TRUE(IsValidId(a, "crt"));
  EXPECT_FALSE(IsValidId(a, "agt"));
  EXPECT_LT(a, b);
  EXPECT_FALSE(IsValidId("crt_../../etc/passwd", "crt"));
}

TEST(ValidateTest, DnsNames) {
  EXPECT_TRUE(ValidateDnsName("app.example.test").ok());
  EXPECT_TRUE(ValidateDnsName("*.example.test").ok());
  EXPECT_TRUE(ValidateDnsName("xn--bcher-kva.example").ok());
  EXPECT_FALSE(ValidateDnsName("*.example.test", false).ok());
  EXPECT_FALSE(ValidateDnsName("localhost").ok());
  EXPECT_FALSE(ValidateDnsName("a..b").ok());
  EXPECT_FALSE(ValidateDnsName("-a.b").ok());
  EXPECT_FALSE(ValidateDnsName("a_b.test").ok());
  EXPECT_FALSE(ValidateDnsName("a.*.test").ok());
  EXPECT_FALSE(ValidateDnsName("127.0.0.1").ok());
  EXPECT_FALSE(ValidateDnsName("ab--c.test").ok());
  EXPECT_FALSE(ValidateDnsName(std::string(64, 'a') + ".test").ok());
  EXPECT_FALSE(ValidateDnsName("x.test.").ok());
}

TEST(ValidateTest, NamesAndTags) {
  EXPECT_TRUE(ValidateName("name", "web-1.prod").ok());
  EXPECT_FALSE(ValidateName("name", "../x").ok());
  EXPECT_FALSE(ValidateName("name", "a b").ok());
  EXPECT_FALSE(ValidateName("name", "$(id)").ok());
  EXPECT_TRUE(ValidateTags({{"env", "dev"}, {"team/app", ""}}).ok());
  EXPECT_FALSE(ValidateTags({{"", "x"}}).ok());
  EXPECT_FALSE(ValidateTags({{"env", "a\nb"}}).ok());
}

TEST(LogTest, Escapes) { EXPECT_EQ(log::JsonEscape("a\"b\n\x01"), "a\\\"b\\n\\u0001"); }

TEST(IpTest, ParsesAndCanonicalizesLiterals) {
  EXPECT_EQ(CanonicalIp("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(CanonicalIp("2001:DB8:0:0::1"), "2001:db8::1");
  EXPECT_EQ(CanonicalIp("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");  // RFC 5952 4.2.3
  EXPECT_EQ(CanonicalIp("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
  for (const char* bad : {"", "example.com", "10.1", "010.1.2.3", "1.2.3.4.5", "256.1.1.1",
                          "fe80::1%eth0", "1.2.3.4/32", " 1.2.3.4", "1.2.3.4 "}) {
    EXPECT_FALSE(ParseIpLiteral(bad).has_value()) << bad;
  }
}

TEST(IpTest, CidrsContainAndOverlap) {
  auto n = Cidr::Parse("10.1.0.0/16");
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(n->Contains("10.1.2.3"));
  EXPECT_TRUE(n->Contains("::ffff:10.1.2.3"));
  EXPECT_FALSE(n->Contains("10.2.0.0"));
  EXPECT_TRUE(n->Overlaps(*Cidr::Parse("10.1.2.0/24")));
  EXPECT_TRUE(Cidr::Parse("10.1.2.0/24")->Overlaps(*n));
  EXPECT_TRUE(n->Overlaps(*Cidr::Parse("0.0.0.0/0")));
  EXPECT_FALSE(n->Overlaps(*Cidr::Parse("10.2.0.0/16")));
  EXPECT_FALSE(n->Overlaps(*Cidr::Parse("::/0")));
  EXPECT_EQ(Cidr::Parse("2001:DB8::/32")->ToString(), "2001:db8::/32");
  EXPECT_EQ(Cidr::Parse("192.0.2.7")->ToString(), "192.0.2.7/32");
  EXPECT_FALSE(Cidr::Parse("10.1.2.3/16").ok());
  EXPECT_FALSE(Cidr::Parse("10.0.0.0/33").ok());
}

}  // namespace
}  // namespace certfleet
