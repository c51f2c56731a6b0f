// Healer: keeps one autoheal root equal to a git commit.
//
// It is told which paths changed (by integrity monitoring's real-time events), and puts each back
// to the blob at the root's ref: content and executable bit, written atomically, the tampered
// version kept for forensics first. Files git does not know are quarantined, deleted or kept, as
// the policy says. While the root's lock file exists nothing is restored; when it goes away the
// root is reconciled with the ref. When the ref moves, the root follows the new commit (a
// deploy). Every change it makes is announced to the ChangeLedger first, so integrity monitoring
// takes it into its baseline instead of reporting it as tampering. Its own files (forensics,
// quarantine, status, under state_dir) are written through the FileSystem seam; when the tampered
// version cannot be kept (disk full), the path is not restored but refused with an event, so that
// nothing is lost, and healed on its next change or reconcile.
// Thread-safety: not thread-safe; the autoheal module drives each Healer from one thread.
#pragma once

#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "agent/core/change_ledger.h"
#include "agent/core/watch/path_filter.h"
#include "agent/modules/autoheal/config.h"
#include "agent/modules/autoheal/git_source.h"
#include "agent/modules/autoheal/safe_root.h"
#include "common/clock.h"
#include "common/event_sink.h"
#include "common/file_system.h"

namespace ward::agent::autoheal {

struct HealerStatus {
  std::string root;
  std::string repository;
  std::string ref;
  std::string commit;  // hex, empty until resolved
  bool locked = false;
  uint64_t restored = 0;
  int64_t last_restore_ns = 0;
  std::string last_restore_path;
  std::string error;
};

class Healer {
 public:
  // `filter` (integrity's) decides which paths are watched at all; may be null in tests.
  // `fs` writes the state directory's files.
  Healer(HealRoot root, const watch::PathFilter* filter, ChangeLedger* ledger, EventSink& sink,
         const Clock& clock, FileSystem& fs, std::filesystem::path state_dir,
         int persistent_threshold, std::chrono::milliseconds persistent_window);

  // Opens the repository, resolves the ref, looks at the lock file and — unless locked —
  // reconciles the root with the commit. A missing repository or ref is an error and an event.
  Status Start();
  // Looks at the lock file and the ref; handles their changes.
  void Poll();
  // A path under the root may have changed; heal it (no-op while locked).
  // `observed_ns`: when the change was reported (the change time of a deleted path); 0 = unknown.
  void OnChange(const std::string& abs_path, int64_t observed_ns = 0);
  // Writes the status file if restores happened since it was last written.
  void FlushStatus();
  // Compares the whole root with the commit and restores every difference.
  Status Reconcile();

  const HealerStatus& status() const { return status_; }
  const HealRoot& root() const { return root_; }

 private:
  enum class Why { kTamper, kDeploy, kReconcile };
  // Brings rel to `entry`. recurse: for a directory, also its contents.
  void Apply(const std::string& rel, const GitEntry& entry, Why why, bool recurse);
  void HandleUnexpected(const std::string& rel, const struct stat& st, Why why);
  // Keeps the current rel for forensics (copy for files and symlinks, move for directories).
  // Returns the forensics directory and the sha256 of a regular file's content; an error (and
  // rel untouched) when the record or a regular file's content could not be written.
  Result<std::string> KeepForensics(const std::string& rel, const struct stat& st, bool move,
                                    std::string* sha256_hex);
  // KeepForensics, or Refuse() and false (rel is left as it is).
  bool Keep(const std::string& rel, const struct stat& st, bool move, std::string* sha256_hex,
            std::string* forensics);
  // By value: callers pass commit_, which this overwrites.
  void Deploy(GitOid from, GitOid to);
  void SetLocked(bool locked);
  void Restored(const std::string& rel, std::string_view what, const std::string& before_sha,
                const std::string& after_sha, const std::string& forensics, int64_t change_ns,
                Why why);
  void Refuse(const std::string& rel, std::string_view why);
  Event MakeEvent(std::string_view action, std::string_view type, Severity sev);
  void SaveStatus();
  void OnChangeImpl(const std::string& abs_path);
  bool Excluded(const std::string& abs) const;
  int64_t NowNs() const;

  HealRoot root_;
  const watch::PathFilter* filter_;
  ChangeLedger* ledger_;
  EventSink& sink_;
  const Clock& clock_;
  FileSystem& fs_;
  std::filesystem::path state_dir_;
  int persistent_threshold_;
  std::chrono::milliseconds persistent_window_;
  SafeRoot safe_;
  std::unique_ptr<GitSource> git_;
  std::optional<GitOid> commit_;
  bool started_ = false;
  bool ref_error_reported_ = false;
  std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> recent_;
  HealerStatus status_;
  bool status_dirty_ = false;
  int64_t observed_ns_ = 0;
  // Counts during a deploy, for its summary event.
  size_t deploy_written_ = 0;
  size_t deploy_removed_ = 0;
};

// Loads every root's status from state_dir/autoheal/status.json (written by running agents).
Result<std::vector<HealerStatus>> LoadStatus(const std::filesystem::path& state_dir);

}  // namespace ward::agent::autoheal
