#include "agent/modules/egress/egress_engine.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "agent/modules/egress/dns_message.h"
#include "agent/modules/egress/dns_test_util.h"
#include "agent/modules/egress/kernel_rules.h"
#include "agent/net/packet.h"
#include "testing/fake_clock.h"

namespace ward::agent::egress {
namespace {

using net::Ipv4;

uint16_t Get16(std::string_view b, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(b[at]) << 8) |
                               static_cast<uint8_t>(b[at + 1]));
}

uint16_t Checksum(std::string_view b, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < b.size(); i += 2) sum += Get16(b, i);
  if (b.size() % 2) sum += static_cast<uint32_t>(static_cast<uint8_t>(b.back())) << 8;
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xFFFF);
}

// An IPv4/UDP packet from the resolver 10.0.0.53:53 to the client 10.0.0.2:40000.
std::string UdpFromResolver(const std::string& dns) {
  std::string p(20, '\0');
  p[0] = 0x45;
  uint16_t total = static_cast<uint16_t>(28 + dns.size());
  p[2] = static_cast<char>(total >> 8);
  p[3] = static_cast<char>(total & 0xFF);
  p[8] = 64;
  p[9] = 17;
  const unsigned char src[4] = {10, 0, 0, 53}, dst[4] = {10, 0, 0, 2};
  std::memcpy(p.data() + 12, src, 4);
  std::memcpy(p.data() + 16, dst, 4);
  uint16_t c = Checksum(p);
  p[10] = static_cast<char>(c >> 8);
  p[11] = static_cast<char>(c & 0xFF);
  std::string udp = {0, 53, static_cast<char>(40000 >> 8), static_cast<char>(40000 & 0xFF)};
  uint16_t ulen = static_cast<uint16_t>(8 + dns.size());
  udp += {static_cast<char>(ulen >> 8), static_cast<char>(ulen & 0xFF), 0, 0};
  return p + udp + dns;
}

std::shared_ptr<const EgressRules> Rules(Mode mode, std::vector<std::string> block,
                                         std::vector<std::string> allow = {}) {
  EgressConfig c;
  c.mode = mode;
  c.block = std::move(block);
  c.allow = std::move(allow);
  auto r = LoadRules(c, RealFileSystem());
  EXPECT_TRUE(r.has_value());
  return *r;
}

std::string Tcp(const std::string& payload, const std::string& dst = "192.0.2.5",
                uint16_t dport = 443) {
  return net::BuildTcpPacket(Ipv4(10, 0, 0, 2), 41000, *net::ParseIp(dst), dport, 1000, 5000,
                             net::tcp_flag::kAck | net::tcp_flag::kPsh, payload);
}

TEST(EgressEngine, BlockedNameInPreventGetsNxDomainWithRightChecksums) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  std::string pkt = UdpFromResolver(
      test::DnsResponse(0x4242, "www.Blocked.example", kDnsTypeA, {{"", "192.0.2.5"}}));
  Decision d = engine.OnPacket(pkt, /*outbound=*/false, std::nullopt);
  ASSERT_EQ(d.verdict, Decision::Verdict::kAccept);
  ASSERT_FALSE(d.replace.empty());
  const std::string& r = d.replace;
  EXPECT_EQ(Checksum(std::string_view(r).substr(0, 20)), 0) << "IPv4 header checksum";
  EXPECT_EQ(Get16(r, 2), r.size());
  std::string pseudo = r.substr(12, 8) + std::string{0, 17} + r.substr(24, 2);
  EXPECT_EQ(
      Checksum(std::string_view(r).substr(20), 0) == 0 || Checksum(pseudo + r.substr(20)) == 0,
      true)
      << "UDP checksum";
  auto m = ParseDnsMessage(std::string_view(r).substr(28));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->id, 0x4242);
  EXPECT_EQ(m->rcode, kDnsRcodeNxDomain);
  EXPECT_TRUE(m->answers.empty());
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->Module(), "egress");
  EXPECT_EQ(d.event->GetString("destination.domain"), "www.blocked.example");
  EXPECT_EQ(d.event->GetString("egress.learned_by"), "dns");
  EXPECT_EQ(d.event->GetString("egress.list"), "policy.block");
  EXPECT_EQ(d.event->GetString("egress.entry"), "blocked.example");
  EXPECT_EQ(d.event->GetString("egress.verdict"), "blocked");
  EXPECT_EQ(d.event->GetString("dns.response_code"), "NXDOMAIN");
  EXPECT_FALSE(engine.NameOf("192.0.2.5")) << "a blocked name's address is not remembered";
}

// The same answer over IPv6 (from 2001:db8::53 to 2001:db8::2), UDP checksum filled in.
std::string Udp6FromResolver(const std::string& dns) {
  std::string p(40, '\0');
  p[0] = 0x60;
  uint16_t plen = static_cast<uint16_t>(8 + dns.size());
  p[4] = static_cast<char>(plen >> 8);
  p[5] = static_cast<char>(plen & 0xFF);
  p[6] = 17;
  p[7] = 64;
  ::inet_pton(AF_INET6, "2001:db8::53", p.data() + 8);
  ::inet_pton(AF_INET6, "2001:db8::2", p.data() + 24);
  std::string udp = {0,
                     53,
                     static_cast<char>(40000 >> 8),
                     static_cast<char>(40000 & 0xFF),
                     static_cast<char>(plen >> 8),
                     static_cast<char>(plen & 0xFF),
                     0,
                     0};
  std::string pseudo =
      p.substr(8, 32) +
      std::string{0, 0, static_cast<char>(plen >> 8), static_cast<char>(plen & 0xFF), 0, 0, 0, 17};
  uint16_t c = Checksum(pseudo + udp + dns);
  udp[6] = static_cast<char>(c >> 8);
  udp[7] = static_cast<char>(c & 0xFF);
  return p + udp + dns;
}

TEST(EgressEngine, NxDomainOverIpv6HasAValidUdpChecksum) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  Decision d = engine.OnPacket(Udp6FromResolver(test::DnsResponse(
                                   9, "blocked.example", kDnsTypeAaaa, {{"", "2001:db8::80"}})),
                               false, std::nullopt);
  ASSERT_FALSE(d.replace.empty());
  const std::string& r = d.replace;
  const uint16_t plen = Get16(r, 4);
  EXPECT_EQ(plen + 40u, r.size());
  std::string pseudo =
      r.substr(8, 32) +
      std::string{0, 0, static_cast<char>(plen >> 8), static_cast<char>(plen & 0xFF), 0, 0, 0, 17};
  EXPECT_EQ(Checksum(pseudo + r.substr(40)), 0) << "UDP checksum over the IPv6 pseudo-header";
  auto m = ParseDnsMessage(std::string_view(r).substr(48));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->rcode, kDnsRcodeNxDomain);
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->GetString("source.ip"), "2001:db8::53");
}

TEST(EgressEngine, BlockedSniOverIpv6IsResetWithIpv6Packets) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  std::string pkt = net::BuildTcpPacket(
      *net::ParseIp("2001:db8::2"), 41000, *net::ParseIp("2001:db8::80"), 443, 1000, 5000,
      net::tcp_flag::kAck, test::ClientHelloWith("blocked.example", false));
  Decision d = engine.OnPacket(pkt, true, std::nullopt);
  ASSERT_EQ(d.verdict, Decision::Verdict::kDrop);
  EXPECT_TRUE(d.send_v6);
  auto rst = net::DecodeIpTcp(d.send[0]);
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->dst.ToString(), "2001:db8::2");
  EXPECT_TRUE(rst->checksum_ok);
}

TEST(EgressEngine, DetectModeReportsWithoutChangingTheAnswer) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kDetect, {"blocked.example"}), clock);
  Decision d = engine.OnPacket(
      UdpFromResolver(test::DnsResponse(1, "blocked.example", kDnsTypeA, {{"", "192.0.2.5"}})),
      false, std::nullopt);
  EXPECT_TRUE(d.replace.empty());
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->GetString("egress.verdict"), "detected");
  EXPECT_EQ(engine.stats().detected, 1u);
}

TEST(EgressEngine, ABlockedCnameTargetBlocksTheAnswer) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"tracker.example"}), clock);
  Decision d = engine.OnPacket(
      UdpFromResolver(test::DnsResponse(1, "innocent.example", kDnsTypeA,
                                        {{"edge.tracker.example", ""}, {"", "192.0.2.7"}})),
      false, std::nullopt);
  ASSERT_TRUE(d.event);
  EXPECT_FALSE(d.replace.empty());
  EXPECT_EQ(d.event->GetString("egress.alias"), "edge.tracker.example");
}

TEST(EgressEngine, AllowedAnswersNameLaterFlows) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  Decision d = engine.OnPacket(
      UdpFromResolver(test::DnsResponse(1, "ok.example", kDnsTypeA, {{"", "192.0.2.9"}})), false,
      std::nullopt);
  EXPECT_FALSE(d.event);
  EXPECT_TRUE(d.replace.empty());
  EXPECT_EQ(engine.NameOf("192.0.2.9"), "ok.example");
  clock.Advance(std::chrono::hours(25));
  EXPECT_FALSE(engine.NameOf("192.0.2.9")) << "learned names expire";
}

// A segment of a DNS-over-TCP flow from the resolver 10.0.0.53:53 to the client 10.0.0.2:40000.
std::string TcpFromResolver(uint32_t seq, std::string_view bytes, uint8_t flags = 0) {
  return net::BuildTcpPacket(Ipv4(10, 0, 0, 53), 53, Ipv4(10, 0, 0, 2), 40000, seq, 777,
                             net::tcp_flag::kAck | net::tcp_flag::kPsh | flags, bytes);
}

std::string Framed(const std::string& message) {
  std::string out = {static_cast<char>(message.size() >> 8),
                     static_cast<char>(message.size() & 0xFF)};
  return out + message;
}

TEST(EgressEngineDnsTcp, ABlockedAnswerInOneSegmentIsRewrittenToNxDomainOfTheSameLength) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  // An allowed answer first on the same connection (a client asks for A and AAAA, say), then
  // the blocked one, in one segment each.
  const std::string ok = test::DnsResponse(1, "fine.example", kDnsTypeA, {{"", "192.0.2.7"}});
  const std::string bad = test::DnsResponse(2, "www.blocked.example", kDnsTypeA,
                                            {{"", "192.0.2.5"}, {"", "192.0.2.6"}});
  Decision d1 = engine.OnPacket(TcpFromResolver(5000, Framed(ok)), false, std::nullopt);
  EXPECT_EQ(d1.verdict, Decision::Verdict::kAccept);
  EXPECT_TRUE(d1.replace.empty());
  EXPECT_FALSE(d1.event);
  EXPECT_EQ(engine.NameOf("192.0.2.7"), "fine.example") << "learned over TCP as over UDP";

  const std::string pkt = TcpFromResolver(5000 + static_cast<uint32_t>(ok.size() + 2), Framed(bad));
  Decision d = engine.OnPacket(pkt, false, std::nullopt);
  ASSERT_EQ(d.verdict, Decision::Verdict::kAccept);
  ASSERT_EQ(d.replace.size(), pkt.size());
  auto seg = net::DecodeIpTcp(d.replace);
  ASSERT_TRUE(seg);
  EXPECT_TRUE(seg->checksum_ok);
  EXPECT_EQ(Checksum(std::string_view(d.replace).substr(0, 20)), 0) << "IPv4 header checksum";
  ASSERT_EQ(seg->payload.size(), bad.size() + 2);
  EXPECT_EQ(seg->payload.substr(0, 2), Framed(bad).substr(0, 2)) << "the length is kept";
  auto m = ParseDnsMessage(seg->payload.substr(2));
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->id, 2);
  EXPECT_EQ(m->rcode, kDnsRcodeNxDomain);
  EXPECT_TRUE(m->answers.empty());
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->GetString("network.transport"), "tcp");
  EXPECT_EQ(d.event->GetString("dns.response_code"), "NXDOMAIN");
  EXPECT_EQ(d.event->GetString("destination.domain"), "www.blocked.example");
  EXPECT_EQ(d.event->GetString("egress.learned_by"), "dns");
  ASSERT_TRUE(d.flow);
  EXPECT_EQ(d.flow->transport, "tcp");
  EXPECT_EQ(d.flow->local_port, 40000) << "the client's end: the answer's destination";
  EXPECT_EQ(d.flow->remote_port, 53);
  EXPECT_EQ(engine.stats().blocked, 1u);
  EXPECT_EQ(engine.stats().dns_answers, 2u);
}

TEST(EgressEngineDnsTcp, NxDomainOverIpv6HasAValidTcpChecksum) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  const std::string pkt = net::BuildTcpPacket(
      *net::ParseIp("2001:db8::53"), 53, *net::ParseIp("2001:db8::2"), 40000, 9, 777,
      net::tcp_flag::kAck | net::tcp_flag::kPsh,
      Framed(test::DnsResponse(4, "blocked.example", kDnsTypeAaaa, {{"", "2001:db8::5"}})));
  Decision d = engine.OnPacket(pkt, false, std::nullopt);
  ASSERT_EQ(d.replace.size(), pkt.size());
  auto seg = net::DecodeIpTcp(d.replace);
  ASSERT_TRUE(seg);
  EXPECT_TRUE(seg->checksum_ok);
  auto m = ParseDnsMessage(seg->payload.substr(2));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->rcode, kDnsRcodeNxDomain);
}

TEST(EgressEngineDnsTcp, ABlockedAnswerSplitOverSegmentsResetsBothEnds) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  const std::string flow =
      Framed(test::DnsResponse(9, "blocked.example", kDnsTypeA, {{"", "192.0.2.5"}}));
  // The handshake's SYN-ACK and the first part go on untouched.
  Decision syn =
      engine.OnPacket(net::BuildTcpPacket(Ipv4(10, 0, 0, 53), 53, Ipv4(10, 0, 0, 2), 40000, 4999,
                                          777, net::tcp_flag::kSyn | net::tcp_flag::kAck, {}),
                      false, std::nullopt);
  EXPECT_EQ(syn.verdict, Decision::Verdict::kAccept);
  Decision first = engine.OnPacket(TcpFromResolver(5000, flow.substr(0, 20)), false, std::nullopt);
  EXPECT_EQ(first.verdict, Decision::Verdict::kAccept);
  EXPECT_TRUE(first.replace.empty());
  EXPECT_FALSE(first.event);
  Decision last = engine.OnPacket(TcpFromResolver(5020, flow.substr(20)), false, std::nullopt);
  ASSERT_EQ(last.verdict, Decision::Verdict::kDrop);
  ASSERT_EQ(last.send.size(), 2u);
  auto to_client = net::DecodeIpTcp(last.send[0]);
  ASSERT_TRUE(to_client);
  EXPECT_EQ(to_client->src.ToString(), "10.0.0.53");
  EXPECT_EQ(to_client->dport, 40000);
  EXPECT_EQ(to_client->seq, 5020u) << "where the client expects the server's next byte";
  EXPECT_TRUE(to_client->flags & net::tcp_flag::kRst);
  auto to_server = net::DecodeIpTcp(last.send[1]);
  ASSERT_TRUE(to_server);
  EXPECT_EQ(to_server->dst.ToString(), "10.0.0.53");
  EXPECT_EQ(to_server->seq, 777u);
  EXPECT_EQ(to_server->ack, 5000u + flow.size());
  ASSERT_TRUE(last.event);
  EXPECT_EQ(last.event->Get("egress.reset"), true);

  // The server retransmits the first part together with the rest (a collapsed retransmission):
  // the whole answer is in one segment, but its first bytes reached the client already, so it is
  // reset too, never rewritten (the client would keep its old bytes and take the new ones after).
  EgressEngine again(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  (void)again.OnPacket(TcpFromResolver(5000, flow.substr(0, 20)), false, std::nullopt);
  Decision collapsed = again.OnPacket(TcpFromResolver(5000, flow), false, std::nullopt);
  EXPECT_EQ(collapsed.verdict, Decision::Verdict::kDrop);
  EXPECT_TRUE(collapsed.replace.empty());
  ASSERT_EQ(collapsed.send.size(), 2u);
  EXPECT_EQ(net::DecodeIpTcp(collapsed.send[0])->seq, 5020u)
      << "the client's reset is at the byte it expects next, not at the retransmission's start";
}

TEST(EgressEngineDnsTcp, DetectReportsAndChangesNothing) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kDetect, {"blocked.example"}), clock);
  const std::string pkt = TcpFromResolver(
      1, Framed(test::DnsResponse(3, "blocked.example", kDnsTypeA, {{"", "192.0.2.5"}})));
  Decision d = engine.OnPacket(pkt, false, std::nullopt);
  EXPECT_EQ(d.verdict, Decision::Verdict::kAccept);
  EXPECT_TRUE(d.replace.empty());
  EXPECT_TRUE(d.send.empty());
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->GetString("event.action"), "detected");
  // Other TCP traffic from port 53 that is not DNS is counted as malformed and passes.
  Decision junk = engine.OnPacket(net::BuildTcpPacket(Ipv4(10, 0, 0, 53), 53, Ipv4(10, 0, 0, 2),
                                                      40001, 1, 1, net::tcp_flag::kAck,
                                                      std::string("\x00\x03"
                                                                  "abc",
                                                                  5)),
                                  false, std::nullopt);
  EXPECT_EQ(junk.verdict, Decision::Verdict::kAccept);
  EXPECT_FALSE(junk.event);
  EXPECT_GE(engine.stats().malformed, 1u);
}

TEST(EgressEngine, BlockedSniIsDroppedAndResetBothWays) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  std::string hello = test::ClientHelloWith("api.blocked.example", false);
  Decision d = engine.OnPacket(Tcp(hello), true, 1001u);
  ASSERT_EQ(d.verdict, Decision::Verdict::kDrop);
  ASSERT_EQ(d.send.size(), 2u);
  auto to_client = net::DecodeIpTcp(d.send[0]);
  ASSERT_TRUE(to_client);
  EXPECT_EQ(to_client->dst.ToString(), "10.0.0.2");
  EXPECT_EQ(to_client->dport, 41000);
  EXPECT_EQ(to_client->seq, 5000u);
  EXPECT_EQ(to_client->ack, 1000u + hello.size());
  EXPECT_TRUE(to_client->flags & net::tcp_flag::kRst);
  auto to_server = net::DecodeIpTcp(d.send[1]);
  ASSERT_TRUE(to_server);
  EXPECT_EQ(to_server->dst.ToString(), "192.0.2.5");
  EXPECT_EQ(to_server->seq, 1000u);
  EXPECT_TRUE(to_server->flags & net::tcp_flag::kRst);
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->GetString("egress.learned_by"), "sni");
  EXPECT_EQ(d.event->GetString("tls.client.server_name"), "api.blocked.example");
  EXPECT_EQ(d.event->GetString("user.id"), "1001");
  EXPECT_EQ(d.event->GetString("destination.ip"), "192.0.2.5");
}

TEST(EgressEngine, BlockedUrlGetsA403PageAndTheServerAReset) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"http://files.example/malware/"}), clock);
  std::string req = "GET /malware/x.sh HTTP/1.1\r\nHost: files.example\r\n\r\n";
  Decision d = engine.OnPacket(Tcp(req, "192.0.2.5", 80), true, std::nullopt);
  ASSERT_EQ(d.verdict, Decision::Verdict::kDrop);
  ASSERT_EQ(d.send.size(), 2u);
  auto page = net::DecodeIpTcp(d.send[0]);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->payload.substr(0, 12), "HTTP/1.1 403");
  EXPECT_TRUE(page->flags & net::tcp_flag::kFin);
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->GetString("url.original"), "http://files.example/malware/x.sh");
  EXPECT_EQ(d.event->GetString("egress.learned_by"), "http");
  // Another path on the same host is not blocked: the list names a URL prefix.
  Decision ok = engine.OnPacket(
      Tcp("GET /index.html HTTP/1.1\r\nHost: files.example\r\n\r\n", "192.0.2.5", 80), true,
      std::nullopt);
  EXPECT_EQ(ok.verdict, Decision::Verdict::kMarkDecided);
  EXPECT_FALSE(ok.event);
}

TEST(EgressEngine, ASharedAddressIsNeverBlockedForABlockedName) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  // The blocked name and an allowed one resolve to the same (CDN) address.
  (void)engine.OnPacket(
      UdpFromResolver(test::DnsResponse(1, "blocked.example", kDnsTypeA, {{"", "192.0.2.80"}})),
      false, std::nullopt);
  (void)engine.OnPacket(
      UdpFromResolver(test::DnsResponse(2, "allowed.example", kDnsTypeA, {{"", "192.0.2.80"}})),
      false, std::nullopt);
  Decision tls = engine.OnPacket(Tcp(test::ClientHelloWith("allowed.example", false), "192.0.2.80"),
                                 true, std::nullopt);
  EXPECT_EQ(tls.verdict, Decision::Verdict::kMarkDecided);
  EXPECT_FALSE(tls.event);
  // A payload that names nothing (not TLS, not HTTP) to the shared address goes on.
  Decision raw = engine.OnPacket(Tcp("\x01\x02\x03 binary", "192.0.2.80"), true, std::nullopt);
  EXPECT_EQ(raw.verdict, Decision::Verdict::kMarkDecided);
  EXPECT_FALSE(raw.event);
  // The same address with the blocked SNI is blocked: the name decides, not the address.
  Decision bad = engine.OnPacket(Tcp(test::ClientHelloWith("blocked.example", false), "192.0.2.80"),
                                 true, std::nullopt);
  EXPECT_EQ(bad.verdict, Decision::Verdict::kDrop);
}

TEST(EgressEngine, IncompleteClientHelloLeavesTheFlowUndecided) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  std::string hello = test::ClientHelloWith("blocked.example", false);
  Decision d = engine.OnPacket(Tcp(hello.substr(0, 30)), true, std::nullopt);
  EXPECT_EQ(d.verdict, Decision::Verdict::kAccept);
  EXPECT_FALSE(d.event);
  Decision ack = engine.OnPacket(Tcp(""), true, std::nullopt);
  EXPECT_EQ(ack.verdict, Decision::Verdict::kAccept);
}

TEST(EgressEngine, AClientHelloSplitOverSegmentsIsReadWhole) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  std::string hello = test::ClientHelloWith("blocked.example", false);
  auto part = [&](size_t from, size_t to) {
    return net::BuildTcpPacket(Ipv4(10, 0, 0, 2), 41000, Ipv4(192, 0, 2, 5), 443,
                               1000 + static_cast<uint32_t>(from), 5000, net::tcp_flag::kAck,
                               hello.substr(from, to - from));
  };
  EXPECT_EQ(engine.OnPacket(part(0, 40), true, std::nullopt).verdict, Decision::Verdict::kAccept);
  EXPECT_EQ(engine.OnPacket(part(0, 40), true, std::nullopt).verdict, Decision::Verdict::kAccept)
      << "a retransmission";
  EXPECT_EQ(engine.OnPacket(part(20, 60), true, std::nullopt).verdict, Decision::Verdict::kAccept)
      << "overlapping, with new bytes";
  Decision d = engine.OnPacket(part(60, hello.size()), true, std::nullopt);
  ASSERT_EQ(d.verdict, Decision::Verdict::kDrop);
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->GetString("tls.client.server_name"), "blocked.example");
  // The reset to the server continues from the last segment, which it has not received.
  auto to_server = net::DecodeIpTcp(d.send[1]);
  ASSERT_TRUE(to_server);
  EXPECT_EQ(to_server->seq, 1060u);
}

TEST(EgressEngine, AllowListWinsAndDetectNeverDrops) {
  ward::test::FakeClock clock;
  EgressEngine prevent(Rules(Mode::kPrevent, {"example.org"}, {"good.example.org"}), clock);
  EXPECT_EQ(
      prevent.OnPacket(Tcp(test::ClientHelloWith("good.example.org", false)), true, std::nullopt)
          .verdict,
      Decision::Verdict::kMarkDecided);
  EXPECT_EQ(
      prevent.OnPacket(Tcp(test::ClientHelloWith("bad.example.org", false)), true, std::nullopt)
          .verdict,
      Decision::Verdict::kDrop);
  EgressEngine detect(Rules(Mode::kDetect, {"example.org"}), clock);
  Decision d =
      detect.OnPacket(Tcp(test::ClientHelloWith("bad.example.org", false)), true, std::nullopt);
  EXPECT_EQ(d.verdict, Decision::Verdict::kMarkDecided);
  EXPECT_TRUE(d.send.empty());
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->GetString("egress.verdict"), "detected");
}

TEST(EgressEngine, GarbageIsAcceptedAndCounted) {
  ward::test::FakeClock clock;
  EgressEngine engine(Rules(Mode::kPrevent, {"blocked.example"}), clock);
  for (std::string junk : {std::string("\x45"), std::string(20, '\x45'), std::string("\x60\x00"),
                           UdpFromResolver("short")}) {
    Decision d = engine.OnPacket(junk, false, std::nullopt);
    EXPECT_EQ(d.verdict, Decision::Verdict::kAccept);
    EXPECT_TRUE(d.replace.empty());
  }
  EXPECT_GE(engine.stats().malformed, 3u);
}

std::shared_ptr<const EgressRules> ServiceRulesFor(ServiceMode mode,
                                                   std::vector<std::string> allow = {}) {
  EgressConfig c;
  c.mode = Mode::kPrevent;
  c.block = {"blocked.example"};
  ServiceSpec s;
  s.id = "fetch";
  s.exe = "/usr/bin/fetcher";
  s.mode = mode;
  s.allow = std::move(allow);
  s.learn_for = std::chrono::minutes(10);
  c.services.push_back(s);
  auto r = LoadRules(c, RealFileSystem());
  EXPECT_TRUE(r.has_value());
  return *r;
}

// Every local port belongs to /usr/bin/fetcher, except port 41001 (another program).
std::optional<ProcessInfo> FakeOwner(const FlowKey& flow) {
  ProcessInfo o;
  o.attribution = Attribution::kEbpf;
  o.pid = 42;
  o.executable = flow.local_port == 41001 ? "/usr/bin/other" : "/usr/bin/fetcher";
  return o;
}

std::string TcpFrom(uint16_t sport, const std::string& payload, const std::string& dst) {
  return net::BuildTcpPacket(Ipv4(10, 0, 0, 2), sport, *net::ParseIp(dst), 443, 1000, 5000,
                             net::tcp_flag::kAck | net::tcp_flag::kPsh, payload);
}

TEST(EgressServices, LearnRecordsDestinationsAndProposesAnAllowList) {
  ward::test::FakeClock clock;
  EgressEngine engine(ServiceRulesFor(ServiceMode::kLearn), clock, &FakeOwner);
  EXPECT_TRUE(engine.TakeProposals().empty());
  Decision a =
      engine.OnPacket(TcpFrom(41000, test::ClientHelloWith("repo.example", false), "192.0.2.5"),
                      true, std::nullopt);
  EXPECT_EQ(a.verdict, Decision::Verdict::kMarkDecided);
  ASSERT_TRUE(a.event);
  EXPECT_EQ(a.event->GetString("event.action"), "destination_learned");
  EXPECT_EQ(a.event->GetString("egress.service.id"), "fetch");
  ASSERT_TRUE(a.owner);
  Decision again =
      engine.OnPacket(TcpFrom(41002, test::ClientHelloWith("repo.example", false), "192.0.2.5"),
                      true, std::nullopt);
  EXPECT_FALSE(again.event) << "each destination is reported once";
  (void)engine.OnPacket(TcpFrom(41003, "\x01binary", "198.51.100.9"), true, std::nullopt);
  (void)engine.OnPacket(TcpFrom(41001, test::ClientHelloWith("other.example", false), "192.0.2.5"),
                        true, std::nullopt);
  EXPECT_TRUE(engine.TakeProposals().empty()) << "not before the learning period ends";
  clock.Advance(std::chrono::minutes(11));
  auto proposals = engine.TakeProposals();
  ASSERT_EQ(proposals.size(), 1u);
  EXPECT_EQ(proposals[0].GetString("event.action"), "allowlist_proposed");
  EXPECT_EQ(proposals[0].Get("egress.proposed_allow"),
            nlohmann::json({"198.51.100.9:443", "repo.example:443"}));
  EXPECT_TRUE(engine.TakeProposals().empty()) << "proposed once";
}

TEST(EgressServices, PreventResetsWhatTheAllowListDoesNotCoverForThatServiceOnly) {
  ward::test::FakeClock clock;
  EgressEngine engine(ServiceRulesFor(ServiceMode::kPrevent, {"repo.example", "198.51.100.0/24"}),
                      clock, &FakeOwner);
  EXPECT_EQ(engine
                .OnPacket(TcpFrom(41000, test::ClientHelloWith("mirror.repo.example", false),
                                  "192.0.2.5"),
                          true, std::nullopt)
                .verdict,
            Decision::Verdict::kMarkDecided);
  EXPECT_EQ(
      engine.OnPacket(TcpFrom(41000, "\x01binary", "198.51.100.9"), true, std::nullopt).verdict,
      Decision::Verdict::kMarkDecided);
  Decision out =
      engine.OnPacket(TcpFrom(41000, test::ClientHelloWith("exfil.example", false), "192.0.2.5"),
                      true, std::nullopt);
  EXPECT_EQ(out.verdict, Decision::Verdict::kDrop);
  EXPECT_EQ(out.send.size(), 2u);
  ASSERT_TRUE(out.event);
  EXPECT_EQ(out.event->GetString("egress.list"), "service:fetch");
  EXPECT_EQ(out.event->GetString("egress.verdict"), "blocked");
  // Another program is not bound by the service's allow-list.
  EXPECT_EQ(
      engine
          .OnPacket(TcpFrom(41001, test::ClientHelloWith("exfil.example", false), "192.0.2.5"),
                    true, std::nullopt)
          .verdict,
      Decision::Verdict::kMarkDecided);
}

TEST(EgressServices, AllowListEntriesWithPortsCoverOnlyThosePorts) {
  ward::test::FakeClock clock;
  EgressEngine engine(
      ServiceRulesFor(ServiceMode::kPrevent, {"api.example:443", "198.51.100.0/24:5000-5999",
                                              "[2001:db8::/32]:443", "any.example"}),
      clock, &FakeOwner);
  auto to = [&](const std::string& payload, const std::string& dst, uint16_t dport) {
    return engine
        .OnPacket(
            net::BuildTcpPacket(
                *net::ParseIp(dst.find(':') != std::string::npos ? "2001:db8:1::2" : "10.0.0.2"),
                41000, *net::ParseIp(dst), dport, 1000, 5000,
                net::tcp_flag::kAck | net::tcp_flag::kPsh, payload),
            true, std::nullopt)
        .verdict;
  };
  const auto allowed = Decision::Verdict::kMarkDecided;
  const auto reset = Decision::Verdict::kDrop;
  const std::string api = test::ClientHelloWith("api.example", false);
  EXPECT_EQ(to(api, "192.0.2.5", 443), allowed);
  EXPECT_EQ(to(api, "192.0.2.5", 8443), reset) << "the name on another port";
  EXPECT_EQ(to("\x01binary", "198.51.100.9", 5000), allowed);
  EXPECT_EQ(to("\x01binary", "198.51.100.9", 5999), allowed);
  EXPECT_EQ(to("\x01binary", "198.51.100.9", 6000), reset);
  EXPECT_EQ(to("\x01binary", "198.51.100.9", 4999), reset);
  EXPECT_EQ(to("\x01binary", "2001:db8::7", 443), allowed);
  EXPECT_EQ(to("\x01binary", "2001:db8::7", 80), reset);
  const std::string any = test::ClientHelloWith("www.any.example", false);
  EXPECT_EQ(to(any, "192.0.2.5", 443), allowed) << "no port: every port";
  EXPECT_EQ(to(any, "192.0.2.5", 8443), allowed);
}

TEST(EgressServices, LearnProposesIpv6AddressesBracketedWithTheirPort) {
  ward::test::FakeClock clock;
  EgressEngine engine(ServiceRulesFor(ServiceMode::kLearn), clock, &FakeOwner);
  Decision d = engine.OnPacket(
      net::BuildTcpPacket(*net::ParseIp("2001:db8:1::2"), 41000, *net::ParseIp("2001:db8::7"), 8443,
                          1, 1, net::tcp_flag::kAck | net::tcp_flag::kPsh, "\x01binary"),
      true, std::nullopt);
  ASSERT_TRUE(d.event);
  clock.Advance(std::chrono::minutes(11));
  auto proposals = engine.TakeProposals();
  ASSERT_EQ(proposals.size(), 1u);
  const auto proposed = proposals[0].Get("egress.proposed_allow");
  EXPECT_EQ(proposed, nlohmann::json({"[2001:db8::7]:8443"}));
  // What is proposed is accepted as it is.
  EgressConfig c;
  ServiceSpec s;
  s.id = "fetch";
  s.exe = "/usr/bin/fetcher";
  s.mode = ServiceMode::kPrevent;
  s.allow = {proposed[0].get<std::string>()};
  c.services.push_back(s);
  EXPECT_TRUE(LoadRules(c, RealFileSystem()).has_value());
}

TEST(EgressServices, DetectReportsWithoutResetting) {
  ward::test::FakeClock clock;
  EgressEngine engine(ServiceRulesFor(ServiceMode::kDetect, {"repo.example"}), clock, &FakeOwner);
  Decision d =
      engine.OnPacket(TcpFrom(41000, test::ClientHelloWith("exfil.example", false), "192.0.2.5"),
                      true, std::nullopt);
  EXPECT_EQ(d.verdict, Decision::Verdict::kMarkDecided);
  EXPECT_TRUE(d.send.empty());
  ASSERT_TRUE(d.event);
  EXPECT_EQ(d.event->GetString("egress.verdict"), "detected");
}

TEST(KernelRules, QueueOnlyTheFirstPacketsOfUndecidedFlows) {
  EgressConfig c;
  c.queue = 41;
  auto rules = QueueRules(c);
  std::string all;
  for (const auto& r : rules) {
    for (const auto& a : r.args) all += a + " ";
    all += "\n";
  }
  EXPECT_NE(all.find("-m connmark --mark 0x400000/0x400000 -j RETURN"), std::string::npos) << all;
  EXPECT_NE(all.find("-j CONNMARK --set-xmark 0x400000/0x400000"), std::string::npos);
  EXPECT_NE(all.find("--dport 443 ! --syn -m connbytes --connbytes 0:8"), std::string::npos);
  EXPECT_NE(all.find("--dport 80 "), std::string::npos);
  EXPECT_NE(all.find("-p udp --sport 53 -j NFQUEUE --queue-num 41 --queue-bypass"),
            std::string::npos);
  EXPECT_NE(all.find("-p tcp --sport 53 -m connbytes --connbytes 0:16 --connbytes-dir reply "
                     "--connbytes-mode packets -j NFQUEUE --queue-num 41 --queue-bypass"),
            std::string::npos)
      << all;
  c.fail_open = false;
  c.dns = false;
  all.clear();
  for (const auto& r : QueueRules(c)) {
    for (const auto& a : r.args) all += a + " ";
  }
  EXPECT_EQ(all.find("--queue-bypass"), std::string::npos);
  EXPECT_EQ(all.find("udp"), std::string::npos);
  EXPECT_EQ(all.find("--sport 53"), std::string::npos);
}

TEST(KernelRules, CidrTableDropsOnlyInPrevent) {
  auto prevent = Rules(Mode::kPrevent, {"203.0.113.0/24", "2001:db8:bad::/48"}, {"203.0.113.7"});
  std::string t = CidrTableText(*prevent);
  EXPECT_NE(t.find("table inet ward_egress {"), std::string::npos);
  EXPECT_NE(t.find("elements = { 203.0.113.0/24 }"), std::string::npos) << t;
  EXPECT_NE(t.find("elements = { 2001:db8:bad::/48 }"), std::string::npos) << t;
  EXPECT_NE(t.find("elements = { 203.0.113.7/32 }"), std::string::npos) << t;
  EXPECT_NE(t.find("ip daddr @block4 counter drop"), std::string::npos) << t;
  auto detect = Rules(Mode::kDetect, {"203.0.113.0/24"});
  t = CidrTableText(*detect);
  EXPECT_EQ(t.find("drop"), std::string::npos) << t;
}

}  // namespace
}  // namespace ward::agent::egress
