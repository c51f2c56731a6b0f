#include "agent/transport/spool_output.h"

#include "common/log.h"

namespace ward::agent::transport {

void SpoolOutput::Write(const Event& event) {
  if (pending_.size() >= max_pending_) {
    ++lost_;
    ++lost_unreported_;
    return;
  }
  pending_.push_back(event);
}

void SpoolOutput::Flush() {
  bool trouble = false;
  if (lost_unreported_ > 0) {
    spool_.CountUnstored(lost_unreported_);
    lost_unreported_ = 0;
    trouble = true;
  }
  if (!pending_.empty()) {
    Status s = spool_.Append(pending_);
    if (!s.ok()) {
      ++write_errors_;
      spool_.SetUnstored(pending_.size(), s.ToString());
      if (!failing_) {
        spdlog::error("event spool: {} event(s) not stored yet: {}", pending_.size(), s.ToString());
        trouble = true;
      }
      failing_ = true;
    } else {
      pending_.clear();
      if (failing_) {
        spdlog::info("event spool: writes succeed again");
        spool_.SetUnstored(0, "");
        failing_ = false;
        trouble = true;  // the manager should see it healthy again soon too
      }
      if (on_stored_) on_stored_();
    }
  }
  if (trouble && on_trouble_) on_trouble_();
}

void SpoolOutput::Close() {
  Flush();
  if (pending_.empty()) return;
  // The disk refused them: use the reserve kept beside the spool for exactly this.
  spool_.ReleaseReserve();
  Status s = spool_.Append(pending_);
  if (s.ok()) {
    spdlog::warn("event spool: {} event(s) held in memory written at shutdown", pending_.size());
  } else {
    spdlog::error(
        "event spool: {} event(s) held in memory could not be written at shutdown ({}); "
        "counted as dropped and reported at the next start",
        pending_.size(), s.ToString());
    spool_.CountUnstored(pending_.size());
  }
  pending_.clear();
  spool_.SetUnstored(0, "");
}

}  // namespace ward::agent::transport
