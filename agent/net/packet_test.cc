#include "agent/net/packet.h"

#include <gtest/gtest.h>

namespace ward::net {
namespace {

TEST(NetPacket, BuiltIpv4PacketDecodesToTheSameSegment) {
  std::string p = BuildTcpPacket(Ipv4(10, 0, 0, 1), 40000, Ipv4(10, 0, 0, 2), 80, 123, 456,
                                 tcp_flag::kAck | tcp_flag::kPsh, "GET / HTTP/1.1\r\n\r\n");
  auto s = DecodeIpTcp(p);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->src.ToString(), "10.0.0.1");
  EXPECT_EQ(s->dst.ToString(), "10.0.0.2");
  EXPECT_EQ(s->sport, 40000);
  EXPECT_EQ(s->dport, 80);
  EXPECT_EQ(s->seq, 123u);
  EXPECT_EQ(s->ack, 456u);
  EXPECT_EQ(s->payload, "GET / HTTP/1.1\r\n\r\n");
}

TEST(NetPacket, Ipv6PacketDecodes) {
  auto a = ParseIp("2001:db8::1");
  auto b = ParseIp("2001:db8::2");
  ASSERT_TRUE(a && b);
  std::string p = BuildTcpPacket(*a, 1234, *b, 8080, 1, 2, tcp_flag::kSyn, "");
  auto s = DecodeIpTcp(p);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->dst.ToString(), "2001:db8::2");
  EXPECT_EQ(s->dport, 8080);
  EXPECT_EQ(s->flags, tcp_flag::kSyn);
}

TEST(NetPacket, TruncatedAndNonTcpPacketsAreRejected) {
  std::string p = BuildTcpPacket(Ipv4(1, 2, 3, 4), 1, Ipv4(5, 6, 7, 8), 80, 1, 1, 0, "data");
  for (size_t n = 0; n < p.size(); ++n) {
    EXPECT_FALSE(DecodeIpTcp(std::string_view(p).substr(0, n)).has_value()) << n;
  }
  std::string udp = p;
  udp[9] = 17;
  EXPECT_FALSE(DecodeIpTcp(udp).has_value());
  std::string frag = p;
  frag[6] = 0x20;  // more fragments
  EXPECT_FALSE(DecodeIpTcp(frag).has_value());
}

TEST(NetPacket, EthernetAndCookedFramesYieldTheIpPacket) {
  std::string ip = BuildTcpPacket(Ipv4(1, 2, 3, 4), 1, Ipv4(5, 6, 7, 8), 80, 1, 1, 0, "x");
  std::string eth(12, '\0');
  eth += std::string("\x08\x00", 2) + ip;
  auto got = IpFromFrame(1, eth);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, ip);
  std::string sll(14, '\0');
  sll += std::string("\x08\x00", 2) + ip;
  ASSERT_TRUE(IpFromFrame(113, sll).has_value());
  EXPECT_FALSE(IpFromFrame(1, "short").has_value());
  std::string arp(12, '\0');
  arp += std::string("\x08\x06", 2) + ip;
  EXPECT_FALSE(IpFromFrame(1, arp).has_value());
}

}  // namespace
}  // namespace ward::net
