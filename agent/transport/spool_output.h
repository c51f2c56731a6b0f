// SpoolOutput: the Output through which the agent's EventQueue writes into the Spool. Write()
// collects a dispatch round's events; Flush() stores them in one transaction and wakes the sender.
// When the disk refuses (full, I/O error) the events stay buffered (up to kMaxPending) and are
// tried again at the next Flush(); beyond that they are dropped and counted.
// Thread-safety: Write()/Flush() from the event queue's dispatch thread, as Output requires.
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

  SpoolOutput(Spool& spool, std::function<void()> on_stored)
      : spool_(spool), on_stored_(std::move(on_stored)) {}
  void Write(const Event& event) override;
  void Flush() override;

  uint64_t write_errors() const { return write_errors_.load(); }
  uint64_t lost() const { return lost_.load(); }

 private:
  Spool& spool_;
  std::function<void()> on_stored_;
  std::vector<Event> pending_;
  std::atomic<uint64_t> write_errors_{0};
  std::atomic<uint64_t> lost_{0};
};

}  // namespace ward::agent::transport
