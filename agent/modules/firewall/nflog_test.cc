#include "agent/modules/firewall/nflog.h"

#include <gtest/gtest.h>

#include <vector>

namespace ward::agent::firewall {
namespace {

std::vector<uint8_t> Ipv4(uint8_t proto, uint16_t sport, uint16_t dport) {
  std::vector<uint8_t> p = {0x45, 0, 0,  40, 0, 0, 0x40, 0, 64, proto,
                            0,    0, 10, 0,  0, 1, 192,  0, 2,  7};
  p.insert(p.end(), {static_cast<uint8_t>(sport >> 8), static_cast<uint8_t>(sport),
                     static_cast<uint8_t>(dport >> 8), static_cast<uint8_t>(dport), 0, 0, 0, 0});
  return p;
}

TEST(FirewallNflog, ParsesThePrefixAndTheFiveTuple) {
  auto p = ParseLoggedPacket("ward:d:no-telnet", Ipv4(6, 40000, 23));
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->kind, LogKind::kDenied);
  EXPECT_EQ(p->rule_id, "no-telnet");
  EXPECT_EQ(p->protocol, "tcp");
  EXPECT_EQ(p->src_ip, "10.0.0.1");
  EXPECT_EQ(p->dst_ip, "192.0.2.7");
  EXPECT_EQ(p->src_port, 40000);
  EXPECT_EQ(p->dst_port, 23);
  auto u = ParseLoggedPacket("ward:w:default-inbound", Ipv4(17, 53, 5353));
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->kind, LogKind::kWouldDeny);
  EXPECT_EQ(u->protocol, "udp");
  EXPECT_EQ(u->dst_port, 5353);
  auto i = ParseLoggedPacket("ward:l:ping", Ipv4(1, 0x0800, 0));
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(i->kind, LogKind::kLogged);
  EXPECT_EQ(i->src_port, 0);  // no ports for ICMP
}

TEST(FirewallNflog, ParsesIpv6WithAnExtensionHeader) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x60;
  p[6] = 0;  // hop-by-hop first
  p[8] = 0x20, p[9] = 0x01, p[10] = 0x0d, p[11] = 0xb8, p[23] = 1;
  p[24] = 0x20, p[25] = 0x01, p[26] = 0x0d, p[27] = 0xb8, p[39] = 2;
  p.insert(p.end(), {6, 0, 0, 0, 0, 0, 0, 0});  // hop-by-hop: next tcp, 8 bytes
  p.insert(p.end(), {0x1f, 0x90, 0x00, 0x50});
  auto r = ParseLoggedPacket("ward:d:x", p);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(r->v6);
  EXPECT_EQ(r->src_ip, "2001:db8::1");
  EXPECT_EQ(r->dst_ip, "2001:db8::2");
  EXPECT_EQ(r->src_port, 8080);
  EXPECT_EQ(r->dst_port, 80);
}

TEST(FirewallNflog, RefusesWhatIsNotWardsOrIsTruncated) {
  EXPECT_FALSE(ParseLoggedPacket("iptables: ", Ipv4(6, 1, 2)).has_value());
  EXPECT_FALSE(ParseLoggedPacket("ward:x:rule", Ipv4(6, 1, 2)).has_value());
  EXPECT_FALSE(ParseLoggedPacket("ward:d:", Ipv4(6, 1, 2)).has_value());
  EXPECT_FALSE(ParseLoggedPacket("ward:d:a b", Ipv4(6, 1, 2)).has_value());
  auto v4 = Ipv4(6, 1, 2);
  EXPECT_FALSE(ParseLoggedPacket("ward:d:r", std::span(v4.data(), 19)).has_value());
  v4[0] = 0x4f;  // header longer than the packet
  EXPECT_FALSE(ParseLoggedPacket("ward:d:r", v4).has_value());
  std::vector<uint8_t> v6(30, 0);
  v6[0] = 0x60;
  EXPECT_FALSE(ParseLoggedPacket("ward:d:r", v6).has_value());
  // Ports cut off: the addresses are still reported.
  auto cut = Ipv4(6, 1, 2);
  auto r = ParseLoggedPacket("ward:d:r", std::span(cut.data(), 22));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->src_port, 0);
}

}  // namespace
}  // namespace ward::agent::firewall
