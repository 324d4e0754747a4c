// Beast-free parts of net: request accessors, percent-encoding and ParseUrl.
#include <gtest/gtest.h>

#include "net/http.h"
#include "net/https_client.h"

namespace certfleet::net {
namespace {

TEST(UrlCodingTest, EncodeKeepsOnlyUnreserved) {
  EXPECT_EQ(UrlEncode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(UrlEncode("a b/c?d&e=f"), "a%20b%2Fc%3Fd%26e%3Df");
  EXPECT_EQ(UrlEncode(std::string("\x00\xff", 2)), "%00%FF");
  EXPECT_EQ(UrlEncode(""), "");
}

TEST(UrlCodingTest, DecodeHandlesPlusEscapesAndErrors) {
  EXPECT_EQ(UrlDecode("a+b%20c%2f%2F"), "a b c//");
  EXPECT_EQ(UrlDecode("%00"), std::string(1, '\0'));
  EXPECT_EQ(UrlDecode(""), "");
  EXPECT_FALSE(UrlDecode("%"));
  EXPECT_FALSE(UrlDecode("%2"));
  EXPECT_FALSE(UrlDecode("%zz"));
  EXPECT_FALSE(UrlDecode("abc%g1"));
}

TEST(UrlCodingTest, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(UrlDecode(UrlEncode(all)), all);
}

TEST(HttpRequestTest, PathQueryAndHeader) {
  HttpRequest r;
  r.target = "/v1/certs?name=web%20one&flag&x=1&name=second&bad=%zz";
  r.headers["content-type"] = "application/json";
  EXPECT_EQ(r.path(), "/v1/certs");
  EXPECT_EQ(r.query("name"), "web one");  // the first one wins
  EXPECT_EQ(r.query("flag"), "");
  EXPECT_EQ(r.query("x"), "1");
  EXPECT_FALSE(r.query("missing"));
  EXPECT_FALSE(r.query("bad"));
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_FALSE(r.header("accept"));

  r.target = "/plain";
  EXPECT_EQ(r.path(), "/plain");
  EXPECT_FALSE(r.query("x"));
  r.target = "/p?a%3Db=c+d";
  EXPECT_EQ(r.query("a=b"), "c d");  // names are compared decoded
}

TEST(ParseUrlTest, AcceptsHttpsAndHttp) {
  auto u = ParseUrl("https://Example.TEST/v1/x?y=1#frag");
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "example.test");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/v1/x?y=1");

  u = ParseUrl("HTTP://127.0.0.1:8080");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/");

  u = ParseUrl("http://h?q=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->target, "/?q=1");
}

TEST(ParseUrlTest, AcceptsIpv6Literals) {
  auto u = ParseUrl("https://[::1]:8443/acme/dir");
  ASSERT_TRUE(u.ok()) << u.error().message();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/acme/dir");
  u = ParseUrl("https://[2001:DB8::5]");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "2001:db8::5");
  EXPECT_EQ(u->port, 443);
}

TEST(ParseUrlTest, RejectsBadUrls) {
  for (const char* bad : {
           "",
           "example.test/x",                 // no scheme
           "ftp://example.test/",            // scheme
           "https://user@example.test/",     // userinfo
           "https://u:p@example.test/",      // userinfo
           "https://example.test /x",        // space
           "https://example.test/a b",       // space in the path
           "https://example.test/\r\nX: y",  // CR/LF injection
           "https://example.test/\t",        // control
           "https://exämple.test/",          // non-ASCII
           "https:///path",                  // no host
           "https://:443/",                  // no host
           "https://example.test:/",         // empty port
           "https://example.test:0/",        // port 0
           "https://example.test:65536/",    // port range
           "https://example.test:12a/",      // port digits
           "https://[::1/",                  // unclosed literal
           "https://[not-v6]/",              // bad literal
           "https://[::1]x/",                // junk after literal
           "https://exa%6dple.test/",        // escapes in the host
       }) {
    auto u = ParseUrl(bad);
    EXPECT_FALSE(u.ok()) << bad;
    if (!u.ok()) {
      EXPECT_EQ(u.error().code(), ErrorCode::kInvalidArgument) << bad;
    }
  }
}

}  // namespace
}  // namespace certfleet::net
