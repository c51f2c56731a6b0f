// IntegrityEngine: integrity monitoring's logic, shared by the `integrity` module (real-time and
// scheduled) and the `ward-agent integrity ...` commands.
//
// It holds the baseline in memory (loaded from BaselineStore and kept in step with it), compares
// fresh looks at the file system with it, emits one event per change, and — for the running
// agent — moves the baseline forward once a change has been reported, so each change is reported
// exactly once. `check` is read-only, like `aide --check`.
// Thread-safety: not thread-safe; one thread drives an engine.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/change_ledger.h"
#include "agent/modules/integrity/baseline_store.h"
#include "agent/modules/integrity/config.h"
#include "agent/modules/integrity/scanner.h"
#include "agent/modules/integrity/watched_roots.h"
#include "common/clock.h"
#include "common/event_sink.h"
#include "common/file_system.h"

namespace ward::agent::integrity {

// What the module's health report says (issue #13): degraded while a baseline that existed was
// lost or unreadable (database deleted, truncated, a corrupt page) and has not been re-recorded
// by `ward-agent integrity baseline` (or `accept` of every path) since.
struct IntegrityHealth {
  bool degraded = false;
  std::string reason;
};

struct RunStats {
  size_t changes = 0;
  size_t records = 0;
  size_t warnings = 0;
  uint64_t bytes_hashed = 0;
};

class IntegrityEngine {
 public:
  // `ledger` (may be null): changes other modules announced there are taken into the baseline
  // without an event, and changes under a root in maintenance are marked as such.
  static Result<std::unique_ptr<IntegrityEngine>> Open(IntegrityConfig config, FileSystem& fs,
                                                       const Clock& clock,
                                                       const std::filesystem::path& state_dir,
                                                       ChangeLedger* ledger = nullptr);

  // Records a fresh baseline of every root, replacing the old one atomically. It is not kept in
  // memory: the next look loads it from the store.
  Result<RunStats> RecordBaseline(EventSink& sink);

  // Compares every root with the stored baseline and emits one event per change.
  // `update`: move the baseline forward (the running agent) or not (the `check` command).
  // Roots never baselined are baselined silently when `update`, else reported as a warning.
  // Emits a critical event when the stored baseline fails verification.
  Result<RunStats> FullCheck(EventSink& sink, std::string_view detected_by, bool update);

  // Takes the current state of `paths` (all roots when empty) into the baseline.
  Result<RunStats> Accept(const std::vector<std::string>& paths, EventSink& sink);

  // Looks again at the given paths (true = whole subtree), compares with the in-memory baseline,
  // emits events and moves the baseline forward. REQUIRES: FullCheck(update=true) ran first.
  Result<RunStats> ProcessPaths(const std::vector<std::pair<std::string, bool>>& paths,
                                EventSink& sink, std::string_view detected_by);

  const WatchedRoots& filter() const { return filter_; }
  const IntegrityConfig& config() const { return config_; }
  IntegrityHealth health() const { return health_; }

  // Evidence kept outside state.db (see docs/integrity.md): the anchor and the baseline copy.
  static std::filesystem::path AnchorPath(const std::filesystem::path& state_dir);
  static std::filesystem::path CopyPath(const std::filesystem::path& state_dir);

 private:
  IntegrityEngine(IntegrityConfig config, FileSystem& fs, const Clock& clock,
                  std::unique_ptr<BaselineStore> store, ChangeLedger* ledger,
                  std::filesystem::path state_dir, std::string open_failure);
  // Loads the baseline; when state.db has lost one that the evidence shows existed (deleted,
  // truncated, unreadable), emits the critical `baseline_lost` event, marks the module degraded
  // and takes the copy as the baseline (written back into a fresh state.db when `update`).
  // Returns true (and sets *lost) when that happened.
  Status LoadWithEvidence(EventSink& sink, bool update, bool* lost);
  // A store write failed. A damaged database (DataLoss) is moved aside, a fresh one holds the
  // baseline in memory again, a critical `baseline_lost` event says so and monitoring goes on.
  Status OnStoreError(Status s, EventSink& sink);
  // Moves state.db (and its -wal/-shm) aside and opens a fresh one.
  Status ReopenFreshStore();
  // Writes the baseline copy and the anchor (best effort; logged).
  void SaveEvidence();
  Event LostEvent(const std::string& reason, bool from_copy) const;
  // True when the change is one another module announced (and so is not reported).
  bool Announced(const Change& c) const;
  uint32_t AttrsOf(const std::string& path) const;
  // Emits events for changes and, when update, writes them to store and memory.
  Status Report(const std::vector<Change>& changes, EventSink& sink, std::string_view detected_by,
                bool update);
  void EmitWarnings(const std::vector<ScanWarning>& warnings, EventSink& sink);
  Status LoadIfNeeded(EventSink& sink);
  // Emits the critical event for rows that fail verification, if any.
  void ReportTampering(const LoadedBaseline& baseline, EventSink& sink);

  IntegrityConfig config_;
  FileSystem& fs_;
  const Clock& clock_;
  WatchedRoots filter_;
  Scanner scanner_;
  std::unique_ptr<BaselineStore> store_;
  ChangeLedger* ledger_;
  bool loaded_ = false;
  LoadedBaseline baseline_;
  std::filesystem::path state_dir_;
  std::string open_failure_;  // why state.db had to be moved aside when opened; reported once
  std::optional<BaselineAnchor> anchor_;
  IntegrityHealth health_;
  int64_t evidence_saved_ns_ = 0;
};

}  // namespace ward::agent::integrity
