// IpsEngine: packets in, verdicts and events out. Tracks TCP flows to the policy's ports,
// reassembles both directions (TcpStream), parses HTTP (HttpConnection) and runs the WAF; one
// event per transaction with matched rules (event.action detected, or blocked in prevent mode).
//
// Bounded: at most limits.max_flows flows (the least recently active is evicted), out-of-order
// bytes per direction and in total; out-of-order bytes plus the HTTP bytes held for parsing
// (request heads, response bodies) stay within limits.total_buffer (least recently active flows are
// ended to stay under it); idle flows expire after limits.flow_timeout (Expire()). Thread-safety:
// none; one thread feeds packets. SetRules() may be called between packets.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string_view>
#include <tuple>

#include "agent/modules/ips/http_connection.h"
#include "agent/modules/ips/tcp_stream.h"
#include "agent/modules/ips/waf.h"
#include "agent/net/packet.h"
#include "common/clock.h"
#include "common/event.h"

namespace ward::agent::ips {

// Packets are decoded by agent/net (docs/net.md); the engine speaks its types.
using net::IpAddress;
using net::TcpSegment;
namespace tcp_flag = net::tcp_flag;

struct PacketDecision {
  bool drop = false;  // do not deliver this packet
  // This packet completed a blocked request: the connection is to be reset both ways.
  bool reset = false;
  TcpSegment segment;  // the decoded packet (valid while the packet buffer lives)
  // For the reset: the next sequence numbers of each side.
  uint32_t client_next = 0;
  uint32_t server_next = 0;
  bool from_client = false;
};

struct EngineStats {
  uint64_t packets = 0;
  uint64_t flows = 0;
  uint64_t flows_evicted = 0;
  uint64_t segments_refused = 0;
  uint64_t segments_conflicting = 0;   // prevent mode: overlapping segments with different bytes
  uint64_t segments_bad_checksum = 0;  // the receiver will discard them: not inspected
  uint64_t segments_ignored = 0;       // ditto: client data without ACK, off-sequence RSTs
  uint64_t anomalies = 0;              // evasion attempts and framing anomalies reported
  uint64_t refused = 0;                // prevent mode: connections refused (reset) for them
  uint64_t transactions = 0;
  uint64_t events = 0;
  uint64_t blocked = 0;
};

// Builds the event for a finished transaction with matches (exposed for tests and replay).
// `delivered`: the request reached the server (a transaction the WAF wanted to block once the
// connection had ended); such an event says `detected`, never `blocked`, with
// ips.reached_server = true.
Event TransactionEvent(const Clock& clock, const WafTransaction& t, const IpsConfig& config,
                       bool delivered = false);

class IpsEngine {
 public:
  using EmitFn = std::function<void(Event)>;
  IpsEngine(std::shared_ptr<const WafRules> rules, const Clock& clock, EmitFn emit);
  // One of `shares` engines fed in parallel (one per thread): each gets that share of
  // limits.max_flows and limits.total_buffer, so the limits hold for all of them together.
  IpsEngine(std::shared_ptr<const WafRules> rules, const Clock& clock, int shares, EmitFn emit);
  ~IpsEngine();

  // New flows use the new rules; flows already open keep theirs.
  void SetRules(std::shared_ptr<const WafRules> rules);
  // One IP packet; now_ms is a monotonic (or capture) time in milliseconds. With
  // verify_checksum (the receiving kernel will verify it: NFQUEUE's NFQA_SKB_CSUM_NOTVERIFIED),
  // a segment whose TCP checksum is wrong is not inspected (and dropped in prevent mode).
  PacketDecision OnPacket(std::string_view ip_packet, int64_t now_ms, bool verify_checksum = false);
  // Ends flows idle for longer than the flow timeout.
  void Expire(int64_t now_ms);
  // Ends every flow (end of a capture, shutdown).
  void CloseAll();

  const EngineStats& stats() const { return stats_; }
  size_t flow_count() const { return flows_.size(); }
  uint64_t buffered_bytes() const { return budget_.used + http_buffered_; }

 private:
  struct FlowKey {
    IpAddress client;
    uint16_t client_port;
    IpAddress server;
    uint16_t server_port;
    auto operator<=>(const FlowKey&) const = default;
  };
  struct Flow;
  using FlowMap = std::map<FlowKey, std::unique_ptr<Flow>>;

  void CloseFlow(FlowMap::iterator it);
  void Emit(std::unique_ptr<WafTransaction> t, bool delivered);
  // Reports an evasion attempt or framing anomaly on `f` (once per kind and flow); `action`:
  // refused (connection reset), dropped (segment), detected.
  void Anomaly(Flow& f, std::string_view kind, std::string_view reason, std::string_view action);
  // Prevent mode: drops this client packet and resets the connection both ways, for `kind`.
  void Refuse(Flow& f, PacketDecision& d, std::string_view kind, std::string_view reason);
  uint64_t MaxFlows() const;

  std::shared_ptr<const WafRules> rules_;
  const Clock& clock_;
  EmitFn emit_;
  uint64_t shares_ = 1;
  FlowMap flows_;
  std::list<FlowKey> lru_;  // front: least recently active
  BufferBudget budget_;
  uint64_t http_buffered_ = 0;  // HttpConnection::buffered() over all flows
  EngineStats stats_;
};

}  // namespace ward::agent::ips
