#include "agent/modules/ips/tcp_stream.h"

#include <algorithm>
#include <iterator>

namespace ward::agent::ips {

void TcpStream::Start(uint32_t next_seq) {
  Clear();
  started_ = true;
  next_seq_ = next_seq;
  delivered_ = 0;
}

void TcpStream::Clear() {
  if (budget_ != nullptr) budget_->used -= held_ + Kept().size();
  held_ = 0;
  ooo_.clear();
  std::string().swap(recent_);
  recent_skip_ = 0;
  urgent_pending_ = false;
}

void TcpStream::Forget(uint64_t n) {
  // Bytes are forgotten from the front by moving recent_skip_; the string is compacted only when
  // the forgotten part is large, so keeping costs O(1) per byte, not a move of the window per
  // segment.
  recent_skip_ += n;
  if (budget_ != nullptr) budget_->used -= n;
  if (recent_skip_ == recent_.size()) {
    // All acknowledged: a large buffer is given back (memory beyond the budget's count).
    if (recent_.capacity() > 16 * 1024) {
      std::string().swap(recent_);
    } else {
      recent_.clear();
    }
    recent_skip_ = 0;
  } else if (recent_skip_ >= 4096 && recent_skip_ > recent_.size() / 2) {
    recent_.erase(0, recent_skip_);
    recent_skip_ = 0;
  }
}

void TcpStream::Retain(std::string_view bytes) {
  recent_.append(bytes);
  if (budget_ != nullptr) budget_->used += bytes.size();
  // Kept bytes give way first: at most `limit` per direction, and never more than half of the
  // shared budget in use (out-of-order data and HTTP heads need the room more).
  const uint64_t kept = Kept().size();
  uint64_t drop = kept > limit_ ? kept - limit_ : 0;
  if (budget_ != nullptr && budget_->used > budget_->limit / 2) {
    drop = std::max<uint64_t>(drop, budget_->used - budget_->limit / 2);
  }
  drop = std::min<uint64_t>(drop, kept);
  if (drop > 0) Forget(drop);
}

void TcpStream::Acked(uint32_t ack) {
  const uint64_t kept = Kept().size();
  if (!started_ || kept == 0) return;
  auto rel = static_cast<int32_t>(ack - next_seq_);
  uint64_t keep = rel >= 0 ? 0 : std::min<uint64_t>(kept, -static_cast<int64_t>(rel));
  if (kept > keep) Forget(kept - keep);
}

void TcpStream::Urgent(uint32_t seq) {
  if (!started_) return;
  auto rel = static_cast<int32_t>(seq - next_seq_);
  if (rel < 0) return;  // already delivered: ignored, as Linux ignores a pointer into read data
  uint64_t off = delivered_ + static_cast<uint64_t>(rel);
  if (urgent_pending_ && off <= urgent_) return;  // an older (or the same) urgent pointer
  urgent_ = off;
  urgent_pending_ = true;
}

bool TcpStream::DiffersFromDelivered(uint64_t start, std::string_view data) const {
  const std::string_view kept = Kept();
  const uint64_t kept_from = delivered_ - kept.size();
  if (start < kept_from) {
    uint64_t cut = std::min<uint64_t>(kept_from - start, data.size());
    data.remove_prefix(cut);
    start += cut;
  }
  if (data.empty()) return false;
  return data != kept.substr(start - kept_from, data.size());
}

TcpStream::AddResult TcpStream::Add(uint32_t seq, std::string_view data, std::string* out,
                                    bool refuse_conflicts) {
  if (!started_) Start(seq);
  if (data.empty()) return AddResult::kDuplicate;
  // Bytes before next_seq_ were delivered (inspected): a copy of them that differs is counted,
  // and refused with refuse_conflicts.
  auto rel = static_cast<int32_t>(seq - next_seq_);
  if (rel < 0) {
    uint64_t back = -static_cast<int64_t>(rel);
    std::string_view old = data.substr(0, std::min<uint64_t>(back, data.size()));
    if (back > delivered_) {  // reaches before the stream's first byte: that part is not data
      uint64_t cut = std::min<uint64_t>(back - delivered_, old.size());
      old.remove_prefix(cut);
      back -= cut;
    }
    if (DiffersFromDelivered(delivered_ - back, old)) {
      ++differing_;
      if (refuse_conflicts) return AddResult::kConflict;
    }
  }
  const size_t out_start = out->size();
  const uint64_t from = delivered_;
  AddResult r = AddBytes(seq, data, out, refuse_conflicts);
  if (delivered_ > from) {
    Retain(std::string_view(*out).substr(out_start));
    if (urgent_pending_ && urgent_ < from) urgent_pending_ = false;
    if (urgent_pending_ && urgent_ < delivered_) {
      // The receiving application never reads the urgent byte in band.
      out->erase(out_start + (urgent_ - from), 1);
      urgent_pending_ = false;
      ++urgent_removed_;
    }
  }
  return r;
}

bool TcpStream::Conflicts(uint64_t start, std::string_view data) const {
  const uint64_t end = start + data.size();
  auto it = ooo_.upper_bound(start);
  if (it != ooo_.begin()) --it;
  for (; it != ooo_.end() && it->first < end; ++it) {
    uint64_t a = std::max(start, it->first);
    uint64_t b = std::min(end, it->first + it->second.size());
    if (a >= b) continue;
    if (data.substr(a - start, b - a) !=
        std::string_view(it->second).substr(a - it->first, b - a)) {
      return true;
    }
  }
  return false;
}

TcpStream::AddResult TcpStream::AddBytes(uint32_t seq, std::string_view data, std::string* out,
                                         bool refuse_conflicts) {
  // Offset of this segment relative to the next expected byte (serial-number arithmetic).
  auto rel = static_cast<int32_t>(seq - next_seq_);
  if (rel <= 0) {
    uint64_t skip = static_cast<uint64_t>(-static_cast<int64_t>(rel));
    if (skip >= data.size()) return AddResult::kDuplicate;
    data.remove_prefix(skip);
    if (Conflicts(delivered_, data)) {
      ++differing_;
      if (refuse_conflicts) return AddResult::kConflict;
    }
    // Held bytes at the same offsets were there first: deliver up to the first held segment,
    // then let Drain deliver the held bytes (first-wins), then whatever this segment adds after.
    uint64_t start = delivered_;
    uint64_t end = start + data.size();
    uint64_t pos = start;
    for (auto it = ooo_.begin(); it != ooo_.end() && it->first < end;) {
      if (it->first > pos) {
        out->append(data.substr(pos - start, it->first - pos));
      }
      uint64_t seg_end = it->first + it->second.size();
      if (seg_end > pos) {
        uint64_t from = pos > it->first ? pos - it->first : 0;
        out->append(it->second, from, std::string::npos);
        pos = seg_end;
      }
      held_ -= it->second.size();
      if (budget_ != nullptr) budget_->used -= it->second.size();
      it = ooo_.erase(it);
    }
    if (pos < end) {
      out->append(data.substr(pos - start));
      pos = end;
    }
    next_seq_ += static_cast<uint32_t>(pos - delivered_);
    delivered_ = pos;
    Drain(out);
    return AddResult::kInOrder;
  }
  // Ahead of a gap: hold the parts no held segment covers yet.
  uint64_t start = delivered_ + static_cast<uint64_t>(rel);
  if (Conflicts(start, data)) {
    ++differing_;
    if (refuse_conflicts) return AddResult::kConflict;
  }
  uint64_t end = start + data.size();
  uint64_t pos = start;
  std::map<uint64_t, std::string> pieces;
  auto it = ooo_.upper_bound(start);
  if (it != ooo_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second.size() > pos) pos = prev->first + prev->second.size();
  }
  for (; pos < end; ++it) {
    uint64_t next_start = (it == ooo_.end()) ? end : std::min(end, it->first);
    if (next_start > pos)
      pieces.emplace(pos, std::string(data.substr(pos - start, next_start - pos)));
    if (it == ooo_.end()) break;
    pos = std::max(pos, it->first + it->second.size());
  }
  uint64_t add = 0;
  for (const auto& [o, b] : pieces) add += b.size();
  if (add == 0) return AddResult::kDuplicate;
  if (held_ + add > limit_ || (budget_ != nullptr && budget_->used + add > budget_->limit)) {
    return AddResult::kRefused;
  }
  for (auto& [o, b] : pieces) ooo_.emplace(o, std::move(b));
  held_ += add;
  if (budget_ != nullptr) budget_->used += add;
  return AddResult::kHeld;
}

void TcpStream::Drain(std::string* out) {
  while (!ooo_.empty() && ooo_.begin()->first <= delivered_) {
    auto it = ooo_.begin();
    uint64_t seg_end = it->first + it->second.size();
    if (seg_end > delivered_) {
      out->append(it->second, delivered_ - it->first, std::string::npos);
      next_seq_ += static_cast<uint32_t>(seg_end - delivered_);
      delivered_ = seg_end;
    }
    held_ -= it->second.size();
    if (budget_ != nullptr) budget_->used -= it->second.size();
    ooo_.erase(it);
  }
}

}  // namespace ward::agent::ips
