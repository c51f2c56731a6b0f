#include "agent/modules/ips/ips_engine.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "agent/net/test_packets.h"
#include "testing/fake_clock.h"

namespace ward::agent::ips {
namespace {

using net::BuildTcpPacket;
using net::Ipv4;
using net::test::Conversation;

class IpsEngineTest : public ::testing::Test {
 protected:
  void Init(IpsConfig c) {
    auto r = WafRules::Load(c);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    engine_ = std::make_unique<IpsEngine>(*r, clock_, [this](Event e) { events_.push_back(e); });
  }
  // Feeds packets; returns the decisions.
  std::vector<PacketDecision> Feed(const std::vector<std::string>& pkts) {
    std::vector<PacketDecision> out;
    for (const auto& p : pkts) out.push_back(engine_->OnPacket(p, now_ms_));
    return out;
  }
  static bool HasRule(const Event& e, std::string_view id) {
    for (const auto& r : e.Get("rule.id")) {
      if (r.get<std::string>() == id) return true;
    }
    return false;
  }
  Conversation Conv(uint16_t cport = 40000) {
    return Conversation(Ipv4(10, 0, 0, 1), cport, Ipv4(10, 0, 0, 2), 80);
  }

  ward::test::FakeClock clock_;
  std::unique_ptr<IpsEngine> engine_;
  std::vector<Event> events_;
  int64_t now_ms_ = 1000;
};

constexpr std::string_view kSqli =
    "GET /search?q=1%27%20OR%20%271%27=%271 HTTP/1.1\r\nHost: shop.example\r\n"
    "User-Agent: t\r\nAccept: */*\r\n\r\n";
constexpr std::string_view kBenign =
    "GET /index.html?page=2 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n";
constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST_F(IpsEngineTest, DetectModeEmitsOneEventPerAttackTransactionWithItsFields) {
  Init(IpsConfig{});
  Conversation c = Conv();
  Feed(c.Handshake());
  for (const auto& d : Feed(c.ClientSend(kSqli))) EXPECT_FALSE(d.drop);
  Feed(c.ServerSend(kOk));
  Feed(c.ClientSend(kBenign));
  Feed(c.ServerSend(kOk));
  Feed(c.Close());
  ASSERT_EQ(events_.size(), 1u);
  const Event& e = events_[0];
  EXPECT_EQ(e.Module(), "ips");
  EXPECT_EQ(e.GetString("event.action"), "detected");
  EXPECT_TRUE(HasRule(e, "942100"));
  EXPECT_EQ(e.GetString("source.ip"), "10.0.0.1");
  EXPECT_EQ(e.Get("source.port").get<int>(), 40000);
  EXPECT_EQ(e.GetString("destination.ip"), "10.0.0.2");
  EXPECT_EQ(e.Get("destination.port").get<int>(), 80);
  EXPECT_EQ(e.GetString("http.request.method"), "GET");
  EXPECT_EQ(e.GetString("url.original"), "/search?q=1%27%20OR%20%271%27=%271");
  EXPECT_GE(e.Get("ips.anomaly_score").get<int>(), 5);
  EXPECT_FALSE(e.Get("ips.messages").empty());
  EXPECT_FALSE(e.Get("ips.matched_data").empty());
  EXPECT_EQ(engine_->flow_count(), 0u);
}

TEST_F(IpsEngineTest, PreventModeDropsThePacketThatCompletesTheAttackAndEverythingAfter) {
  IpsConfig cfg;
  cfg.mode = Mode::kPrevent;
  cfg.block_status = 0;  // no answer: reset both ways
  Init(cfg);
  Conversation c = Conv();
  Feed(c.Handshake());
  // The attack split in three segments: only the last one completes the request.
  std::string req(kSqli);
  auto pkts = c.ClientSend(req, 40);
  auto d = Feed(pkts);
  for (size_t i = 0; i + 1 < d.size(); ++i) EXPECT_FALSE(d[i].drop) << i;
  EXPECT_TRUE(d.back().drop);
  EXPECT_TRUE(d.back().reset);
  EXPECT_TRUE(d.back().from_client);
  // The resets start where each receiver expects the next byte: the server never got the
  // dropped segment's bytes, the client expects the server's next sequence number.
  EXPECT_EQ(d.back().client_next, d.back().segment.seq);
  EXPECT_EQ(d.back().server_next, 50001u);
  // Later client and server packets on the connection are dropped too.
  EXPECT_TRUE(Feed(c.ClientSend(kBenign))[0].drop);
  EXPECT_TRUE(Feed(c.ServerSend(kOk))[0].drop);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].GetString("event.action"), "blocked");
  EXPECT_EQ(events_[0].Get("http.response.status_code").get<int>(), 403);
  EXPECT_EQ(events_[0].GetString("ips.response"), "reset");
  EXPECT_TRUE(d.back().send.empty());
  // Other connections are not affected.
  Conversation other = Conv(40001);
  Feed(other.Handshake());
  for (const auto& x : Feed(other.ClientSend(kBenign))) EXPECT_FALSE(x.drop);
}

TEST_F(IpsEngineTest, PipelinedKeepAliveRequestsAreEachInspected) {
  Init(IpsConfig{});
  Conversation c = Conv();
  Feed(c.Handshake());
  std::string two = std::string(kBenign) + std::string(kSqli) + std::string(kSqli);
  Feed(c.ClientSend(two, 50));
  std::string three = std::string(kOk) + std::string(kOk) + std::string(kOk);
  Feed(c.ServerSend(three));
  EXPECT_EQ(events_.size(), 2u);
  EXPECT_EQ(engine_->stats().transactions, 3u);
}

TEST_F(IpsEngineTest, ChunkedUrlencodedJsonAndMultipartBodiesAreInspected) {
  Init(IpsConfig{});
  const std::string attack = "1' UNION SELECT password FROM users--";
  struct Body {
    std::string content_type;
    std::string body;
    bool chunked;
  };
  std::vector<Body> bodies = {
      {"application/x-www-form-urlencoded",
       "a=1&q=1%27%20UNION%20SELECT%20password%20FROM%20users--", false},
      {"application/x-www-form-urlencoded", "q=1%27%20UNION%20SELECT%20password%20FROM%20users--",
       true},
      {"application/json", "{\"q\": \"" + attack + "\"}", false},
      {"multipart/form-data; boundary=XyZ",
       "--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n" + attack + "\r\n--XyZ--\r\n",
       false},
  };
  uint16_t port = 41000;
  for (const auto& b : bodies) {
    events_.clear();
    Conversation c = Conv(port++);
    Feed(c.Handshake());
    std::string req = "POST /form HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\nAccept: */*\r\n";
    req += "Content-Type: " + b.content_type + "\r\n";
    if (b.chunked) {
      req += "Transfer-Encoding: chunked\r\n\r\n";
      std::string body = b.body;
      for (size_t i = 0; i < body.size(); i += 7) {
        std::string part = body.substr(i, 7);
        char hex[16];
        snprintf(hex, sizeof hex, "%zx", part.size());
        req += std::string(hex) + "\r\n" + part + "\r\n";
      }
      req += "0\r\n\r\n";
    } else {
      req += "Content-Length: " + std::to_string(b.body.size()) + "\r\n\r\n" + b.body;
    }
    Feed(c.ClientSend(req, 30));
    Feed(c.ServerSend(kOk));
    ASSERT_EQ(events_.size(), 1u) << b.content_type << (b.chunked ? " chunked" : "");
    bool sqli = false;
    for (const auto& id : events_[0].Get("rule.id"))
      sqli |= id.get<std::string>().starts_with("942");
    EXPECT_TRUE(sqli) << b.content_type;
  }
}

TEST_F(IpsEngineTest, OutOfOrderAndRetransmittedSegmentsAreReassembled) {
  Init(IpsConfig{});
  Conversation c = Conv();
  Feed(c.Handshake());
  auto pkts = c.ClientSend(kSqli, 20);
  std::reverse(pkts.begin(), pkts.end());
  auto again = pkts;
  Feed(pkts);
  Feed(again);  // retransmissions of everything
  Feed(c.ServerSend(kOk));
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_TRUE(HasRule(events_[0], "942100"));
  EXPECT_EQ(events_[0].GetString("url.original"), "/search?q=1%27%20OR%20%271%27=%271");
}

TEST_F(IpsEngineTest, OverlappingSegmentsKeepTheFirstBytesSeen) {
  Init(IpsConfig{});
  Conversation c = Conv();
  Feed(c.Handshake());
  // A held segment says "/safe"; a later overlapping segment claims "/evil" for the same bytes.
  std::string head = "GET /";
  std::string first = "safe?a=b HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n";
  std::string second = "evil?a=1%27%20OR%20%271%27=%271 HTTP/1.1\r\nHost: a\r\n\r\n";
  Feed({c.ClientAt(static_cast<int64_t>(head.size()), first)});
  Feed({c.ClientAt(static_cast<int64_t>(head.size()), second)});
  Feed({c.ClientAt(0, head)});
  c.AdvanceClient(static_cast<uint32_t>(head.size() + first.size()));
  Feed(c.ServerSend(kOk));
  // Only the overlap itself is reported (the inspected request is the clean one).
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].GetString("ips.anomaly"), "retransmission_differs");
  EXPECT_EQ(events_[0].GetString("event.action"), "detected");
  EXPECT_EQ(engine_->stats().transactions, 1u);
}

TEST_F(IpsEngineTest, InPreventModeConflictingOverlapsAreDropped) {
  IpsConfig cfg;
  cfg.mode = Mode::kPrevent;
  Init(cfg);
  Conversation c = Conv();
  Feed(c.Handshake());
  std::string head = "GET /";
  std::string first = "safe?a=b HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n";
  std::string second = "evil?a=1%27%20OR%20%271%27=%271 HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_FALSE(Feed({c.ClientAt(static_cast<int64_t>(head.size()), first)})[0].drop);
  // Same sequence numbers, other bytes: the receiving kernel might keep these; Ward drops them.
  EXPECT_TRUE(Feed({c.ClientAt(static_cast<int64_t>(head.size()), second)})[0].drop);
  // A plain retransmission of the held segment passes.
  EXPECT_FALSE(Feed({c.ClientAt(static_cast<int64_t>(head.size()), first)})[0].drop);
  EXPECT_FALSE(Feed({c.ClientAt(0, head)})[0].drop);
  EXPECT_EQ(engine_->stats().segments_conflicting, 1u);
  ASSERT_EQ(events_.size(), 1u);  // the dropped segment is reported
  EXPECT_EQ(events_[0].GetString("event.action"), "dropped");
  // A SYN with another sequence number cannot move the stream once data went through.
  Feed({BuildTcpPacket(Ipv4(10, 0, 0, 1), 40000, Ipv4(10, 0, 0, 2), 80, 999999, 0, tcp_flag::kSyn,
                       {})});
  c.AdvanceClient(static_cast<uint32_t>(head.size() + first.size()));
  for (const auto& d : Feed(c.ClientSend(kSqli))) (void)d;
  // (The answer, and so the event, waits for the first request's response.)
  Feed(c.ServerSend(kOk));
  EXPECT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().GetString("event.action"), "blocked");
}

TEST_F(IpsEngineTest, FlowsAreBoundedAndExpire) {
  IpsConfig cfg;
  cfg.limits.max_flows = 4;
  cfg.limits.flow_timeout = std::chrono::seconds(10);
  Init(cfg);
  for (uint16_t p = 0; p < 10; ++p) {
    Conversation c = Conv(static_cast<uint16_t>(50000 + p));
    Feed(c.Handshake());
    Feed(c.ClientSend("GET / HTTP/1.1\r\nHost: a\r\n"));  // half-open request
  }
  EXPECT_EQ(engine_->flow_count(), 4u);
  EXPECT_EQ(engine_->stats().flows_evicted, 6u);
  now_ms_ += 11000;
  engine_->Expire(now_ms_);
  EXPECT_EQ(engine_->flow_count(), 0u);
  EXPECT_EQ(engine_->buffered_bytes(), 0u);
}

TEST_F(IpsEngineTest, EnginesSharingTheLimitsEachGetTheirShare) {
  IpsConfig cfg;
  cfg.limits.max_flows = 8;
  auto rules = WafRules::Load(cfg);
  ASSERT_TRUE(rules.has_value()) << rules.error().ToString();
  // One of four engine threads: 8 / 4 = 2 flows.
  engine_ =
      std::make_unique<IpsEngine>(*rules, clock_, 4, [this](Event e) { events_.push_back(e); });
  for (uint16_t p = 0; p < 5; ++p) {
    Conversation c = Conv(static_cast<uint16_t>(51000 + p));
    Feed(c.Handshake());
    Feed(c.ClientSend("GET / HTTP/1.1\r\nHost: a\r\n"));
  }
  EXPECT_EQ(engine_->flow_count(), 2u);
  EXPECT_EQ(engine_->stats().flows_evicted, 3u);
}

TEST_F(IpsEngineTest, ResponsesRunThroughTheResponsePhases) {
  Init(IpsConfig{});
  Conversation c = Conv();
  Feed(c.Handshake());
  Feed(c.ClientSend(kBenign));
  std::string body =
      "<html>You have an error in your SQL syntax; check the manual that corresponds to your "
      "MySQL server version for the right syntax to use near 'x' at line 1</html>";
  Feed(c.ServerSend("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body,
                    50));
  ASSERT_EQ(events_.size(), 1u);
  bool leak = false;
  for (const auto& id : events_[0].Get("rule.id")) leak |= id.get<std::string>().starts_with("951");
  EXPECT_TRUE(leak) << events_[0].ToJson();
}

TEST_F(IpsEngineTest, HeldRequestHeadsCountAgainstTheTotalBudget) {
  IpsConfig cfg;
  cfg.limits.total_buffer = 20000;
  Init(cfg);
  // 10 flows each holding a 4 KB unfinished request head: at most ~5 fit in the budget.
  for (uint16_t p = 0; p < 10; ++p) {
    Conversation c = Conv(static_cast<uint16_t>(52000 + p));
    Feed(c.Handshake());
    Feed(c.ClientSend("GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + std::string(4000, 'a')));
    EXPECT_LE(engine_->buffered_bytes(), 20000u);
  }
  EXPECT_GT(engine_->stats().flows_evicted, 0u);
  EXPECT_LT(engine_->flow_count(), 10u);
}

TEST_F(IpsEngineTest, MalformedRequestIsStillInspectedByTheLenientParser) {
  Init(IpsConfig{});
  Conversation c = Conv();
  Feed(c.Handshake());
  // A space inside the URI makes libhttp-parser reject the request line.
  Feed(c.ClientSend("GET /a b?id=1%27%20OR%20%271%27=%271 HTTP/1.1\r\nHost: a\r\n\r\n"));
  Feed(c.Close());
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_TRUE(HasRule(events_[0], "942100")) << events_[0].ToJson();
}

TEST_F(IpsEngineTest, AMalformedRequestDoesNotHideTheRequestsPipelinedAfterIt) {
  IpsConfig cfg;
  cfg.mode = Mode::kPrevent;
  Init(cfg);
  Conversation c = Conv();
  Feed(c.Handshake());
  // Refused by libhttp-parser (space in the URI), split across segments, with a framed body,
  // then a pipelined attack.
  std::string req =
      "POST /a b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" + std::string(kSqli);
  auto d = Feed(c.ClientSend(req, 12));
  EXPECT_TRUE(d.back().drop);
  // The malformed POST before it reached the server, whose answer to it Ward cannot follow:
  // no answer of Ward's, the connection is reset.
  EXPECT_TRUE(d.back().reset);
  EXPECT_TRUE(d.back().send.empty());
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().GetString("ips.response"), "reset");
  EXPECT_EQ(events_.back().GetString("event.action"), "blocked");
  EXPECT_EQ(events_.back().GetString("url.original"), "/search?q=1%27%20OR%20%271%27=%271");
}

TEST_F(IpsEngineTest, NonHttpPortsAndNonTcpPacketsPassUntouched) {
  IpsConfig cfg;
  cfg.mode = Mode::kPrevent;
  Init(cfg);
  Conversation c(Ipv4(10, 0, 0, 1), 40000, Ipv4(10, 0, 0, 2), 22);
  for (const auto& d : Feed(c.Handshake())) EXPECT_FALSE(d.drop);
  for (const auto& d : Feed(c.ClientSend(kSqli))) EXPECT_FALSE(d.drop);
  EXPECT_FALSE(engine_->OnPacket("not a packet", now_ms_).drop);
  EXPECT_EQ(engine_->flow_count(), 0u);
  EXPECT_TRUE(events_.empty());
}

// --- Blocked requests answered (ips.block_status) ---

struct Sent {
  net::TcpSegment seg;
  std::string bytes;  // keeps seg.payload valid
};
Sent Decode(const std::string& packet) {
  Sent s{{}, packet};
  auto d = net::DecodeIpTcp(s.bytes);
  EXPECT_TRUE(d.has_value());
  if (d) s.seg = *d;
  return s;
}

constexpr uint32_t kClientIsn = 1000, kServerIsn = 50000;

TEST_F(IpsEngineTest, ABlockedRequestIsAnsweredWith403AndTheServerIsReset) {
  IpsConfig cfg;
  cfg.mode = Mode::kPrevent;
  Init(cfg);
  Conversation c = Conv();
  Feed(c.Handshake());
  auto pkts = c.ClientSend(kSqli, 40);
  auto d = Feed(pkts);
  for (size_t i = 0; i + 1 < d.size(); ++i) EXPECT_TRUE(d[i].send.empty()) << i;
  const PacketDecision& last = d.back();
  EXPECT_TRUE(last.drop);
  EXPECT_FALSE(last.reset);
  EXPECT_FALSE(last.send_v6);
  ASSERT_EQ(last.send.size(), 2u);
  // First the answer to the client: from the server, at the server's next sequence number,
  // acknowledging the whole request, with FIN.
  Sent answer = Decode(last.send[0]);
  EXPECT_EQ(answer.seg.src, Ipv4(10, 0, 0, 2));
  EXPECT_EQ(answer.seg.sport, 80);
  EXPECT_EQ(answer.seg.dst, Ipv4(10, 0, 0, 1));
  EXPECT_EQ(answer.seg.dport, 40000);
  EXPECT_EQ(answer.seg.seq, kServerIsn + 1);
  EXPECT_EQ(answer.seg.ack, kClientIsn + 1 + kSqli.size());
  EXPECT_EQ(answer.seg.flags, tcp_flag::kFin | tcp_flag::kPsh | tcp_flag::kAck);
  EXPECT_TRUE(answer.seg.checksum_ok);
  std::string_view body = answer.seg.payload;
  EXPECT_TRUE(body.starts_with("HTTP/1.1 403 Forbidden\r\n")) << body;
  EXPECT_NE(body.find("Connection: close\r\n"), std::string_view::npos);
  // No rule details in the answer.
  EXPECT_EQ(body.find("942100"), std::string_view::npos);
  // Then the server's reset, where its stream stopped (the dropped packet's bytes).
  Sent rst = Decode(last.send[1]);
  EXPECT_EQ(rst.seg.src, Ipv4(10, 0, 0, 1));
  EXPECT_EQ(rst.seg.dst, Ipv4(10, 0, 0, 2));
  EXPECT_EQ(rst.seg.flags, tcp_flag::kRst);
  EXPECT_EQ(rst.seg.seq, last.segment.seq);
  ASSERT_EQ(events_.size(), 1u);
  const Event& e = events_[0];
  EXPECT_EQ(e.GetString("event.action"), "blocked");
  EXPECT_EQ(e.GetString("ips.response"), "answered");
  EXPECT_EQ(e.Get("http.response.status_code").get<int>(), 403);
  const std::string id = e.GetString("transaction.id");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(body.substr(body.find("\r\n\r\n") + 4),
            "Request blocked by Ward (transaction " + id + ").\n");
  EXPECT_EQ(engine_->stats().answered, 1u);
  // The client retransmits the dropped segment (it crossed the answer): the answer again, at
  // most three times.
  for (int i = 0; i < 5; ++i) {
    PacketDecision again = engine_->OnPacket(pkts.back(), now_ms_);
    EXPECT_TRUE(again.drop);
    EXPECT_EQ(again.send.size(), i < 3 ? 1u : 0u) << i;
    if (!again.send.empty()) {
      EXPECT_EQ(again.send[0], last.send[0]);
    }
  }
  // The client read the answer and closes: Ward acknowledges its FIN and forgets the flow.
  const uint32_t answer_end = kServerIsn + 1 + static_cast<uint32_t>(body.size()) + 1;
  const uint32_t client_fin_seq = kClientIsn + 1 + static_cast<uint32_t>(kSqli.size());
  PacketDecision fin = engine_->OnPacket(
      BuildTcpPacket(Ipv4(10, 0, 0, 1), 40000, Ipv4(10, 0, 0, 2), 80, client_fin_seq, answer_end,
                     tcp_flag::kFin | tcp_flag::kAck, {}),
      now_ms_);
  EXPECT_TRUE(fin.drop);
  ASSERT_EQ(fin.send.size(), 1u);
  Sent ack = Decode(fin.send[0]);
  EXPECT_EQ(ack.seg.flags, tcp_flag::kAck);
  EXPECT_EQ(ack.seg.seq, answer_end);
  EXPECT_EQ(ack.seg.ack, client_fin_seq + 1);
  EXPECT_EQ(engine_->flow_count(), 0u);
}

TEST_F(IpsEngineTest, TheAnswerFollowsTheResponsesOfTheRequestsBeforeIt) {
  IpsConfig cfg;
  cfg.mode = Mode::kPrevent;
  cfg.block_status = 418;
  Init(cfg);
  Conversation c = Conv();
  Feed(c.Handshake());
  // Keep-alive: a benign request answered, then the attack: answered after the first response.
  Feed(c.ClientSend(kBenign));
  Feed(c.ServerSend(kOk));
  auto d = Feed(c.ClientSend(kSqli));
  ASSERT_EQ(d.back().send.size(), 2u);
  Sent answer = Decode(d.back().send[0]);
  EXPECT_EQ(answer.seg.seq, kServerIsn + 1 + kOk.size());
  EXPECT_TRUE(answer.seg.payload.starts_with("HTTP/1.1 418 I'm a teapot\r\n"));
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].Get("http.response.status_code").get<int>(), 418);

  // Pipelined: the benign request reached the server in its own packet, the attack follows
  // before the response: the attack's packet is dropped, the answer waits for the response.
  events_.clear();
  Conversation p = Conv(40002);
  Feed(p.Handshake());
  Feed(p.ClientSend(kBenign));
  auto blocked = Feed(p.ClientSend(kSqli));
  EXPECT_TRUE(blocked.back().drop);
  EXPECT_FALSE(blocked.back().reset);
  EXPECT_TRUE(blocked.back().send.empty());
  EXPECT_TRUE(events_.empty());  // the event says how the client was told: not known yet
  // The response arrives in two segments: the answer goes right after its last byte.
  std::string ok(kOk);
  auto first = Feed(p.ServerSend(ok.substr(0, 10)));
  EXPECT_TRUE(first.back().send.empty());
  auto rest = Feed(p.ServerSend(ok.substr(10)));
  ASSERT_EQ(rest.back().send.size(), 2u);
  EXPECT_EQ(Decode(rest.back().send[0]).seg.seq, kServerIsn + 1 + kOk.size());
  EXPECT_EQ(Decode(rest.back().send[1]).seg.seq, kClientIsn + 1 + kBenign.size());
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].GetString("ips.response"), "answered");
}

TEST_F(IpsEngineTest, WhereTcpDoesNotAllowAnAnswerBothSidesAreReset) {
  IpsConfig cfg;
  cfg.mode = Mode::kPrevent;
  Init(cfg);
  // A benign request and the attack in the same packet: the benign one never reached the
  // server and would get the answer meant for the attack: reset.
  Conversation c = Conv();
  Feed(c.Handshake());
  auto d = Feed(c.ClientSend(std::string(kBenign) + std::string(kSqli)));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(d[0].drop);
  EXPECT_TRUE(d[0].reset);
  EXPECT_TRUE(d[0].send.empty());
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].GetString("ips.response"), "reset");

  // The server closes while the answer waits for its response: resets both ways.
  events_.clear();
  Conversation p = Conv(40004);
  Feed(p.Handshake());
  Feed(p.ClientSend(kBenign));
  Feed(p.ClientSend(kSqli));
  EXPECT_TRUE(events_.empty());
  auto fin = engine_->OnPacket(
      BuildTcpPacket(Ipv4(10, 0, 0, 2), 80, Ipv4(10, 0, 0, 1), 40004, kServerIsn + 1,
                     kClientIsn + 1 + static_cast<uint32_t>(kBenign.size()),
                     tcp_flag::kFin | tcp_flag::kAck | tcp_flag::kPsh, kOk),
      now_ms_);
  ASSERT_EQ(fin.send.size(), 2u);
  Sent to_server = Decode(fin.send[0]);
  EXPECT_EQ(to_server.seg.flags, tcp_flag::kRst);
  EXPECT_EQ(to_server.seg.seq, kClientIsn + 1 + kBenign.size());
  Sent to_client = Decode(fin.send[1]);
  EXPECT_EQ(to_client.seg.flags, tcp_flag::kRst | tcp_flag::kAck);
  EXPECT_EQ(to_client.seg.seq, kServerIsn + 1 + kOk.size() + 1);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].GetString("ips.response"), "reset");

  // The server never answers the request before: the client's next retransmission after 2 s
  // gives the answer up (resets).
  events_.clear();
  Conversation q = Conv(40006);
  Feed(q.Handshake());
  Feed(q.ClientSend(kBenign));
  EXPECT_TRUE(Feed(q.ClientSend(kSqli)).back().send.empty());
  EXPECT_TRUE(events_.empty());
  now_ms_ += 2500;
  auto late = engine_->OnPacket(q.ClientAt(-static_cast<int64_t>(kSqli.size()), kSqli), now_ms_);
  EXPECT_TRUE(late.drop);
  EXPECT_EQ(late.send.size(), 2u);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].GetString("ips.response"), "reset");
}

TEST_F(IpsEngineTest, ABlockedRequestIsAnsweredOverIpv6) {
  IpsConfig cfg;
  cfg.mode = Mode::kPrevent;
  Init(cfg);
  Conversation c(*net::ParseIp("fd00::1"), 40000, *net::ParseIp("fd00::2"), 80);
  Feed(c.Handshake());
  auto d = Feed(c.ClientSend(kSqli));
  ASSERT_EQ(d.back().send.size(), 2u);
  EXPECT_TRUE(d.back().send_v6);
  Sent answer = Decode(d.back().send[0]);
  EXPECT_EQ(answer.seg.src, *net::ParseIp("fd00::2"));
  EXPECT_TRUE(answer.seg.checksum_ok);
  EXPECT_TRUE(answer.seg.payload.starts_with("HTTP/1.1 403 Forbidden"));
}

TEST(BlockAnswer, NamesTheTransactionAndNothingElse) {
  EXPECT_EQ(BlockAnswer(403, "w1-2", "1.1"),
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 44\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
            "Request blocked by Ward (transaction w1-2).\n");
  EXPECT_EQ(BlockAnswer(403, "w1-2", "0.9"), "Request blocked by Ward (transaction w1-2).\n");
  EXPECT_TRUE(BlockAnswer(599, "x", "1.0").starts_with("HTTP/1.1 599 Server Error\r\n"));
}

}  // namespace
}  // namespace ward::agent::ips
