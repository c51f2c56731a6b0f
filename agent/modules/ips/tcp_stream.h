// TcpStream: one direction of a TCP connection put back in order.
//
// Overlaps are resolved first-wins: bytes already delivered, or already held out of order, are
// never replaced by a later segment that covers the same sequence numbers (the choice of Snort's
// "first" policy and of Linux for data it has queued; documented in docs/ips.md). Out-of-order
// data is held up to `limit` bytes per direction, and up to a budget shared by all streams;
// a segment that does not fit is refused (Add returns kRefused) and not held.
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

  // The sequence number expected next.
  uint32_t next_seq() const { return next_seq_; }
  uint64_t delivered() const { return delivered_; }
  uint64_t held() const { return held_; }
  void Clear();

 private:
  void Drain(std::string* out);
  // True when data placed at stream offset `start` differs from a held byte it overlaps.
  bool Conflicts(uint64_t start, std::string_view data) const;

  BufferBudget* budget_;
  uint64_t limit_;
  bool started_ = false;
  uint32_t next_seq_ = 0;
  uint64_t delivered_ = 0;               // stream offset of next_seq_
  std::map<uint64_t, std::string> ooo_;  // stream offset -> bytes, non-overlapping
  uint64_t held_ = 0;
};

}  // namespace ward::agent::ips
