// Spool: the agent's durable, bounded event store on disk (SQLite, WAL) between the event queue
// and the manager. Events enter with Append() and leave only with Ack() after the manager's 200,
// so delivery is at-least-once; event ids make storage on the manager exactly-once.
//
// Bounded by the sum of the stored events' JSON sizes (`agent.spool_max_size`, default 256 MiB).
// When an append would pass the bound, the lowest-severity events go first, oldest first among
// equals, and a `ward` / `spool_dropped` event (severity high) says exactly how many were dropped.
// Durability: WAL with synchronous=FULL — each Append() commits one transaction and fsyncs the WAL,
// so an appended event survives kill -9 and power loss alike (see docs/transport.md).
// Disk full: a delivered batch is never sent again. Ack() first moves an in-memory watermark
// (Peek() returns nothing at or below it), then deletes; when the delete cannot be written it frees
// a small reserve file kept beside the spool (`<spool>-reserve`, 4 MiB) and tries again, and what
// still cannot be deleted is deleted by the next write that succeeds. Events the agent could not
// store (refused by the disk while the spool was the only copy) are counted with CountUnstored()
// into `dropped` and reported by the next spool_dropped event once a write succeeds.
// Thread-safety: every method may be called from any thread (one internal mutex).
#pragma once

#include <chrono>
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
  uint64_t depth = 0;       // events waiting
  uint64_t bytes = 0;       // their JSON size
  uint64_t dropped = 0;     // dropped (spool full, or could not be stored), since it was created
  uint64_t unstored = 0;    // events held in memory because the disk refused them (SpoolOutput)
  std::string write_error;  // the last write's error while writes fail; empty when healthy
};

inline constexpr uint64_t kSpoolReserveBytes = 4ull << 20;

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

  // Events that could not be stored (the disk refused them and they had to be given up): added to
  // `dropped`, persisted when possible, and stated by the next spool_dropped event.
  void CountUnstored(uint64_t n);
  // What SpoolOutput holds in memory after a failed write, and that write's error ("" = none).
  void SetUnstored(uint64_t n, std::string error);
  // Frees the reserve file (last resort at shutdown, so the events in memory can be written).
  void ReleaseReserve();

  SpoolStats Stats() const;
  void set_max_bytes(uint64_t max_bytes);
  uint64_t max_bytes() const;

 private:
  Spool(std::unique_ptr<SqliteDb> db, std::string path, uint64_t max_bytes, const Clock& clock)
      : db_(std::move(db)), path_(std::move(path)), max_bytes_(max_bytes), clock_(clock) {}
  Status Init();
  // Deletes acknowledged events still in the table (seq <= acked_through_) in the current
  // transaction.
  Status DeleteAckedLocked();
  Status PersistDroppedLocked();
  void EnsureReserveLocked();
  bool ReleaseReserveLocked();
  // Evicts until `incoming` more bytes fit; returns how many events were evicted.
  Result<uint64_t> MakeRoom(uint64_t incoming);
  Status Insert(const Event& e, const std::string& json);

  mutable std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;
  std::string path_;
  uint64_t max_bytes_;
  const Clock& clock_;
  uint64_t depth_ = 0;
  uint64_t bytes_ = 0;
  uint64_t dropped_ = 0;
  // Acknowledged up to here (in memory): never peeked again, deleted when a write succeeds.
  int64_t acked_through_ = 0;
  bool acked_pending_delete_ = false;
  // Counted by CountUnstored() but not yet stated by a stored spool_dropped event.
  uint64_t unreported_ = 0;
  uint64_t unstored_ = 0;
  std::string write_error_;
  bool reserve_present_ = false;
  bool reserve_attempted_ = false;
  std::chrono::steady_clock::time_point last_reserve_attempt_;
};

}  // namespace ward::agent::transport
