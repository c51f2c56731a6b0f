#include "agent/transport/spool_output.h"

#include "common/log.h"

namespace ward::agent::transport {

void SpoolOutput::Write(const Event& event) {
  if (pending_.size() >= kMaxPending) {
    ++lost_;
    return;
  }
  pending_.push_back(event);
}

void SpoolOutput::Flush() {
  if (pending_.empty()) return;
  Status s = spool_.Append(pending_);
  if (!s.ok()) {
    ++write_errors_;
    spdlog::error("event spool: {} event(s) not stored yet: {}", pending_.size(), s.ToString());
    return;
  }
  pending_.clear();
  if (on_stored_) on_stored_();
}

}  // namespace ward::agent::transport
