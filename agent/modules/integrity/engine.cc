#include "agent/modules/integrity/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <deque>
#include <set>

#include "agent/modules/integrity/compare.h"
#include "agent/modules/integrity/events.h"
#include "common/log.h"
#include "common/text.h"

namespace ward::agent::integrity {
namespace {

int64_t NowNs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock.Now().time_since_epoch())
      .count();
}

std::vector<std::string> RootPaths(const WatchedRoots& f) {
  std::vector<std::string> out;
  for (const auto& r : f.roots()) out.push_back(r.path);
  return out;
}

constexpr size_t kMaxPathsInEvent = 100;

// Calls fn(path, record) for every entry at or below `dir`. Entries are sorted byte-wise, so
// siblings such as "dir-old" or "dir.bak" sort between "dir" and "dir/...": they are skipped,
// not taken as the end of the subtree.
template <typename Fn>
void ForEachUnder(const RecordSet& records, const std::string& dir, Fn&& fn) {
  if (dir != "/") {
    if (auto it = records.find(dir); it != records.end()) fn(it->path, *it);
  }
  const std::string prefix = dir == "/" ? dir : dir + "/";
  for (auto it = records.lower_bound(std::string_view(prefix));
       it != records.end() && it->path.compare(0, prefix.size(), prefix) == 0; ++it) {
    fn(it->path, *it);
  }
}

void ErasePath(RecordSet& records, const std::string& path) {
  if (auto it = records.find(path); it != records.end()) records.erase(it);
}

template <typename Records>
std::vector<const FileRecord*> Pointers(const Records& records) {
  std::vector<const FileRecord*> out;
  out.reserve(records.size());
  for (const auto& r : records) out.push_back(&r);
  return out;
}

// Renames state.db and its -wal/-shm to state.db.unreadable-<time>[...]: a damaged database is
// kept for inspection, never deleted.
Status MoveDatabaseAside(FileSystem& fs, const Clock& clock,
                         const std::filesystem::path& state_dir) {
  std::string db = (state_dir / "state.db").string();
  std::string aside = fmt::format("{}.unreadable-{}", db, NowNs(clock));
  // Never over an earlier one (the clock may not have moved since: a fake one in tests).
  for (int n = 1; fs.Lstat(aside).has_value(); ++n) {
    aside = fmt::format("{}.unreadable-{}-{}", db, NowNs(clock), n);
  }
  for (std::string_view suffix : {"", "-wal", "-shm"}) {
    std::string from = db + std::string(suffix);
    Status s = fs.Rename(from, aside + std::string(suffix));
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s.WithContext("move aside");
  }
  spdlog::error("integrity: the damaged state database was moved to {}", aside);
  return Status::Ok();
}

std::string TimeText(int64_t ns) {
  if (ns <= 0) return "an unknown time";
  return FormatTimestampNs(ns);
}

constexpr int64_t kEvidenceRefreshNs = 600'000'000'000;  // copy refreshed at most every 10 min

// Moves the records of a scan (sorted by path) into `set`, freeing the scan's memory as it goes.
void MoveInto(std::deque<FileRecord>& scan, RecordSet& set) {
  for (; !scan.empty(); scan.pop_front()) set.emplace_hint(set.end(), std::move(scan.front()));
}

}  // namespace

Result<std::unique_ptr<IntegrityEngine>> IntegrityEngine::Open(
    IntegrityConfig config, FileSystem& fs, const Clock& clock,
    const std::filesystem::path& state_dir, ChangeLedger* ledger) {
  std::string failure;
  auto store = BaselineStore::Open(state_dir);
  if (!store && store.error().code() == StatusCode::kDataLoss) {
    // Not a database any more (overwritten, truncated header): kept aside, reported at the first
    // look, and a fresh one holds the baseline from then on.
    failure = fmt::format("the state database is unreadable ({})", store.error().message());
    WARD_RETURN_IF_ERROR(MoveDatabaseAside(fs, clock, state_dir));
    store = BaselineStore::Open(state_dir);
  }
  if (!store) return store.error();
  return std::unique_ptr<IntegrityEngine>(new IntegrityEngine(
      std::move(config), fs, clock, std::move(*store), ledger, state_dir, std::move(failure)));
}

IntegrityEngine::IntegrityEngine(IntegrityConfig config, FileSystem& fs, const Clock& clock,
                                 std::unique_ptr<BaselineStore> store, ChangeLedger* ledger,
                                 std::filesystem::path state_dir, std::string open_failure)
    : config_(std::move(config)),
      fs_(fs),
      clock_(clock),
      filter_(config_.paths),
      scanner_(fs_, filter_, config_.hash_threads),
      store_(std::move(store)),
      ledger_(ledger),
      state_dir_(std::move(state_dir)),
      open_failure_(std::move(open_failure)) {}

std::filesystem::path IntegrityEngine::AnchorPath(const std::filesystem::path& state_dir) {
  return state_dir / "keys" / "integrity.anchor";
}

std::filesystem::path IntegrityEngine::CopyPath(const std::filesystem::path& state_dir) {
  return state_dir / "integrity" / "baseline-copy.db";
}

Status IntegrityEngine::ReopenFreshStore() {
  store_.reset();  // closed before its files move (closing unlinks the -wal by name)
  WARD_RETURN_IF_ERROR(MoveDatabaseAside(fs_, clock_, state_dir_));
  WARD_ASSIGN_OR_RETURN(store_, BaselineStore::Open(state_dir_));
  return Status::Ok();
}

void IntegrityEngine::SaveEvidence() {
  if (!store_) return;
  auto sum = store_->Summary();
  if (!sum || !sum->exists) return;
  if (Status s = store_->SaveCopy(CopyPath(state_dir_)); !s.ok()) {
    spdlog::warn("integrity: baseline copy not saved: {}", s.ToString());
  }
  BaselineAnchor a;
  a.count = sum->count;
  a.aggregate_hex = sum->aggregate_hex;
  a.recorded_at_ns = sum->recorded_at_ns;
  a.roots = baseline_.roots.empty() ? RootPaths(filter_) : baseline_.roots;
  a.saved_at_ns = NowNs(clock_);
  if (health_.degraded) {
    a.incident = health_.reason;
    a.incident_at_ns =
        anchor_ && anchor_->incident_at_ns > 0 ? anchor_->incident_at_ns : a.saved_at_ns;
  }
  if (Status s = store_->WriteAnchor(AnchorPath(state_dir_), a); !s.ok()) {
    spdlog::warn("integrity: baseline anchor not written: {}", s.ToString());
    return;
  }
  anchor_ = std::move(a);
  evidence_saved_ns_ = NowNs(clock_);
}

Event IntegrityEngine::LostEvent(const std::string& reason, bool from_copy) const {
  std::string how;
  if (from_copy) {
    how = "changes are reported against the copy of the baseline kept outside the database";
  } else if (loaded_) {
    how = "monitoring goes on against the baseline held in memory, written to a fresh database";
  } else {
    how =
        "no readable copy: a new baseline is recorded from a fresh scan, and changes made "
        "before it cannot be reported";
  }
  Event e = StatusEvent(clock_, "baseline_lost", Severity::kCritical,
                        fmt::format("integrity baseline lost: {}; {}", reason, how));
  e.Set("integrity.baseline_source", from_copy ? "copy" : (loaded_ ? "memory" : "fresh_scan"));
  if (anchor_) {
    e.Set("integrity.anchor.count", anchor_->count);
    e.Set("integrity.anchor.recorded_at", TimeText(anchor_->recorded_at_ns));
    e.Set("integrity.anchor.saved_at", TimeText(anchor_->saved_at_ns));
    e.Set("integrity.anchor.digest", anchor_->aggregate_hex);
  }
  return e;
}

Status IntegrityEngine::LoadWithEvidence(EventSink& sink, bool update, bool* lost) {
  *lost = false;
  std::string reason = std::move(open_failure_);
  open_failure_.clear();
  auto loaded = store_->Load();
  if (!loaded) {
    if (loaded.error().code() != StatusCode::kDataLoss) return loaded.error();
    reason = fmt::format("the state database is unreadable ({})", loaded.error().message());
    if (update) WARD_RETURN_IF_ERROR(ReopenFreshStore());
    baseline_ = LoadedBaseline{};
  } else {
    baseline_ = std::move(*loaded);
  }
  std::string anchor_problem;
  auto anchor = store_->ReadAnchor(AnchorPath(state_dir_));
  if (anchor) {
    anchor_ = std::move(*anchor);
  } else {
    anchor_problem = anchor.error().message();
    spdlog::warn("integrity: baseline anchor: {}", anchor_problem);
  }
  if (anchor_ && !anchor_->incident.empty()) health_ = {true, anchor_->incident};
  std::error_code ec;
  const bool copy_exists = std::filesystem::exists(CopyPath(state_dir_), ec);
  if (!baseline_.exists && reason.empty()) {
    if (anchor_) {
      reason = fmt::format(
          "the state database holds no baseline, but one of {} entries was recorded at {} "
          "(deleted or truncated while the agent was stopped?)",
          anchor_->count, TimeText(anchor_->recorded_at_ns));
    } else if (copy_exists) {
      reason = "the state database holds no baseline, but a copy of one exists";
    } else if (!anchor_problem.empty()) {
      reason = fmt::format("the state database holds no baseline and {}", anchor_problem);
    }
  }
  if (reason.empty()) return Status::Ok();

  *lost = true;
  bool from_copy = false;
  if (copy_exists) {
    auto copy_store = BaselineStore::OpenFile(state_dir_, CopyPath(state_dir_));
    auto copy = copy_store ? (*copy_store)->Load() : Result<LoadedBaseline>(copy_store.error());
    if (copy && copy->exists) {
      baseline_ = std::move(*copy);
      from_copy = true;
    } else {
      spdlog::error("integrity: the baseline copy is not usable: {}",
                    copy ? "it holds no baseline" : copy.error().ToString());
    }
  }
  spdlog::error("integrity: baseline lost: {}", reason);
  health_ = {true, reason};
  sink.Emit(LostEvent(reason, from_copy));
  if (update && from_copy) {
    WARD_RETURN_IF_ERROR(
        store_->ReplaceRows(Pointers(baseline_.records), baseline_.roots, NowNs(clock_)));
  }
  return Status::Ok();
}

Status IntegrityEngine::OnStoreError(Status s, EventSink& sink) {
  if (s.ok() || s.code() != StatusCode::kDataLoss) return s;
  std::string reason =
      fmt::format("the state database became unreadable while monitoring ({})", s.message());
  spdlog::error("integrity: {}", reason);
  WARD_RETURN_IF_ERROR(ReopenFreshStore());
  WARD_RETURN_IF_ERROR(
      store_->ReplaceRows(Pointers(baseline_.records), baseline_.roots, NowNs(clock_)));
  health_ = {true, reason};
  sink.Emit(LostEvent(reason, false));
  SaveEvidence();
  return Status::Ok();
}

bool IntegrityEngine::Announced(const Change& c) const {
  if (ledger_ == nullptr) return false;
  auto consume = [&](const FileRecord* r, const std::string& path) {
    if (r == nullptr) return ledger_->Consume(path, false, FileType::kUnknown, nullptr, "", 0);
    return ledger_->Consume(path, true, r->type, r->has_sha256 ? &r->sha256 : nullptr, r->target,
                            r->mode, r->inode);
  };
  switch (c.kind) {
    case ChangeKind::kCreated:
    case ChangeKind::kModified:
      return consume(&*c.after, c.after->path);
    case ChangeKind::kDeleted:
      return consume(nullptr, c.before->path);
    case ChangeKind::kRenamed:
      // Both ends must have been announced (a temp file renamed into place).
      return consume(nullptr, c.before->path) && consume(&*c.after, c.after->path);
  }
  return false;
}

uint32_t IntegrityEngine::AttrsOf(const std::string& path) const {
  const WatchedPath* r = filter_.RootOf(path);
  return r ? r->attributes : kDefaultAttrs;
}

void IntegrityEngine::EmitWarnings(const std::vector<ScanWarning>& warnings, EventSink& sink) {
  for (const auto& w : warnings) {
    Event e = StatusEvent(clock_, "scan_warning", Severity::kLow, w.message);
    e.SetBytes("file.path", w.path);
    sink.Emit(std::move(e));
  }
}

Result<RunStats> IntegrityEngine::RecordBaseline(EventSink& sink) {
  WARD_ASSIGN_OR_RETURN(auto replacement, store_->BeginReplace());
  // Most rows are written while the scan still hashes its largest files.
  Status written;
  size_t records = 0;
  ScanOutput scan = scanner_.ScanAll([&](const std::vector<const FileRecord*>& settled) {
    records += settled.size();
    if (written.ok()) written = replacement->Add(settled);
  });
  EmitWarnings(scan.warnings, sink);
  WARD_RETURN_IF_ERROR(written);
  WARD_RETURN_IF_ERROR(replacement->Commit(RootPaths(filter_), NowNs(clock_)));
  // Not kept in memory: whatever looks next loads it back, verified, from the store.
  baseline_ = LoadedBaseline{};
  loaded_ = false;
  open_failure_.clear();
  health_ = {};  // re-recorded on purpose: a past loss is resolved
  SaveEvidence();
  RunStats stats;
  stats.records = records;
  stats.warnings = scan.warnings.size();
  stats.bytes_hashed = scan.bytes_hashed;
  return stats;
}

Status IntegrityEngine::LoadIfNeeded(EventSink& sink) {
  if (loaded_) return Status::Ok();
  bool lost = false;
  WARD_RETURN_IF_ERROR(LoadWithEvidence(sink, /*update=*/true, &lost));
  loaded_ = true;
  ReportTampering(baseline_, sink);
  return Status::Ok();
}

void IntegrityEngine::ReportTampering(const LoadedBaseline& baseline, EventSink& sink) {
  if (!baseline.tampered_rows.empty() || !baseline.set_intact) {
    std::string msg;
    if (!baseline.tampered_rows.empty()) {
      msg = fmt::format(
          "{} baseline row(s) fail verification with the agent key: the baseline "
          "database was edited; those entries are not trusted",
          baseline.tampered_rows.size());
    }
    if (!baseline.set_intact) {
      if (!msg.empty()) msg += "; ";
      msg +=
          "baseline rows were added or removed outside the agent (the authenticated summary "
          "does not match)";
    }
    spdlog::error("integrity: {}", msg);
    Event e = StatusEvent(clock_, "baseline_tampered", Severity::kCritical, msg);
    nlohmann::json paths = nlohmann::json::array();
    for (size_t i = 0; i < baseline.tampered_rows.size() && i < kMaxPathsInEvent; ++i) {
      paths.push_back(LossyUtf8(baseline.tampered_rows[i]));
    }
    e.Set("integrity.tampered_rows", paths);
    e.Set("integrity.tampered_row_count", baseline.tampered_rows.size());
    e.Set("integrity.set_intact", baseline.set_intact);
    sink.Emit(std::move(e));
  }
}

Result<RunStats> IntegrityEngine::FullCheck(EventSink& sink, std::string_view detected_by,
                                            bool update) {
  // A look that changes nothing (`check`) does not hold the baseline in memory next to the scan:
  // it streams the stored rows past the scan and keeps only those that may have changed.
  bool stream = !update && !loaded_;
  if (stream && !open_failure_.empty()) stream = false;
  if (stream) {
    // Streaming needs a baseline that is there; anything else goes through LoadWithEvidence.
    auto summary = store_->Summary();
    if (!summary || !summary->exists) stream = false;
  }
  bool lost = false;
  if (!stream && !loaded_) {
    WARD_RETURN_IF_ERROR(LoadWithEvidence(sink, update, &lost));
    loaded_ = true;
    ReportTampering(baseline_, sink);
  }
  RunStats stats;
  if (lost) ++stats.changes;  // `check` exits 1: the loss is itself a change
  ScanOutput scan = scanner_.ScanAll();
  EmitWarnings(scan.warnings, sink);
  stats.records = scan.records.size();
  stats.warnings = scan.warnings.size();
  stats.bytes_hashed = scan.bytes_hashed;

  LoadedBaseline streamed;                   // stream: the stored baseline, without its records
  std::deque<FileRecord> kept;               // stream: stored rows that may differ from the scan
  std::vector<const FileRecord*> differing;  // stream: scanned records that may differ
  if (stream) {
    const std::deque<FileRecord>& now = scan.records;
    size_t j = 0;
    auto merge = [&](FileRecord&& b) {
      for (; j < now.size() && now[j].path < b.path; ++j) differing.push_back(&now[j]);
      if (j < now.size() && now[j].path == b.path) {
        const FileRecord& a = now[j++];
        if (ChangedAttrs(b, a, AttrsOf(a.path)) == 0) return;  // as CompareRecords would find
        differing.push_back(&a);
      }
      kept.push_back(std::move(b));
    };
    WARD_ASSIGN_OR_RETURN(streamed, store_->Load(merge));
    for (; j < now.size(); ++j) differing.push_back(&now[j]);
    ReportTampering(streamed, sink);
  }
  const LoadedBaseline& base = stream ? streamed : baseline_;

  if (!base.exists) {
    if (!update) {
      return FailedPrecondition(
          "no baseline has been recorded yet: run `ward-agent integrity baseline` first");
    }
    WARD_RETURN_IF_ERROR(
        store_->ReplaceRows(Pointers(scan.records), RootPaths(filter_), NowNs(clock_)));
    baseline_.exists = true;
    baseline_.roots = RootPaths(filter_);
    baseline_.set_intact = true;
    baseline_.records.clear();
    MoveInto(scan.records, baseline_.records);
    sink.Emit(StatusEvent(
        clock_, "baseline_recorded", lost ? Severity::kHigh : Severity::kInfo,
        lost ? fmt::format("baseline recorded again from a fresh scan after it was lost: {} "
                           "entries",
                           stats.records)
             : fmt::format("first baseline recorded: {} entries", stats.records)));
    SaveEvidence();
    return stats;
  }

  // Roots that were never baselined are taken in silently (first look), not reported.
  std::set<std::string> known(base.roots.begin(), base.roots.end());
  std::vector<std::string> new_roots;
  for (const auto& r : filter_.roots()) {
    if (!known.count(r.path)) new_roots.push_back(r.path);
  }
  auto in_known_root = [&](const std::string& path) {
    const WatchedPath* root = filter_.RootOf(path);
    return root != nullptr && known.count(root->path) > 0;
  };

  // The same records go into the comparison either way: pairs left out of the stream compare
  // equal, and a path that was scanned is monitored.
  std::vector<const FileRecord*> before, after;
  std::vector<FileRecord> new_root_records;
  auto add_before = [&](const FileRecord& rec) {
    if (filter_.Monitored(rec.path) && in_known_root(rec.path)) before.push_back(&rec);
  };
  if (stream) {
    for (const auto& rec : kept) add_before(rec);
    for (const FileRecord* rec : differing) {
      if (in_known_root(rec->path)) after.push_back(rec);
    }
  } else {
    before.reserve(baseline_.records.size());
    after.reserve(scan.records.size());
    for (const auto& rec : baseline_.records) add_before(rec);
    for (auto& rec : scan.records) {
      if (in_known_root(rec.path)) {
        after.push_back(&rec);
      } else if (update) {
        new_root_records.push_back(std::move(rec));  // not pointed to by `after`
      }
    }
  }
  // Entries whose baseline row failed verification are reported with no trusted "before".
  std::set<std::string> untrusted(base.tampered_rows.begin(), base.tampered_rows.end());
  std::vector<Change> changes =
      CompareRecords(before, after, [&](const std::string& p) { return AttrsOf(p); });
  // The changes hold copies of what they need: the scan can go.
  std::vector<const FileRecord*>().swap(before);
  std::vector<const FileRecord*>().swap(after);
  std::vector<const FileRecord*>().swap(differing);
  std::deque<FileRecord>().swap(kept);
  std::deque<FileRecord>().swap(scan.records);
  for (auto& c : changes) {
    if (c.kind == ChangeKind::kCreated && untrusted.count(c.after->path)) {
      c.kind = ChangeKind::kModified;  // reported below as unverified
    }
  }
  std::vector<Change> reportable;
  for (auto& c : changes) {
    if (c.kind == ChangeKind::kModified && !c.before) {
      Event e = Event::Make(clock_, "integrity", "change", "unverified", Severity::kHigh);
      e.Set("event.category", "file");
      SetFileFields(e, *c.after, c.attrs);
      e.Set("integrity.detected_by", std::string(detected_by));
      e.Set("message",
            "the baseline entry for this path was tampered with; its previous state is "
            "unknown");
      sink.Emit(std::move(e));
      ++stats.changes;
      if (update) {
        Status applied = store_->Apply({*c.after}, {});
        Upsert(baseline_.records, *c.after);
        WARD_RETURN_IF_ERROR(OnStoreError(applied, sink));
      }
      continue;
    }
    reportable.push_back(std::move(c));
  }
  stats.changes += reportable.size();
  WARD_RETURN_IF_ERROR(Report(reportable, sink, detected_by, update));

  if (update && (!new_roots.empty() || !untrusted.empty() || !baseline_.set_intact)) {
    Status applied = store_->Apply(new_root_records, {}, new_roots);
    for (auto& r : new_root_records) Upsert(baseline_.records, std::move(r));
    for (const auto& nr : new_roots) baseline_.roots.push_back(nr);
    WARD_RETURN_IF_ERROR(OnStoreError(applied, sink));
    if (!new_roots.empty()) {
      Event e = StatusEvent(clock_, "baseline_recorded", Severity::kInfo,
                            fmt::format("baseline recorded for newly watched path(s): {} entries",
                                        new_root_records.size()));
      e.Set("integrity.roots", new_roots);
      sink.Emit(std::move(e));
    }
    if (!baseline_.set_intact) {
      // Re-seal: what was reported above is now the trusted state.
      WARD_RETURN_IF_ERROR(OnStoreError(
          store_->ReplaceRows(Pointers(baseline_.records), baseline_.roots, NowNs(clock_)), sink));
      baseline_.set_intact = true;
    }
    baseline_.tampered_rows.clear();
  } else if (!update && !new_roots.empty()) {
    Event e = StatusEvent(clock_, "not_baselined", Severity::kLow,
                          "these paths have no baseline yet; run `ward-agent integrity baseline` "
                          "or `ward-agent integrity accept PATH`");
    e.Set("integrity.roots", new_roots);
    sink.Emit(std::move(e));
  }
  if (update) SaveEvidence();
  return stats;
}

Status IntegrityEngine::Report(const std::vector<Change>& changes, EventSink& sink,
                               std::string_view detected_by, bool update) {
  std::vector<FileRecord> upserts;
  std::vector<std::string> deletes;
  for (const auto& c : changes) {
    if (update && Announced(c)) {
      // Another module made this change on purpose (autoheal restoring, a deploy): the baseline
      // follows it silently.
    } else {
      Event e = ChangeEvent(clock_, c, detected_by);
      if (ledger_ && ledger_->InMaintenance(c.after ? c.after->path : c.before->path)) {
        e.Set("integrity.maintenance", true);
      }
      sink.Emit(std::move(e));
    }
    if (!update) continue;
    if (c.before && (!c.after || c.before->path != c.after->path))
      deletes.push_back(c.before->path);
    if (c.after) upserts.push_back(*c.after);
  }
  if (!update || (upserts.empty() && deletes.empty())) return Status::Ok();
  Status applied = store_->Apply(upserts, deletes);
  // The events are out: memory moves forward either way, and is what a damaged store is
  // rebuilt from.
  for (const auto& d : deletes) ErasePath(baseline_.records, d);
  for (auto& u : upserts) Upsert(baseline_.records, std::move(u));
  return OnStoreError(applied, sink);
}

Result<RunStats> IntegrityEngine::Accept(const std::vector<std::string>& paths, EventSink& sink) {
  RunStats stats;
  if (paths.empty()) {
    WARD_ASSIGN_OR_RETURN(stats, RecordBaseline(sink));
    Event e = StatusEvent(clock_, "baseline_accepted", Severity::kLow,
                          fmt::format("current state of every watched path accepted into the "
                                      "baseline ({} entries)",
                                      stats.records));
    e.Set("integrity.roots", RootPaths(filter_));
    sink.Emit(std::move(e));
    return stats;
  }
  WARD_RETURN_IF_ERROR(LoadIfNeeded(sink));
  std::vector<std::string> normalized;
  for (const auto& p : paths) {
    if (p.empty() || p[0] != '/') {
      return InvalidArgument(fmt::format("{}: an absolute path is needed", p));
    }
    std::string n = NormalizeAbsolutePath(p);
    if (filter_.RootOf(n) == nullptr) {
      return InvalidArgument(fmt::format("{} is not under any watched path", p));
    }
    normalized.push_back(std::move(n));
  }
  std::vector<FileRecord> upserts;
  std::vector<std::string> deletes;
  for (const auto& p : normalized) {
    ScanOutput scan = scanner_.ScanPath(p, true);
    EmitWarnings(scan.warnings, sink);
    std::set<std::string> present;
    for (auto& r : scan.records) {
      present.insert(r.path);
      upserts.push_back(std::move(r));
    }
    ForEachUnder(baseline_.records, p, [&](const std::string& path, const FileRecord&) {
      if (!present.count(path)) deletes.push_back(path);
    });
  }
  Status applied = store_->Apply(upserts, deletes);
  stats.records = upserts.size();
  stats.changes = deletes.size();
  for (const auto& d : deletes) ErasePath(baseline_.records, d);
  for (auto& u : upserts) Upsert(baseline_.records, std::move(u));
  WARD_RETURN_IF_ERROR(OnStoreError(applied, sink));
  SaveEvidence();
  Event e = StatusEvent(clock_, "baseline_accepted", Severity::kLow,
                        fmt::format("current state accepted into the baseline: {} entries "
                                    "updated, {} removed",
                                    upserts.size(), deletes.size()));
  nlohmann::json jp = nlohmann::json::array();
  for (const auto& p : normalized) jp.push_back(LossyUtf8(p));
  e.Set("integrity.paths", jp);
  sink.Emit(std::move(e));
  return stats;
}

Result<RunStats> IntegrityEngine::ProcessPaths(
    const std::vector<std::pair<std::string, bool>>& paths, EventSink& sink,
    std::string_view detected_by) {
  WARD_CHECK(loaded_);
  RunStats stats;
  // Subtrees first, so paths they cover are skipped.
  std::vector<std::pair<std::string, bool>> work(paths);
  std::sort(work.begin(), work.end(), [](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second;
    return a.first < b.first;
  });
  std::vector<std::string> subtrees;
  std::map<std::string, FileRecord> after_map;
  std::map<std::string, const FileRecord*> before_map;
  auto covered = [&](const std::string& p) {
    for (const auto& s : subtrees) {
      if (watch::IsUnder(p, s)) return true;
    }
    return false;
  };
  for (auto [path, subtree] : work) {
    if (covered(path)) continue;
    if (!subtree) {
      // An entry that is (now) a directory it was not before: look at all of it.
      auto st = fs_.Lstat(path);
      auto it = baseline_.records.find(path);
      bool was_dir = it != baseline_.records.end() && it->type == FileType::kDirectory;
      bool is_dir = st && st->type == FileType::kDirectory;
      if (is_dir != was_dir) subtree = true;
    }
    ScanOutput scan = scanner_.ScanPath(path, subtree);
    EmitWarnings(scan.warnings, sink);
    stats.warnings += scan.warnings.size();
    for (auto& r : scan.records) {
      if (filter_.Monitored(r.path)) after_map[r.path] = std::move(r);
    }
    if (subtree) {
      subtrees.push_back(path);
      ForEachUnder(baseline_.records, path,
                   [&](const std::string& p, const FileRecord& r) { before_map[p] = &r; });
    } else if (auto it = baseline_.records.find(path); it != baseline_.records.end()) {
      before_map[path] = &*it;
    }
  }
  std::vector<const FileRecord*> before, after;
  for (const auto& [p, r] : before_map) before.push_back(r);
  for (const auto& [p, r] : after_map) after.push_back(&r);
  std::vector<Change> changes =
      CompareRecords(before, after, [&](const std::string& p) { return AttrsOf(p); });
  stats.changes = changes.size();
  stats.records = after.size();
  WARD_RETURN_IF_ERROR(Report(changes, sink, detected_by, true));
  if (!changes.empty() && NowNs(clock_) - evidence_saved_ns_ > kEvidenceRefreshNs) {
    SaveEvidence();
  }
  return stats;
}

}  // namespace ward::agent::integrity
