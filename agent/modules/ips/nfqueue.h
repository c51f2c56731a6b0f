// Inline capture: iptables rules that send the policy's ports to an NFQUEUE, and the queue itself.
//
// Rules live in two chains of the filter table, WARD_IPS_IN (jumped to from INPUT: --dport) and
// WARD_IPS_OUT (from OUTPUT: --sport), for iptables and ip6tables. With `fail: open` the targets
// carry --queue-bypass (packets pass when no agent listens) and the queue has
// NFQA_CFG_F_FAIL_OPEN (packets pass when the queue is full); `fail: closed` has neither.
// Install() first removes leftovers of an earlier run; Remove() is idempotent.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/modules/ips/config.h"
#include "common/status.h"

struct nfq_handle;
struct nfgenmsg;
struct nfq_data;
struct nfq_q_handle;

namespace ward::agent::ips {

// The rules of the two chains for iptables (v6 = false) or ip6tables: (chain, arguments after
// `-A chain`). For tests and docs.
std::vector<std::pair<std::string, std::vector<std::string>>> QueueRules(const IpsConfig& config,
                                                                         bool v6);
Status InstallIptablesRules(const IpsConfig& config);
void RemoveIptablesRules();

class NfQueue {
 public:
  // Returns true to accept the packet, false to drop it. `verify_checksum`: the kernel has not
  // verified the packet's TCP checksum and will (NFQA_SKB_CSUM_NOTVERIFIED); false when it was
  // verified already (CHECKSUM_UNNECESSARY) or is not computed yet (CHECKSUM_PARTIAL: a locally
  // sent packet, NFQA_SKB_CSUMNOTREADY), which the receiver does not check either.
  using Handler = std::function<bool(std::string_view ip_packet, bool verify_checksum)>;
  // Which packets are accepted before the handler sees (a copy of) them, so that inspection does
  // not delay them; the handler's answer is then ignored. kAll: detect mode. kOutbound: packets
  // from the OUTPUT hook (the server's responses; prevent mode, where responses are inspected
  // but never blocked). kNone: every verdict waits for the handler.
  enum class VerdictFirst { kNone, kOutbound, kAll };
  static Result<std::unique_ptr<NfQueue>> Open(uint16_t queue, bool fail_open,
                                               VerdictFirst verdict_first, Handler handler);
  ~NfQueue();
  // Reads and handles packets until `stop` (checked every ~100 ms) or until idle(), called when
  // no packet came for 100 ms and at least every 100 ms otherwise, returns true.
  Status Run(std::stop_token stop, const std::function<bool()>& idle);

 private:
  NfQueue() = default;
  static int Callback(nfq_q_handle* qh, ::nfgenmsg* msg, ::nfq_data* nfa, void* data);
  nfq_handle* h_ = nullptr;
  nfq_q_handle* qh_ = nullptr;
  Handler handler_;
  VerdictFirst verdict_first_ = VerdictFirst::kNone;
  std::string copy_;
};

// Sends crafted TCP packets (RSTs) through a raw socket.
class RawSender {
 public:
  RawSender();
  ~RawSender();
  bool Send(std::string_view ip_packet, bool v6);

 private:
  int fd4_ = -1;
  int fd6_ = -1;
};

}  // namespace ward::agent::ips
