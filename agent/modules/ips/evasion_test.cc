// Inspect exactly what the server will receive: urgent data, segments the receiver discards,
// retransmissions that differ, HTTP/0.9 request lines, framing disagreements (docs/ips.md,
// "What Ward inspects: the receiver's view").
#include <gtest/gtest.h>

#include <fstream>

#include "agent/modules/ips/http_connection.h"
#include "agent/modules/ips/ips_engine.h"
#include "agent/modules/ips/tcp_stream.h"
#include "agent/net/test_packets.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace ward::agent::ips {
namespace {

using net::BuildTcpPacket;
using net::DecodeIpTcp;
using net::Ipv4;
using net::ParseIp;
using net::test::Conversation;

// --- Packets: checksums and the urgent pointer ---

TEST(PacketReceiverView, ChecksumsAndTheUrgentPointerAreDecoded) {
  for (bool v6 : {false, true}) {
    IpAddress a = v6 ? *ParseIp("2001:db8::1") : Ipv4(10, 0, 0, 1);
    IpAddress b = v6 ? *ParseIp("2001:db8::2") : Ipv4(10, 0, 0, 2);
    std::string p =
        BuildTcpPacket(a, 40000, b, 80, 7, 9, tcp_flag::kAck | tcp_flag::kUrg, "GET /x", 65535, 3);
    auto s = DecodeIpTcp(p);
    ASSERT_TRUE(s.has_value());
    EXPECT_TRUE(s->checksum_ok);
    EXPECT_EQ(s->urgent, 3);
    EXPECT_NE(s->flags & tcp_flag::kUrg, 0);
    std::string bad = p;
    bad.back() ^= 0x20;  // one payload bit
    s = DecodeIpTcp(bad);
    ASSERT_TRUE(s.has_value());
    EXPECT_FALSE(s->checksum_ok);
    EXPECT_EQ(s->payload, "GET /X");
    if (!v6) {
      std::string bad_ip = p;
      bad_ip[8] = 1;  // TTL changed, IPv4 header checksum not: every receiver drops it
      EXPECT_FALSE(DecodeIpTcp(bad_ip).has_value());
      bad_ip[10] = bad_ip[11] = 0;  // not filled in (a capture before the NIC): decoded
      EXPECT_TRUE(DecodeIpTcp(bad_ip).has_value());
    }
  }
}

// --- TcpStream: the receiver's view ---

TEST(TcpStreamReceiverView, TheUrgentByteIsNotInTheStream) {
  BufferBudget budget{1 << 20, 0};
  TcpStream s(&budget, 1 << 16);
  s.Start(100);
  std::string out;
  s.Urgent(101);  // "X": Linux, tcp_stdurg=0, no SO_OOBINLINE, reads "OR"
  s.Add(100, "OX", &out);
  s.Add(102, "R", &out);
  EXPECT_EQ(out, "OR");
  EXPECT_EQ(s.urgent_removed(), 1u);
  // A pointer at bytes already delivered is ignored; one ahead waits for its byte.
  s.Urgent(100);
  s.Urgent(105);
  out.clear();
  s.Add(103, "abcd", &out);
  EXPECT_EQ(out, "abd");
  // A newer pointer replaces an older one whose byte has not arrived.
  s.Urgent(110);
  s.Urgent(112);
  out.clear();
  s.Add(107, "0123456", &out);
  EXPECT_EQ(out, "012346");
}

TEST(TcpStreamReceiverView, RetransmissionsThatDifferFromInspectedBytesAreCountedAndRefused) {
  BufferBudget budget{1 << 20, 0};
  TcpStream s(&budget, 1 << 16);
  s.Start(0);
  std::string out;
  EXPECT_EQ(s.Add(0, "GET /harmless", &out, true), TcpStream::AddResult::kInOrder);
  EXPECT_EQ(s.Add(0, "GET /harmless", &out, true), TcpStream::AddResult::kDuplicate);
  EXPECT_EQ(s.differing(), 0u);
  EXPECT_EQ(s.Add(5, "wardevil", &out, true), TcpStream::AddResult::kConflict);
  EXPECT_EQ(s.differing(), 1u);
  // Part old (different), part new: still refused, nothing delivered.
  EXPECT_EQ(s.Add(9, "XXXXmore", &out, true), TcpStream::AddResult::kConflict);
  EXPECT_EQ(out, "GET /harmless");
  // Without refuse_conflicts (detect mode) it is counted and the first bytes stay.
  EXPECT_EQ(s.Add(9, "XXXXmore", &out), TcpStream::AddResult::kInOrder);
  EXPECT_EQ(out, "GET /harmlessmore");
  EXPECT_EQ(s.differing(), 3u);
}

TEST(TcpStreamReceiverView, DeliveredBytesAreKeptUntilAcknowledgedWithinTheBudget) {
  BufferBudget budget{64, 0};
  TcpStream s(&budget, 16);
  s.Start(0);
  std::string out;
  s.Add(0, "0123456789", &out);
  EXPECT_EQ(budget.used, 10u);  // kept for comparison
  s.Acked(4);                   // the receiver has 0..3
  EXPECT_EQ(budget.used, 6u);
  // Bytes no longer kept cannot be compared (the receiver has them anyway).
  EXPECT_EQ(s.Add(0, "ab", &out, true), TcpStream::AddResult::kDuplicate);
  EXPECT_EQ(s.Add(4, "ab", &out, true), TcpStream::AddResult::kConflict);
  // At most half the shared budget and `limit` per direction are kept.
  s.Add(10, std::string(40, 'x'), &out);
  EXPECT_LE(budget.used, 32u);
  s.Acked(50);
  EXPECT_EQ(budget.used, 0u);
  s.Clear();
  EXPECT_EQ(budget.used, 0u);
}

// --- Framing (RFC 9112 6.3) ---

RequestHead Head(std::string version, HeaderList headers) {
  RequestHead h;
  h.method = "POST";
  h.uri = "/";
  h.version = std::move(version);
  h.headers = std::move(headers);
  return h;
}

TEST(Framing, FollowsRfc9112AndNamesWhatIsAmbiguousOrInvalid) {
  using K = Framing::Kind;
  EXPECT_EQ(CheckFraming(Head("1.1", {{"Content-Length", "5"}}), "").kind, K::kClean);
  EXPECT_EQ(CheckFraming(Head("1.1", {{"Transfer-Encoding", "chunked"}}), "").kind, K::kClean);
  EXPECT_EQ(CheckFraming(Head("1.1", {{"Transfer-Encoding", "gzip, chunked"}}), "").kind,
            K::kClean);
  auto cl_te =
      CheckFraming(Head("1.1", {{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}), "");
  EXPECT_EQ(cl_te.kind, K::kAmbiguous);
  EXPECT_NE(cl_te.reason.find("Content-Length with Transfer-Encoding"), std::string::npos);
  EXPECT_EQ(CheckFraming(Head("1.1", {{"Transfer-Encoding", "chunked, identity"}}), "").kind,
            K::kInvalid);
  EXPECT_EQ(CheckFraming(Head("1.1", {{"Transfer-Encoding", "identity"}}), "").kind, K::kInvalid);
  EXPECT_EQ(
      CheckFraming(
          Head("1.1", {{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}), "")
          .kind,
      K::kInvalid);
  EXPECT_EQ(CheckFraming(Head("1.0", {{"Transfer-Encoding", "chunked"}}), "").kind, K::kInvalid);
  EXPECT_EQ(CheckFraming(Head("1.1", {{"Content-Length", "5"}, {"Content-Length", "5"}}), "").kind,
            K::kAmbiguous);
  EXPECT_EQ(CheckFraming(Head("1.1", {{"Content-Length", "5, 5"}}), "").kind, K::kAmbiguous);
  EXPECT_EQ(CheckFraming(Head("1.1", {{"Content-Length", "5"}, {"Content-Length", "6"}}), "").kind,
            K::kInvalid);
  for (const char* bad : {"-5", "+5", "0x10", "", "5 5", "99999999999999999999"}) {
    EXPECT_EQ(CheckFraming(Head("1.1", {{"Content-Length", bad}}), "").kind, K::kInvalid) << bad;
  }
  // The raw head: obs-fold, whitespace before a colon, bare CR. Bare LF line ends are accepted
  // (RFC 9112 2.2, nginx).
  EXPECT_EQ(CheckFraming(Head("1.1", {}), "POST / HTTP/1.1\r\nA: b\r\n c\r\n\r\n").kind,
            K::kAmbiguous);
  EXPECT_EQ(CheckFraming(Head("1.1", {}), "POST / HTTP/1.1\r\nA : b\r\n\r\n").kind, K::kAmbiguous);
  EXPECT_EQ(CheckFraming(Head("1.1", {}), "POST / HTTP/1.1\r\nA: b\rC: d\r\n\r\n").kind,
            K::kInvalid);
  EXPECT_EQ(CheckFraming(Head("1.1", {}), "POST / HTTP/1.1\nA: b\n\n").kind, K::kClean);
  // Only the head counts: the body after the empty line may hold anything.
  EXPECT_EQ(CheckFraming(Head("1.1", {}), "\r\nPOST / HTTP/1.1\r\nA: b\r\n\r\n x\ry : z").kind,
            K::kClean);
}

TEST(Framing, Http09RequestLines) {
  std::string m, u;
  EXPECT_EQ(Http09LineLength("GET /x\r\nrest", &m, &u), 8u);
  EXPECT_EQ(m, "GET");
  EXPECT_EQ(u, "/x");
  EXPECT_EQ(Http09LineLength("\r\nGET  /y\n", &m, &u), 10u);
  EXPECT_EQ(u, "/y");
  EXPECT_EQ(Http09LineLength("GET /x", nullptr, nullptr), 0u);  // no line end yet
  EXPECT_EQ(Http09LineLength("GET /x HTTP/1.1\r\n", nullptr, nullptr), 0u);
  EXPECT_EQ(Http09LineLength("GET\r\n", nullptr, nullptr), 0u);
  EXPECT_EQ(Http09LineLength("get /x\r\n", nullptr, nullptr), 0u);
}

// --- The engine ---

constexpr std::string_view kMarkerRules =
    "SecRule REQUEST_URI|ARGS \"@contains wardevil\" "
    "\"id:1234001,phase:1,deny,status:403,log,msg:'marker'\"\n";

class EvasionTest : public ::testing::Test {
 protected:
  void Init(Mode mode) {
    std::ofstream(dir_.Sub("marker.conf")) << kMarkerRules;
    IpsConfig c;
    c.mode = mode;
    c.crs.enabled = false;
    c.custom_rules = {dir_.Sub("marker.conf")};
    auto r = WafRules::Load(c);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    engine_ = std::make_unique<IpsEngine>(*r, clock_, [this](Event e) { events_.push_back(e); });
  }
  std::vector<PacketDecision> Feed(const std::vector<std::string>& pkts, bool verify = false) {
    std::vector<PacketDecision> out;
    for (const auto& p : pkts) out.push_back(engine_->OnPacket(p, now_ms_, verify));
    return out;
  }
  PacketDecision Feed1(const std::string& p, bool verify = false) {
    return engine_->OnPacket(p, now_ms_, verify);
  }
  std::vector<Event> WithAction(std::string_view action) const {
    std::vector<Event> out;
    for (const auto& e : events_) {
      if (e.GetString("event.action") == action) out.push_back(e);
    }
    return out;
  }
  static std::string Client(uint32_t seq, uint32_t ack, uint8_t flags, std::string_view data,
                            uint16_t urgent = 0) {
    return BuildTcpPacket(Ipv4(10, 0, 0, 1), 40000, Ipv4(10, 0, 0, 2), 80, seq, ack, flags, data,
                          65535, urgent);
  }

  ward::test::TempDir dir_;
  ward::test::FakeClock clock_;
  std::unique_ptr<IpsEngine> engine_;
  std::vector<Event> events_;
  int64_t now_ms_ = 1000;
  // Conversation's defaults.
  static constexpr uint32_t kC = 1001, kS = 50001;
  static constexpr uint8_t kPA = tcp_flag::kPsh | tcp_flag::kAck;
};

Conversation Conv() { return Conversation(Ipv4(10, 0, 0, 1), 40000, Ipv4(10, 0, 0, 2), 80); }

TEST_F(EvasionTest, UrgentDataFromAClientIsRefusedInPreventMode) {
  Init(Mode::kPrevent);
  Conversation c = Conv();
  Feed(c.Handshake());
  EXPECT_FALSE(Feed1(Client(kC, kS, kPA, "GET /?q=warde")).drop);
  PacketDecision d = Feed1(Client(kC + 13, kS, kPA | tcp_flag::kUrg, "X", 1));
  EXPECT_TRUE(d.drop);
  EXPECT_TRUE(d.reset);
  EXPECT_EQ(d.client_next, kC + 13);
  EXPECT_TRUE(Feed1(Client(kC + 14, kS, kPA, "vil HTTP/1.1\r\n\r\n")).drop);
  auto refused = WithAction("refused");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].GetString("ips.anomaly"), "tcp_urgent");
  EXPECT_EQ(refused[0].Get("source.port").get<int>(), 40000);
}

TEST_F(EvasionTest, UrgentDataIsTakenOutOfTheStreamInDetectMode) {
  Init(Mode::kDetect);
  Conversation c = Conv();
  Feed(c.Handshake());
  Feed1(Client(kC, kS, kPA, "GET /?q=warde"));
  Feed1(Client(kC + 13, kS, kPA | tcp_flag::kUrg, "X", 1));
  Feed1(Client(kC + 14, kS, kPA, "vil HTTP/1.1\r\nHost: x\r\n\r\n"));
  engine_->CloseAll();
  auto detected = WithAction("detected");
  ASSERT_EQ(detected.size(), 2u);  // the anomaly, and the request as the server reads it
  EXPECT_EQ(detected[0].GetString("ips.anomaly"), "tcp_urgent");
  EXPECT_EQ(detected[1].GetString("url.original"), "/?q=wardevil");
}

TEST_F(EvasionTest, SegmentsTheReceiverDiscardsAreNotInspected) {
  Init(Mode::kPrevent);
  Conversation c = Conv();
  Feed(c.Handshake());
  const std::string decoy = "GET /?q=harmless HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string attack = "GET /?q=wardevil HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(decoy.size(), attack.size());
  // A bad checksum (where the kernel verifies it), no ACK flag.
  std::string bad = Client(kC, kS, kPA, decoy);
  bad[bad.size() - 1] ^= 1;
  EXPECT_TRUE(Feed1(bad, true).drop);
  EXPECT_TRUE(Feed1(Client(kC, 0, tcp_flag::kPsh, decoy), true).drop);
  EXPECT_EQ(engine_->stats().segments_bad_checksum, 1u);
  EXPECT_EQ(engine_->stats().segments_ignored, 1u);
  // The real segment at the same sequence number is the one inspected.
  PacketDecision d = Feed1(Client(kC, kS, kPA, attack), true);
  EXPECT_TRUE(d.drop);
  EXPECT_EQ(d.send.size(), 2u);  // answered (403), the server reset
  ASSERT_EQ(WithAction("blocked").size(), 1u);
  EXPECT_EQ(WithAction("blocked")[0].GetString("url.original"), "/?q=wardevil");
}

TEST_F(EvasionTest, ARetransmissionWithOtherBytesIsDroppedAndReported) {
  Init(Mode::kPrevent);
  Conversation c = Conv();
  Feed(c.Handshake());
  const std::string decoy = "GET /?q=harmless HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string attack = "GET /?q=wardevil HTTP/1.1\r\nHost: x\r\n\r\n";
  // A decoy the kernel discards for a reason Ward does not act on (here: it acknowledges data
  // the server never sent), then the attack at the same sequence numbers.
  EXPECT_FALSE(Feed1(Client(kC, kS + 5000, kPA, decoy)).drop);
  EXPECT_FALSE(Feed1(Client(kC, kS, kPA, decoy)).drop);  // the same bytes again: fine
  EXPECT_TRUE(Feed1(Client(kC, kS, kPA, attack)).drop);
  auto dropped = WithAction("dropped");
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].GetString("ips.anomaly"), "retransmission_differs");
  EXPECT_TRUE(WithAction("blocked").empty());
}

TEST_F(EvasionTest, AResetOffTheExpectedSequenceNumberDoesNotEndInspection) {
  Init(Mode::kPrevent);
  Conversation c = Conv();
  Feed(c.Handshake());
  Feed1(Client(kC, kS, kPA, "GET /?q=ward"));
  Feed1(Client(kC + 5000, kS, tcp_flag::kRst, ""));  // Linux ignores it (challenge ACK)
  EXPECT_EQ(engine_->flow_count(), 1u);
  EXPECT_TRUE(Feed1(Client(kC + 12, kS, kPA, "evil HTTP/1.1\r\n\r\n")).drop);
  EXPECT_EQ(WithAction("blocked").size(), 1u);
}

TEST_F(EvasionTest, AnHttp09RequestLineIsInspectedAsARequest) {
  Init(Mode::kPrevent);
  Conversation c = Conv();
  Feed(c.Handshake());
  auto d = Feed(c.ClientSend("GET /?q=wardevil\r\n"));
  EXPECT_TRUE(d.back().drop);
  // Answered as nginx answers HTTP/0.9: the body alone.
  ASSERT_EQ(d.back().send.size(), 2u);
  auto answer = net::DecodeIpTcp(d.back().send[0]);
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->payload.starts_with("Request blocked by Ward")) << answer->payload;
  auto blocked = WithAction("blocked");
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].GetString("http.version"), "0.9");
  EXPECT_EQ(blocked[0].GetString("url.original"), "/?q=wardevil");
}

TEST_F(EvasionTest, BlockedOnlyWhenTheBytesDidNotReachTheServer) {
  Init(Mode::kPrevent);
  Conversation c = Conv();
  Feed(c.Handshake());
  // A malformed head that never ends: inspected when the connection closes, after its bytes
  // went to the server. The WAF would block it, but the event must not say so.
  for (const auto& d : Feed(c.ClientSend("GET /?q=wardevil HTTP/1.1\r\nHo st: x\r\n"))) {
    EXPECT_FALSE(d.drop);
  }
  Feed(c.Close());
  engine_->CloseAll();
  EXPECT_TRUE(WithAction("blocked").empty());
  auto detected = WithAction("detected");
  ASSERT_EQ(detected.size(), 1u);
  EXPECT_TRUE(detected[0].Get("ips.reached_server").get<bool>());
  EXPECT_EQ(engine_->stats().blocked, 0u);
}

TEST_F(EvasionTest, AmbiguousFramingRefusesTheConnectionInPreventMode) {
  for (std::string_view head :
       {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nX: a\r\n Transfer-Encoding: chunked\r\n\r\n"}) {
    events_.clear();
    Init(Mode::kPrevent);
    Conversation c = Conv();
    Feed(c.Handshake());
    auto d = Feed(c.ClientSend(std::string(head) + "0\r\n\r\nGET /?q=wardevil HTTP/1.1\r\n\r\n"));
    EXPECT_TRUE(d.back().drop) << head;
    EXPECT_TRUE(d.back().reset) << head;
    auto refused = WithAction("refused");
    ASSERT_EQ(refused.size(), 1u) << head;
    EXPECT_NE(refused[0].GetString("ips.anomaly").find("framing"), std::string::npos) << head;
  }
}

TEST_F(EvasionTest, AmbiguousFramingIsReportedAndFollowedInDetectMode) {
  Init(Mode::kDetect);
  Conversation c = Conv();
  Feed(c.Handshake());
  Feed(c.ClientSend(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nGET /?q=wardevil HTTP/1.1\r\nHost: x\r\n\r\n"));
  engine_->CloseAll();
  auto detected = WithAction("detected");
  ASSERT_EQ(detected.size(), 2u);
  EXPECT_EQ(detected[0].GetString("ips.anomaly"), "framing_ambiguous");
  // Chunked wins (RFC 9112 6.3): the pipelined request is inspected.
  EXPECT_EQ(detected[1].GetString("url.original"), "/?q=wardevil");
}

TEST_F(EvasionTest, BytesWardCannotParseRefuseTheConnectionInPreventMode) {
  Init(Mode::kPrevent);
  Conversation c = Conv();
  Feed(c.Handshake());
  // nginx takes a bare LF after a chunk size; libhttp-parser does not.
  auto d = Feed(
      c.ClientSend("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n"
                   "GET /?q=wardevil HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(d.back().drop);
  auto refused = WithAction("refused");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].GetString("ips.anomaly"), "unparsable");
}

TEST_F(EvasionTest, AnUpgradeTheServerIgnoresDoesNotEndInspection) {
  Init(Mode::kPrevent);
  Conversation c = Conv();
  Feed(c.Handshake());
  auto d = Feed(
      c.ClientSend("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                   "GET /?q=wardevil HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(d.back().drop);
  EXPECT_EQ(WithAction("blocked").size(), 1u);
}

TEST_F(EvasionTest, InspectionEndsWhenTheServerSwitchesProtocols) {
  Init(Mode::kPrevent);
  Conversation c = Conv();
  Feed(c.Handshake());
  Feed(c.ClientSend(
      "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
  Feed(c.ServerSend(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
  // WebSocket frames now: not HTTP, not refused.
  for (const auto& x : Feed(c.ClientSend(std::string("\x81\x88wardevil", 10)))) {
    EXPECT_FALSE(x.drop);
  }
  EXPECT_TRUE(WithAction("refused").empty());
  EXPECT_TRUE(WithAction("blocked").empty());
}

TEST_F(EvasionTest, CleanTrafficIsUntouched) {
  Init(Mode::kPrevent);
  Conversation c = Conv();
  Feed(c.Handshake());
  for (const auto& d :
       Feed(c.ClientSend("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na=1"
                         "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "3\r\na=1\r\n0\r\n\r\nGET /x HTTP/1.1\nHost: x\n\n"))) {
    EXPECT_FALSE(d.drop);
  }
  for (const auto& d : Feed(c.ServerSend("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))) {
    EXPECT_FALSE(d.drop);
  }
  for (const auto& d : Feed(c.ClientSend("GET /y HTTP/1.1\r\nHost: x\r\n\r\n"))) {
    EXPECT_FALSE(d.drop);
  }
  EXPECT_TRUE(events_.empty());
  EXPECT_EQ(engine_->stats().segments_ignored, 0u);
}

}  // namespace
}  // namespace ward::agent::ips
