#include "agent/modules/ips/ips_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "common/text.h"

namespace ward::agent::ips {
namespace {

constexpr size_t kMaxDataLen = 256;

std::string Truncate(std::string_view s, size_t n) {
  if (s.size() <= n) return LossyUtf8(s);
  return LossyUtf8(s.substr(0, n)) + "...";
}

}  // namespace

struct IpsEngine::Flow {
  Flow(const FlowKey& k, std::shared_ptr<const WafRules> r, const Endpoints& ep,
       BufferBudget* budget, uint64_t limit, HttpConnection::DoneFn done)
      : key(k),
        rules(std::move(r)),
        client(budget, limit),
        server(budget, limit),
        http(rules, ep, std::move(done)),
        ep(ep) {}
  FlowKey key;
  std::shared_ptr<const WafRules> rules;
  TcpStream client;
  TcpStream server;
  HttpConnection http;
  Endpoints ep;
  std::set<std::string, std::less<>> anomalies;  // kinds already reported
  std::list<FlowKey>::iterator lru;
  int64_t last_ms = 0;
  bool client_fin = false;
  bool server_fin = false;
  bool blocked = false;
  // The answer to a blocked request (prevent mode).
  enum class Answer { kNone, kPending, kSent };
  Answer answer = Answer::kNone;
  std::unique_ptr<WafTransaction> held;  // the blocked transaction; its event says how it ended
  uint32_t block_seq = 0;                // the client's bytes from here on were not delivered
  int64_t pending_since_ms = 0;
  std::string answer_packet;  // as sent, to send again when the client shows it lost it
  uint32_t answer_end = 0;    // the server's sequence number after the answer and its FIN
  int resends = 0;
  std::string scratch;
  uint64_t http_accounted = 0;  // bytes of http.buffered() counted in http_buffered_
};

Event TransactionEvent(const Clock& clock, const WafTransaction& t, const IpsConfig& config,
                       bool delivered) {
  // `blocked` only when the bytes did not reach the server.
  const bool blocked = t.blocked() && !delivered;
  int score = t.AnomalyScore();
  Severity sev = blocked ? Severity::kHigh
                         : (score >= config.crs.inbound_anomaly_threshold ? Severity::kMedium
                                                                          : Severity::kLow);
  Event e =
      Event::Make(clock, "ips", blocked ? "denied" : "info", blocked ? "blocked" : "detected", sev);
  e.Set("event.kind", "alert");
  e.Set("event.category", nlohmann::json::array({"intrusion_detection", "web"}));
  nlohmann::json ids = nlohmann::json::array();
  nlohmann::json messages = nlohmann::json::array();
  nlohmann::json data = nlohmann::json::array();
  nlohmann::json matches = nlohmann::json::array();
  std::set<int64_t> seen;
  for (const auto& m : t.matches()) {
    if (seen.insert(m.id).second) ids.push_back(std::to_string(m.id));
    if (!m.message.empty()) messages.push_back(Truncate(m.message, kMaxDataLen));
    if (!m.data.empty()) data.push_back(Truncate(m.data, kMaxDataLen));
    nlohmann::json one = {{"id", std::to_string(m.id)},
                          {"message", Truncate(m.message, kMaxDataLen)},
                          {"data", Truncate(m.data, kMaxDataLen)},
                          {"variable", LossyUtf8(m.variable)},
                          {"score", CrsScore(m)},
                          {"mode", ModeName(config.RuleMode(m.id))}};
    if (m.severity >= 0) one["severity"] = m.severity;
    matches.push_back(std::move(one));
  }
  e.Set("rule.id", ids);
  e.Set("ips.messages", messages);
  e.Set("ips.matched_data", data);
  e.Set("ips.matches", matches);
  e.Set("ips.anomaly_score", score);
  e.Set("ips.mode", ModeName(config.mode));
  if (blocked) e.Set("http.response.status_code", t.block_status() > 0 ? t.block_status() : 403);
  if (t.blocked() && delivered) e.Set("ips.reached_server", true);
  e.Set("transaction.id", t.id());
  const Endpoints& ep = t.endpoints();
  e.Set("source.ip", ep.src_ip);
  e.Set("source.port", ep.src_port);
  e.Set("destination.ip", ep.dst_ip);
  e.Set("destination.port", ep.dst_port);
  const RequestHead& r = t.request();
  e.Set("http.request.method", Truncate(r.method, 64));
  e.Set("http.version", Truncate(r.version, 16));
  e.Set("url.original", Truncate(r.uri, 2048));
  std::string_view path = r.uri;
  if (size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  e.Set("url.path", Truncate(path, 2048));
  for (const auto& [k, v] : r.headers) {
    if (k.size() == 4 && strncasecmp(k.c_str(), "host", 4) == 0) {
      e.Set("url.domain", Truncate(v, 256));
    }
    if (k.size() == 10 && strncasecmp(k.c_str(), "user-agent", 10) == 0) {
      e.Set("user_agent.original", Truncate(v, 512));
    }
  }
  return e;
}

IpsEngine::IpsEngine(std::shared_ptr<const WafRules> rules, const Clock& clock, EmitFn emit)
    : IpsEngine(std::move(rules), clock, 1, std::move(emit)) {}

IpsEngine::IpsEngine(std::shared_ptr<const WafRules> rules, const Clock& clock, int shares,
                     EmitFn emit)
    : rules_(std::move(rules)),
      clock_(clock),
      emit_(std::move(emit)),
      shares_(static_cast<uint64_t>(std::max(shares, 1))) {
  budget_.limit = std::max<uint64_t>(rules_->config().limits.total_buffer / shares_, 1);
}

uint64_t IpsEngine::MaxFlows() const {
  return std::max<uint64_t>(rules_->config().limits.max_flows / shares_, 1);
}

IpsEngine::~IpsEngine() { CloseAll(); }

void IpsEngine::SetRules(std::shared_ptr<const WafRules> rules) {
  rules_ = std::move(rules);
  budget_.limit = std::max<uint64_t>(rules_->config().limits.total_buffer / shares_, 1);
}

void IpsEngine::Emit(std::unique_ptr<WafTransaction> t, bool delivered, std::string_view response) {
  ++stats_.transactions;
  if (t->blocked() && !delivered) ++stats_.blocked;
  if (response == "answered") ++stats_.answered;
  if (t->matches().empty() && !t->blocked()) return;
  ++stats_.events;
  if (!emit_) return;
  Event e = TransactionEvent(clock_, *t, rules_->config(), delivered);
  if (!response.empty()) e.Set("ips.response", std::string(response));
  if (response == "answered") e.Set("http.response.status_code", rules_->config().block_status);
  emit_(std::move(e));
}

namespace {

constexpr int64_t kAnswerPendingMs = 2000;  // an answer waiting for earlier responses, at most
constexpr int kMaxAnswerResends = 3;

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Content Too Large";
    case 418:
      return "I'm a teapot";
    case 429:
      return "Too Many Requests";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return status < 500 ? "Client Error" : "Server Error";
  }
}

// Serial-number arithmetic (RFC 1982): a before b.
bool SeqBefore(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

}  // namespace

std::string BlockAnswer(int status, std::string_view transaction_id, std::string_view version) {
  std::string body = fmt::format("Request blocked by Ward (transaction {}).\n", transaction_id);
  // An HTTP/0.9 client reads the body alone, as nginx answers it.
  if (version == "0.9") return body;
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n"
      "Cache-Control: no-store\r\nConnection: close\r\n\r\n{}",
      status, ReasonPhrase(status), body.size(), body);
}

void IpsEngine::OnBlocked(Flow& f, PacketDecision& d, size_t waiting_before, uint32_t block_seq,
                          int64_t now_ms) {
  f.block_seq = block_seq;
  // The answer goes where the server's next byte would: only when Ward knows where that is and
  // the server has not closed; and not when requests before the blocked one were in the dropped
  // packet (their answers would be missing), nor after a request whose response Ward cannot
  // frame (lenient parser, HTTP/0.9).
  const bool can_answer = f.held != nullptr && !f.http.refused() && !f.http.untracked_responses() &&
                          rules_->config().block_status != 0 && f.server.started() &&
                          !f.server_fin && f.server.held() == 0 &&
                          f.http.waiting() == waiting_before;
  if (!can_answer) {
    d.reset = true;
    if (f.held) Emit(std::move(f.held), false, "reset");
    return;
  }
  if (waiting_before > 0) {
    // The server still owes responses to requests delivered before: answer after them.
    f.answer = Flow::Answer::kPending;
    f.pending_since_ms = now_ms;
    return;
  }
  SendAnswer(f, d);
}

void IpsEngine::SendAnswer(Flow& f, PacketDecision& d) {
  const FlowKey& k = f.key;
  const std::string payload =
      BlockAnswer(rules_->config().block_status, f.held->id(), f.held->request().version);
  const uint32_t seq = f.server.next_seq();
  f.answer_packet = net::BuildTcpPacket(k.server, k.server_port, k.client, k.client_port, seq,
                                        f.client.next_seq(),
                                        tcp_flag::kPsh | tcp_flag::kAck | tcp_flag::kFin, payload);
  f.answer_end = seq + static_cast<uint32_t>(payload.size()) + 1;
  f.answer = Flow::Answer::kSent;
  d.reset = false;
  d.send.push_back(f.answer_packet);
  d.send.push_back(net::BuildTcpPacket(k.client, k.client_port, k.server, k.server_port,
                                       f.block_seq, 0, tcp_flag::kRst, {}));
  d.send_v6 = k.client.v6;
  Emit(std::move(f.held), false, "answered");
}

void IpsEngine::GiveUpAnswer(Flow& f, PacketDecision& d, bool server_fin) {
  const FlowKey& k = f.key;
  f.answer = Flow::Answer::kNone;
  d.send.push_back(net::BuildTcpPacket(k.client, k.client_port, k.server, k.server_port,
                                       f.block_seq, 0, tcp_flag::kRst, {}));
  d.send.push_back(net::BuildTcpPacket(k.server, k.server_port, k.client, k.client_port,
                                       f.server.next_seq() + (server_fin ? 1 : 0),
                                       f.client.next_seq(), tcp_flag::kRst | tcp_flag::kAck, {}));
  d.send_v6 = k.client.v6;
  if (f.held) Emit(std::move(f.held), false, "reset");
}

void IpsEngine::AfterAnswer(FlowMap::iterator it, PacketDecision& d, int64_t now_ms) {
  Flow& f = *it->second;
  const TcpSegment& seg = d.segment;
  if (f.answer == Flow::Answer::kPending) {
    if (now_ms - f.pending_since_ms > kAnswerPendingMs) GiveUpAnswer(f, d, false);
    return;
  }
  if (f.answer != Flow::Answer::kSent) return;
  if ((seg.flags & tcp_flag::kFin) != 0 && seg.ack == f.answer_end) {
    // The client read the answer and closes: acknowledge its FIN for the server, which is gone.
    const FlowKey& k = f.key;
    d.send.push_back(net::BuildTcpPacket(
        k.server, k.server_port, k.client, k.client_port, f.answer_end,
        seg.seq + static_cast<uint32_t>(seg.payload.size()) + 1, tcp_flag::kAck, {}));
    d.send_v6 = k.client.v6;
    CloseFlow(it);
    return;
  }
  if (SeqBefore(seg.ack, f.answer_end) && f.resends < kMaxAnswerResends) {
    // The client has not acknowledged the answer (lost, or this crossed it): send it again.
    ++f.resends;
    d.send.push_back(f.answer_packet);
    d.send_v6 = f.key.client.v6;
  }
}

void IpsEngine::Anomaly(Flow& f, std::string_view kind, std::string_view reason,
                        std::string_view action) {
  if (!f.anomalies.emplace(kind).second) return;
  ++stats_.anomalies;
  const bool denied = action != "detected";
  Event e = Event::Make(clock_, "ips", denied ? "denied" : "info", std::string(action),
                        denied ? Severity::kHigh : Severity::kMedium);
  e.Set("event.kind", "alert");
  e.Set("event.category", nlohmann::json::array({"intrusion_detection", "network"}));
  e.Set("ips.anomaly", std::string(kind));
  e.Set("ips.reason", LossyUtf8(reason));
  e.Set("ips.mode", ModeName(rules_->config().mode));
  e.Set("source.ip", f.ep.src_ip);
  e.Set("source.port", f.ep.src_port);
  e.Set("destination.ip", f.ep.dst_ip);
  e.Set("destination.port", f.ep.dst_port);
  ++stats_.events;
  if (emit_) emit_(std::move(e));
}

void IpsEngine::Refuse(Flow& f, PacketDecision& d, std::string_view kind, std::string_view reason) {
  ++stats_.refused;
  Anomaly(f, kind, reason, "refused");
  const TcpSegment& seg = d.segment;
  f.blocked = true;
  d.drop = true;
  d.reset = true;
  d.client_next = f.client.started() ? f.client.next_seq() : seg.seq;
  d.server_next = f.server.started() ? f.server.next_seq() : seg.ack;
}

void IpsEngine::CloseFlow(FlowMap::iterator it) {
  // A blocked request whose answer was still waiting: the connection ends without it.
  if (it->second->held) Emit(std::move(it->second->held), false, "reset");
  http_buffered_ -= it->second->http_accounted;
  it->second->http.Close();
  lru_.erase(it->second->lru);
  flows_.erase(it);
}

void IpsEngine::Expire(int64_t now_ms) {
  const int64_t timeout = rules_->config().limits.flow_timeout.count();
  while (!lru_.empty()) {
    auto it = flows_.find(lru_.front());
    if (it == flows_.end()) {
      lru_.pop_front();
      continue;
    }
    if (now_ms - it->second->last_ms < timeout) break;
    CloseFlow(it);
  }
}

void IpsEngine::CloseAll() {
  while (!flows_.empty()) CloseFlow(flows_.begin());
}

PacketDecision IpsEngine::OnPacket(std::string_view ip_packet, int64_t now_ms,
                                   bool verify_checksum) {
  PacketDecision d;
  ++stats_.packets;
  auto seg = net::DecodeIpTcp(ip_packet);
  if (!seg) return d;
  d.segment = *seg;
  const IpsConfig& config = rules_->config();
  const bool prevent = config.mode == Mode::kPrevent;
  if (verify_checksum && !seg->checksum_ok) {
    // The receiving kernel discards it: Ward must not take its bytes as delivered (the segment
    // sent next at the same sequence numbers is the one the server reads).
    ++stats_.segments_bad_checksum;
    d.drop = prevent;
    return d;
  }
  bool from_client;
  if (config.IsPort(seg->dport)) {
    from_client = true;
  } else if (config.IsPort(seg->sport)) {
    from_client = false;
  } else {
    return d;
  }
  d.from_client = from_client;
  FlowKey key = from_client ? FlowKey{seg->src, seg->sport, seg->dst, seg->dport}
                            : FlowKey{seg->dst, seg->dport, seg->src, seg->sport};
  auto it = flows_.find(key);
  if (it == flows_.end()) {
    // A flow starts with the client's SYN, or mid-stream with data from either side.
    if ((seg->flags & tcp_flag::kRst) != 0) return d;
    if (seg->payload.empty() && (seg->flags & tcp_flag::kSyn) == 0) return d;
    if (flows_.size() >= MaxFlows() && !lru_.empty()) {
      auto old = flows_.find(lru_.front());
      if (old != flows_.end()) {
        CloseFlow(old);
        ++stats_.flows_evicted;
      } else {
        lru_.pop_front();
      }
    }
    Endpoints ep{key.client.ToString(), key.client_port, key.server.ToString(), key.server_port};
    auto flow =
        std::make_unique<Flow>(key, rules_, ep, &budget_, config.limits.flow_buffer,
                               [this, key](std::unique_ptr<WafTransaction> t, bool delivered) {
                                 if (t->blocked() && !delivered) {
                                   // Its event waits until Ward knows how the client was told
                                   // (OnBlocked).
                                   auto f = flows_.find(key);
                                   if (f != flows_.end() && !f->second->held) {
                                     f->second->held = std::move(t);
                                     return;
                                   }
                                 }
                                 Emit(std::move(t), delivered);
                               });
    Flow* fp = flow.get();
    flow->http.SetAnomalyHandler(
        [this, fp](std::string_view kind, std::string_view reason, bool refused) {
          if (refused) ++stats_.refused;
          Anomaly(*fp, kind, reason, refused ? "refused" : "detected");
        });
    lru_.push_back(key);
    flow->lru = std::prev(lru_.end());
    it = flows_.emplace(key, std::move(flow)).first;
    ++stats_.flows;
  }
  Flow& f = *it->second;
  f.last_ms = now_ms;
  lru_.splice(lru_.end(), lru_, f.lru);
  if (f.blocked && (from_client || f.answer != Flow::Answer::kPending)) {
    // Nothing more is delivered on a blocked connection, except the resets Ward sends itself.
    d.drop = !((seg->flags & tcp_flag::kRst) != 0 && seg->payload.empty());
    if (from_client && (seg->flags & tcp_flag::kRst) == 0) AfterAnswer(it, d, now_ms);
    return d;
  }
  // (A blocked request whose answer waits: the server's packets are followed until it answered
  // the requests before it.)
  TcpStream& stream = from_client ? f.client : f.server;
  if ((seg->flags & tcp_flag::kSyn) != 0) {
    // A SYN (or its retransmission) starts the stream; once data went through, a SYN cannot
    // move Ward's idea of the sequence numbers (the server's TCP would not move either).
    if (stream.started() && (stream.delivered() > 0 || stream.held() > 0)) return d;
    stream.Start(seg->seq + 1);
    if (!seg->payload.empty()) {
      f.scratch.clear();
      stream.Add(seg->seq + 1, seg->payload, &f.scratch);
    }
    return d;
  }
  TcpStream& peer = from_client ? f.server : f.client;
  if ((seg->flags & tcp_flag::kRst) != 0) {
    // Linux takes a RST only at exactly the sequence number it expects next (RFC 5961; +1 after
    // a FIN); any other is ignored (a challenge ACK), so Ward keeps following the connection.
    if (!stream.started() || seg->seq == stream.next_seq() || seg->seq == stream.next_seq() + 1) {
      CloseFlow(it);
    } else {
      ++stats_.segments_ignored;
    }
    return d;
  }
  if (from_client && (seg->flags & tcp_flag::kAck) == 0 &&
      (!seg->payload.empty() || (seg->flags & tcp_flag::kUrg) != 0)) {
    // Data without the ACK flag after the handshake: Linux discards it without reading it. Not
    // inspected; in prevent mode dropped (the server would drop it anyway). (An ACK of data the
    // server never sent is discarded too, but Ward cannot be sure it saw all the server sent —
    // a full queue with `fail: open` lets packets pass unseen —, so such a decoy is caught by
    // the retransmission comparison below instead.)
    ++stats_.segments_ignored;
    d.drop = prevent;
    return d;
  }
  if ((seg->flags & tcp_flag::kAck) != 0) peer.Acked(seg->ack);
  if ((seg->flags & tcp_flag::kUrg) != 0) {
    // Urgent data: Linux (tcp_stdurg=0, no SO_OOBINLINE) takes the byte before the urgent
    // pointer out of the stream. In prevent mode a client that sends urgent data is refused (no
    // HTTP client does); otherwise Ward takes the byte out as the receiver does.
    if (from_client && prevent) {
      Refuse(f, d, "tcp_urgent", "TCP urgent (out-of-band) data");
      return d;
    }
    if (!stream.started()) stream.Start(seg->seq);
    stream.Urgent(seg->seq + (seg->urgent > 0 ? seg->urgent - 1u : 0u));
    if (from_client) Anomaly(f, "tcp_urgent", "TCP urgent (out-of-band) data", "detected");
  }
  if (!seg->payload.empty()) {
    f.scratch.clear();
    // What the receiver expects next, before this segment: where a reset must start.
    const uint32_t expected = stream.started() ? stream.next_seq() : seg->seq;
    const uint64_t differing = stream.differing();
    auto r = stream.Add(seg->seq, seg->payload, &f.scratch, prevent);
    if (stream.differing() != differing && from_client) {
      // A retransmission (or overlap) whose bytes differ from what Ward inspected or holds: the
      // receiver discarded the first copy for a reason Ward did not see, or the sender attacks
      // the IPS. Prevent mode drops it, so the server can only ever get the inspected version.
      Anomaly(f, "retransmission_differs",
              "a segment whose bytes differ from bytes already seen for the same sequence numbers",
              r == TcpStream::AddResult::kConflict ? "dropped" : "detected");
    }
    if (r == TcpStream::AddResult::kConflict) {
      ++stats_.segments_conflicting;
      d.drop = true;
      return d;
    }
    if (r == TcpStream::AddResult::kRefused) {
      ++stats_.segments_refused;
      // Inline, the sender retransmits what we refuse; passive, it is lost to inspection.
      d.drop = config.mode == Mode::kPrevent;
      return d;
    }
    if (!f.scratch.empty()) {
      // Request heads and response bodies held for parsing count against the total budget too;
      // past it, the least recently active flows are ended (oldest first).
      auto account = [&] {
        uint64_t now_held = f.http.buffered();
        http_buffered_ = http_buffered_ - f.http_accounted + now_held;
        f.http_accounted = now_held;
        while (budget_.used + http_buffered_ > budget_.limit && lru_.size() > 1) {
          auto victim = flows_.find(lru_.front());
          if (victim == flows_.end() || victim->second.get() == &f) break;
          CloseFlow(victim);
          ++stats_.flows_evicted;
        }
      };
      if (from_client) {
        const size_t waiting_before = f.http.waiting();
        bool blocked = f.http.ClientData(f.scratch);
        account();
        if (blocked) {
          f.blocked = true;
          d.drop = true;
          d.client_next = expected;  // the dropped packet's bytes were never delivered
          d.server_next = f.server.started() ? f.server.next_seq() : seg->ack;
          if (prevent) OnBlocked(f, d, waiting_before, expected, now_ms);
          return d;
        }
      } else {
        f.http.ServerData(f.scratch);
        account();
      }
    }
  }
  if (f.answer == Flow::Answer::kPending) {
    // Only the server's packets get here: answer once it answered every request before.
    if ((seg->flags & tcp_flag::kFin) != 0) {
      GiveUpAnswer(f, d, true);
    } else if (f.http.waiting() == 0 && f.server.held() == 0) {
      SendAnswer(f, d);
    }
    return d;
  }
  if ((seg->flags & tcp_flag::kFin) != 0) {
    (from_client ? f.client_fin : f.server_fin) = true;
    if (f.client_fin && f.server_fin) CloseFlow(it);
  }
  return d;
}

}  // namespace ward::agent::ips
