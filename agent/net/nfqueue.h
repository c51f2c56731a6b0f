// NFQUEUE: the packets iptables rules send to a queue (`-j NFQUEUE --queue-num Q`), read and
// answered (accept/drop) by a handler, and a raw socket for crafted packets (RSTs). The rules that
// feed a queue are a module's, installed through ChainManager (agent/net/chain_manager.h).
// With `fail_open` the queue has NFQA_CFG_F_FAIL_OPEN (packets pass when the queue is full); the
// rules' --queue-bypass (packets pass when no one listens) is the module's choice.
// Thread-safety: one NfQueue per reader thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

struct nfq_handle;
struct nfgenmsg;
struct nfq_data;
struct nfq_q_handle;

namespace ward::net {

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

  // The richer form (egress): the handler sees where the packet is going and whose it is, and
  // may accept, drop, replace the packet (a rewritten DNS answer) or set its mark and have the
  // hook run again (NF_REPEAT: the module's rules then see the mark and save it in conntrack, so
  // the flow's later packets bypass the queue).
  struct PacketInfo {
    std::string_view packet;      // the IP packet
    bool outbound = false;        // from the OUTPUT hook
    std::optional<uint32_t> uid;  // the local socket's owner (NFQA_UID), when the kernel knows
    std::optional<uint32_t> gid;
    uint32_t mark = 0;  // the packet's mark as it came
  };
  struct Verdict {
    enum class Kind { kAccept, kDrop, kRepeat };
    Kind kind = Kind::kAccept;
    uint32_t mark = 0;    // kRepeat: the packet's new mark
    std::string replace;  // kAccept: non-empty = the packet sent on instead (checksums right)
  };
  using VerdictHandler = std::function<Verdict(const PacketInfo&)>;
  // REQUIRES: handler. The queue asks for uid/gid (NFQA_CFG_F_UID_GID).
  static Result<std::unique_ptr<NfQueue>> Open(uint16_t queue, bool fail_open,
                                               VerdictHandler handler);
  ~NfQueue();
  // Reads and handles packets until `stop` (checked every ~100 ms) or until idle(), called when
  // no packet came for 100 ms (a receive timeout) and otherwise whenever `clock` says 100 ms
  // passed since its last call, returns true.
  Status Run(std::stop_token stop, const Clock& clock, const std::function<bool()>& idle);

 private:
  NfQueue() = default;
  static int Callback(nfq_q_handle* qh, ::nfgenmsg* msg, ::nfq_data* nfa, void* data);
  nfq_handle* h_ = nullptr;
  nfq_q_handle* qh_ = nullptr;
  Handler handler_;
  VerdictHandler verdict_handler_;
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

}  // namespace ward::net
