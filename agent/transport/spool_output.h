// SpoolOutput: the Output through which the agent's EventQueue writes into the Spool. Write()
// collects a dispatch round's events; Flush() stores them in one transaction and wakes the sender.
// When the disk refuses (full, I/O error) the events stay buffered (up to max_pending) and are
// tried again at the next Flush(); the spool's stats show how many wait and why (heartbeat), and
// on_trouble runs at the first failure so the manager hears of it at once. Beyond max_pending
// events are lost and counted (Spool::CountUnstored). Close() at shutdown writes what is still
// held, freeing the spool's reserve if it must, and counts what even then cannot be written:
// nothing is discarded silently.
// Thread-safety: Write()/Flush() from the event queue's dispatch thread, as Output requires;
// Close() once that thread has stopped.
#pragma once

#include <atomic>
#include <functional>
#include <vector>

#include "agent/core/output.h"
#include "agent/transport/spool.h"

namespace ward::agent::transport {

class SpoolOutput final : public Output {
 public:
  static constexpr size_t kMaxPending = 100'000;

  SpoolOutput(Spool& spool, std::function<void()> on_stored, std::function<void()> on_trouble = {},
              size_t max_pending = kMaxPending)
      : spool_(spool),
        on_stored_(std::move(on_stored)),
        on_trouble_(std::move(on_trouble)),
        max_pending_(max_pending) {}
  void Write(const Event& event) override;
  void Flush() override;
  // At shutdown, after the last Flush(): stores or counts every event still held in memory.
  void Close();

  uint64_t write_errors() const { return write_errors_.load(); }
  uint64_t lost() const { return lost_.load(); }
  size_t pending() const { return pending_.size(); }

 private:
  Spool& spool_;
  std::function<void()> on_stored_;
  std::function<void()> on_trouble_;
  const size_t max_pending_;
  std::vector<Event> pending_;
  uint64_t lost_unreported_ = 0;
  bool failing_ = false;
  std::atomic<uint64_t> write_errors_{0};
  std::atomic<uint64_t> lost_{0};
};

}  // namespace ward::agent::transport
