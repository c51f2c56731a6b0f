// Spool: the agent's durable, bounded event store on disk (SQLite, WAL) between the event queue
// and the manager. Events enter with Append() and leave only with Ack() after the manager's 200,
// so delivery is at-least-once; event ids make storage on the manager exactly-once.
//
// Bounded by the sum of the stored events' JSON sizes (`agent.spool_max_size`, default 256 MiB).
// When an append would pass the bound, the lowest-severity events go first, oldest first among
// equals, and a `ward` / `spool_dropped` event (severity high) says exactly how many were dropped.
// Durability: WAL with synchronous=FULL — each Append() commits one transaction and fsyncs the WAL,
// so an appended event survives kill -9 and power loss alike (see docs/transport.md).
// Thread-safety: every method may be called from any thread (one internal mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/event.h"
#include "common/sqlite.h"
#include "common/status.h"

namespace ward::agent::transport {

inline constexpr uint64_t kDefaultSpoolMaxBytes = 256ull << 20;

struct SpooledEvent {
  int64_t seq = 0;   // spool order (monotonic, never reused)
  std::string json;  // one line, as the outputs write it
};

struct SpoolStats {
  uint64_t depth = 0;    // events waiting
  uint64_t bytes = 0;    // their JSON size
  uint64_t dropped = 0;  // dropped because the spool was full, since it was created
};

class Spool {
 public:
  static Result<std::unique_ptr<Spool>> Open(const std::string& path, uint64_t max_bytes,
                                             const Clock& clock);

  // Stores events in one transaction, in order, evicting as described above when full.
  Status Append(const std::vector<Event>& events);
  // The oldest events, at most max_events and about max_bytes of JSON (at least one event).
  Result<std::vector<SpooledEvent>> Peek(size_t max_events, size_t max_bytes);
  // Removes a delivered batch: every event with first_seq <= seq <= last_seq (a Peek() result is
  // always a contiguous run of the spool; events evicted meanwhile are simply gone already).
  Status Ack(int64_t first_seq, int64_t last_seq);

  SpoolStats Stats() const;
  void set_max_bytes(uint64_t max_bytes);
  uint64_t max_bytes() const;

 private:
  Spool(std::unique_ptr<SqliteDb> db, uint64_t max_bytes, const Clock& clock)
      : db_(std::move(db)), max_bytes_(max_bytes), clock_(clock) {}
  Status Init();
  // Evicts until `incoming` more bytes fit; returns how many events were evicted.
  Result<uint64_t> MakeRoom(uint64_t incoming);
  Status Insert(const Event& e, const std::string& json);

  mutable std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;
  uint64_t max_bytes_;
  const Clock& clock_;
  uint64_t depth_ = 0;
  uint64_t bytes_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace ward::agent::transport
