#include "net/address_policy.h"

#include <gtest/gtest.h>

namespace certfleet::net {
namespace {

TEST(AddressPolicy, ClassifiesNonPublicAddresses) {
  for (const char* ip :
       {"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fd00::1", "fe80::1",
        "::ffff:127.0.0.1", "64:ff9b::a00:1", "2001:db8::1", "not-an-ip", ""}) {
    EXPECT_TRUE(IsNonPublicAddress(ip)) << ip;
  }
  for (const char* ip : {"8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"}) {
    EXPECT_FALSE(IsNonPublicAddress(ip)) << ip;
  }
}

TEST(AddressPolicy, ParsesAndMatchesCidrs) {
  auto n = Cidr::Parse("10.1.0.0/16");
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(n->ToString(), "10.1.0.0/16");
  EXPECT_TRUE(n->Contains("10.1.0.0"));
  EXPECT_TRUE(n->Contains("10.1.255.254"));
  EXPECT_FALSE(n->Contains("10.2.0.1"));
  EXPECT_FALSE(n->Contains("11.1.0.1"));
  EXPECT_TRUE(n->Contains("::ffff:10.1.3.4"));  // IPv4-mapped: judged by its IPv4 part
  EXPECT_FALSE(n->Contains("::1"));
  EXPECT_FALSE(n->Contains("garbage"));

  auto odd = Cidr::Parse("172.16.0.0/12");
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(odd->Contains("172.31.255.255"));
  EXPECT_FALSE(odd->Contains("172.32.0.0"));

  auto host = Cidr::Parse("127.0.0.1");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->ToString(), "127.0.0.1/32");
  EXPECT_TRUE(host->Contains("127.0.0.1"));
  EXPECT_FALSE(host->Contains("127.0.0.2"));

  auto v6 = Cidr::Parse("fd00::/8");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->Contains("fd12:3456::1"));
  EXPECT_FALSE(v6->Contains("fe80::1"));
  EXPECT_FALSE(v6->Contains("10.0.0.1"));
  auto loop6 = Cidr::Parse("::1/128");
  ASSERT_TRUE(loop6.ok());
  EXPECT_TRUE(loop6->Contains("::1"));
  EXPECT_FALSE(loop6->Contains("::2"));
  auto all = Cidr::Parse("0.0.0.0/0");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Contains("203.0.113.9"));

  for (const char* bad : {"", "10.1.0.0/", "10.1.0.0/33", "10.1.0.0/-1", "10.1.0.0/1x", "::/129",
                          "example.com/8", "10.1.2.3/16", "fd00::1/8", "10.0.0.0/8/8"}) {
    EXPECT_FALSE(Cidr::Parse(bad).ok()) << bad;
  }
}

std::vector<Cidr> Nets(std::initializer_list<const char*> texts) {
  std::vector<Cidr> out;
  for (const char* t : texts) out.push_back(*Cidr::Parse(t));
  return out;
}

TEST(AddressPolicy, DefaultAllowsNoPrivateNetworkForAnybody) {
  OutboundPolicy none;
  EXPECT_FALSE(none.AllowsPrivate("default"));
  EXPECT_FALSE(none.Allows("default", "127.0.0.1"));
  EXPECT_FALSE(none.Allows("team-a", "10.0.0.1"));
  EXPECT_FALSE(none.Allows("team-a", "169.254.169.254"));
  EXPECT_TRUE(none.Allows("team-a", "8.8.8.8"));
}

TEST(AddressPolicy, RulesAllowTheirNetworksToTheirAccountsOnly) {
  OutboundPolicy p({{.accounts = {"team-a"}, .networks = Nets({"10.1.0.0/16"})},
                    {.accounts = {"*"}, .networks = Nets({"127.0.0.0/8", "::1/128"})},
                    {.accounts = {"team-b", "team-c"}, .networks = Nets({"192.168.7.0/24"})}});
  EXPECT_TRUE(p.Allows("team-a", "10.1.2.3"));
  EXPECT_FALSE(p.Allows("team-b", "10.1.2.3"));
  EXPECT_FALSE(p.Allows("team-a", "10.2.0.1"));  // private, but outside team-a's network
  EXPECT_TRUE(p.Allows("anyone", "127.0.0.1"));
  EXPECT_TRUE(p.Allows("anyone", "::1"));
  EXPECT_TRUE(p.Allows("team-c", "192.168.7.9"));
  EXPECT_FALSE(p.Allows("team-a", "192.168.7.9"));
  EXPECT_TRUE(p.Allows("team-b", "1.1.1.1"));  // public stays public
  EXPECT_EQ(p.NetworksFor("team-a").size(), 3u);
  auto filter = p.FilterFor("team-b");
  EXPECT_TRUE(filter("192.168.7.1"));
  EXPECT_FALSE(filter("169.254.169.254"));
}

TEST(AddressPolicy, RefusalIsGenericAndNamesTheRule) {
  Error e = PrivateDestinationRefused("webhook host hooks.internal");
  EXPECT_EQ(e.code(), ErrorCode::kForbidden);
  EXPECT_NE(e.message().find("rule network.private_not_allowed"), std::string::npos);
  OutboundPolicy none;
  Status s = CheckHost("127.0.0.1", none.FilterFor("team-a"), "webhook host 127.0.0.1");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kForbidden);
  Status named = CheckHost("localhost", none.FilterFor("team-a"), "webhook host localhost");
  ASSERT_FALSE(named.ok());
  // The message is the same whatever the name resolved to: no address in it.
  EXPECT_EQ(named.error().message().find("127.0.0.1"), std::string::npos);
  EXPECT_TRUE(CheckHost("8.8.8.8", none.FilterFor("team-a"), "x").ok());
  OutboundPolicy loop({{.accounts = {"*"}, .networks = Nets({"127.0.0.0/8", "::1/128"})}});
  EXPECT_TRUE(CheckHost("127.0.0.1", loop.FilterFor("team-a"), "x").ok());
}

}  // namespace
}  // namespace certfleet::net
