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
  if (budget_ != nullptr) budget_->used -= held_;
  held_ = 0;
  ooo_.clear();
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

TcpStream::AddResult TcpStream::Add(uint32_t seq, std::string_view data, std::string* out,
                                    bool refuse_conflicts) {
  if (!started_) Start(seq);
  if (data.empty()) return AddResult::kDuplicate;
  // Offset of this segment relative to the next expected byte (serial-number arithmetic).
  auto rel = static_cast<int32_t>(seq - next_seq_);
  if (rel <= 0) {
    uint64_t skip = static_cast<uint64_t>(-static_cast<int64_t>(rel));
    if (skip >= data.size()) return AddResult::kDuplicate;
    data.remove_prefix(skip);
    if (refuse_conflicts && Conflicts(delivered_, data)) return AddResult::kConflict;
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
  if (refuse_conflicts && Conflicts(start, data)) return AddResult::kConflict;
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
