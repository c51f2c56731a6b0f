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
  Flow(std::shared_ptr<const WafRules> r, const Endpoints& ep, BufferBudget* budget, uint64_t limit,
       HttpConnection::DoneFn done)
      : rules(std::move(r)),
        client(budget, limit),
        server(budget, limit),
        http(rules, ep, std::move(done)),
        ep(ep) {}
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

void IpsEngine::Emit(std::unique_ptr<WafTransaction> t, bool delivered) {
  ++stats_.transactions;
  if (t->blocked() && !delivered) ++stats_.blocked;
  if (t->matches().empty() && !t->blocked()) return;
  ++stats_.events;
  if (emit_) emit_(TransactionEvent(clock_, *t, rules_->config(), delivered));
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
    auto flow = std::make_unique<Flow>(rules_, ep, &budget_, config.limits.flow_buffer,
                                       [this](std::unique_ptr<WafTransaction> t, bool delivered) {
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
  if (f.blocked) {
    // Nothing more is delivered on a blocked connection, except the resets Ward sends itself.
    d.drop = !((seg->flags & tcp_flag::kRst) != 0 && seg->payload.empty());
    return d;
  }
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
        bool blocked = f.http.ClientData(f.scratch);
        account();
        if (blocked) {
          f.blocked = true;
          d.drop = true;
          d.reset = true;
          d.client_next = expected;  // the dropped packet's bytes were never delivered
          d.server_next = f.server.started() ? f.server.next_seq() : seg->ack;
          return d;
        }
      } else {
        f.http.ServerData(f.scratch);
        account();
      }
    }
  }
  if ((seg->flags & tcp_flag::kFin) != 0) {
    (from_client ? f.client_fin : f.server_fin) = true;
    if (f.client_fin && f.server_fin) CloseFlow(it);
  }
  return d;
}

}  // namespace ward::agent::ips
