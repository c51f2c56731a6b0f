// TcpStream: one direction of a TCP connection put back in order.
//
// Overlaps are resolved first-wins: bytes already delivered, or already held out of order, are
// never replaced by a later segment that covers the same sequence numbers (the choice of Snort's
// "first" policy and of Linux for data it has queued; documented in docs/ips.md). Out-of-order
// data is held up to `limit` bytes per direction, and up to a budget shared by all streams;
// a segment that does not fit is refused (Add returns kRefused) and not held.
//
// What the receiving application reads, not just what was sent: an urgent byte (Urgent(), Linux's
// default tcp_stdurg=0 without SO_OOBINLINE: the byte before the urgent pointer) is taken out of
// the delivered bytes. Bytes delivered but not yet acknowledged by the receiver are kept (up to
// `limit`, within the shared budget) so that a retransmission of them can be compared: one whose
// bytes differ from what was inspected means the receiver discarded the first copy for a reason
// Ward did not see (or the sender is attacking the IPS), and is counted in differing().
// Thread-safety: none; one stream belongs to one flow, used by one thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace ward::agent::ips {

// Bytes held out of order by all streams together.
struct BufferBudget {
  uint64_t limit = 0;
  uint64_t used = 0;
};

class TcpStream {
 public:
  // kConflict: with `refuse_conflicts`, the segment carries bytes that differ from bytes already
  // held for the same sequence numbers; nothing was changed.
  enum class AddResult { kInOrder, kHeld, kDuplicate, kRefused, kConflict };

  TcpStream(BufferBudget* budget, uint64_t limit) : budget_(budget), limit_(limit) {}
  ~TcpStream() { Clear(); }
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  // The sequence number of the first data byte (ISN + 1 after a SYN, or the first data segment
  // seen when the connection was picked up mid-stream).
  void Start(uint32_t next_seq);
  bool started() const { return started_; }

  // Adds a segment. Bytes that become in order (this segment's and held ones it releases) are
  // appended to *out. With refuse_conflicts (inline prevent mode) a segment whose bytes differ
  // from held bytes at the same sequence numbers is refused (kConflict) instead of losing to
  // them: the receiving kernel may keep either version, so such a packet is dropped and the one
  // version Ward inspected is the only one the server can get.
  AddResult Add(uint32_t seq, std::string_view data, std::string* out,
                bool refuse_conflicts = false);

  // The receiver will take the byte at `seq` out of band (it is not delivered in order); a newer
  // urgent pointer replaces an older one whose byte has not been delivered yet, and a pointer at
  // bytes already delivered is ignored, as Linux does.
  void Urgent(uint32_t seq);
  // The receiver acknowledged everything before `ack`: those bytes need not be kept any more.
  void Acked(uint32_t ack);
  // Segments seen so far whose bytes differ from bytes already delivered or held for the same
  // sequence numbers (with refuse_conflicts such a segment is refused: kConflict).
  uint64_t differing() const { return differing_; }
  // Urgent bytes taken out of the stream so far.
  uint64_t urgent_removed() const { return urgent_removed_; }

  // The sequence number expected next.
  uint32_t next_seq() const { return next_seq_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t held() const { return held_; }
  void Clear();

 private:
  AddResult AddBytes(uint32_t seq, std::string_view data, std::string* out, bool refuse_conflicts);
  void Drain(std::string* out);
  // Keeps delivered bytes [delivered_ - bytes.size(), delivered_) for comparison.
  void Retain(std::string_view bytes);
  // Forgets the oldest `n` kept bytes.
  void Forget(uint64_t n);
  std::string_view Kept() const { return std::string_view(recent_).substr(recent_skip_); }
  // True when `data` at stream offset `start` (all before delivered_) differs from kept bytes.
  bool DiffersFromDelivered(uint64_t start, std::string_view data) const;
  // True when data placed at stream offset `start` differs from a held byte it overlaps.
  bool Conflicts(uint64_t start, std::string_view data) const;

  BufferBudget* budget_;
  uint64_t limit_;
  bool started_ = false;
  uint32_t next_seq_ = 0;
  uint64_t delivered_ = 0;               // stream offset of next_seq_
  std::map<uint64_t, std::string> ooo_;  // stream offset -> bytes, non-overlapping
  uint64_t held_ = 0;
  std::string recent_;  // from recent_skip_: delivered bytes not yet acknowledged, to delivered_
  size_t recent_skip_ = 0;
  bool urgent_pending_ = false;
  uint64_t urgent_ = 0;  // stream offset of the urgent byte
  uint64_t differing_ = 0;
  uint64_t urgent_removed_ = 0;
};

}  // namespace ward::agent::ips
