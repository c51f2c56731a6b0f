// IpsEngine: packets in, verdicts and events out. Tracks TCP flows to the policy's ports,
// reassembles both directions (TcpStream), parses HTTP (HttpConnection) and runs the WAF; one
// event per transaction with matched rules (event.action detected, or blocked in prevent mode).
//
// A blocked request (prevent mode) is answered: the packet completing it is dropped, the client
// gets an HTTP answer with the policy's block_status (a small body naming the transaction id) at
// the server's next sequence number, with FIN, and the server a RST where its stream stopped.
// When requests delivered before it still wait for their responses, the answer waits for them
// (the server's packets go on being followed); where TCP does not allow an answer (the server
// closed, server bytes missing, undelivered requests before it in the same packet, block_status
// 0, a refused connection) both sides are reset. The event says which (ips.response).
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
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

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
  // The connection is to be reset both ways (client_next/server_next below; `segment` is the
  // client's packet): a refused connection, or a blocked request that cannot be answered.
  bool reset = false;
  // Packets Ward sends itself now (built whole; IPv6 when send_v6): a blocked request's answer
  // to the client followed by the server's reset, an answer sent again, the ACK of the client's
  // FIN after an answer, or the resets of an answer given up. Never together with `reset`.
  std::vector<std::string> send;
  bool send_v6 = false;
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
  uint64_t answered = 0;  // blocked requests answered (block_status), the others were reset
};

// The answer a blocked request gets: `status` with a small text body naming the transaction,
// `Connection: close` (the body alone for an HTTP/0.9 request).
std::string BlockAnswer(int status, std::string_view transaction_id, std::string_view version);

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
  // `response`: for a blocked request, how the client was told (answered, reset), in the event.
  void Emit(std::unique_ptr<WafTransaction> t, bool delivered, std::string_view response = {});
  // Prevent mode, a request was blocked by the packet `d` (client bytes from `block_seq` on were
  // not delivered; `waiting_before` requests were waiting for their response before it): answers
  // it now, or once the server answered the requests before it, or resets both ways.
  void OnBlocked(Flow& f, PacketDecision& d, size_t waiting_before, uint32_t block_seq,
                 int64_t now_ms);
  // Sends the held blocked transaction's answer to the client and resets the server.
  void SendAnswer(Flow& f, PacketDecision& d);
  // Gives up a pending answer: resets both ways (into d.send); `server_fin`: the server closed.
  void GiveUpAnswer(Flow& f, PacketDecision& d, bool server_fin);
  // A client packet on a connection whose blocked request was answered or is to be.
  void AfterAnswer(FlowMap::iterator it, PacketDecision& d, int64_t now_ms);
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
